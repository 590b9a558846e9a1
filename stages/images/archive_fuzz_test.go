package images

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// FuzzOpenArchive opens arbitrary bytes as an archive: it must fail with an
// error or yield an index whose every name is clean (relative, no ..),
// whose directories list only names it holds, and whose files read back
// exactly their size — never a panic, never a member outside the tree.
func FuzzOpenArchive(f *testing.F) {
	dir := f.TempDir()
	for _, p := range []string{"cat/a.png", "dog/sub/b.png"} {
		if err := os.MkdirAll(filepath.Join(dir, "t", filepath.Dir(p)), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "t", p), []byte("png bytes of "+p), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, format := range []string{tinyset.Tar, tinyset.TarGz, tinyset.Zip} {
		b, err := tinyset.Pack(dir, "top", format, tinyset.Member{Name: "top/l", Link: "../x"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "a")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := OpenArchive(p, "a", tmp)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "archive a: ") {
				t.Fatalf("error does not name the archive: %v", err)
			}
			return
		}
		defer a.Close()
		for name, m := range a.files {
			if name == "" || name == "." || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || strings.Contains("/"+name+"/", "/../") {
				t.Fatalf("unclean member name %q", name)
			}
			if m.link != "" {
				if _, err := a.open(name); err == nil {
					t.Fatalf("link %q opened", name)
				}
				continue
			}
			r, err := a.open(name)
			if err != nil {
				continue // a zip member whose compressed data is damaged
			}
			n, _ := io.Copy(io.Discard, r)
			r.Close()
			if m.zf == nil && n != m.size {
				t.Fatalf("tar member %q read %d bytes, its header says %d", name, n, m.size)
			}
		}
		for d, es := range a.dirs {
			for _, e := range es {
				child := a.join(d, e.name)
				if _, f := a.files[child]; !f {
					if _, dd := a.dirs[child]; !dd {
						t.Fatalf("directory %q lists %q, which the index does not hold", d, e.name)
					}
				}
			}
		}
	})
}

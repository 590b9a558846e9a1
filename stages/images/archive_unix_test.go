//go:build unix

package images

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// Where the system allows it the decompressed copy of a tar.gz is unlinked
// as soon as it is created, so that not even a killed run leaves it behind:
// the temporary directory is empty while the archive is open and read.
// Close releases the descriptor of the copy, and a second Close is a no-op.
func TestArchiveCopyUnlinkedWhileOpen(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	gz, err := tinyset.Pack(archiveTree(t), "ds", tinyset.TarGz)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.tgz")
	writeFile(t, p, gz)
	tmp := t.TempDir()
	before := fds()
	a, err := OpenArchive(p, "a.tgz", tmp)
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Fatalf("the open archive's copy is in the temporary directory: %v", es)
	}
	if got := decodeAll(t, Source{Folder: "ds/top", Archive: a}); len(got) != 5 {
		t.Fatalf("%d files", len(got))
	}
	if got := fds(); got != before+1 {
		t.Fatalf("%d descriptors while open, want %d", got, before+1)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fds(); got != before {
		t.Fatalf("%d descriptors after Close, want the %d before", got, before)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

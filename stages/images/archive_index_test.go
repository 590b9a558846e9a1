package images

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// Files counts the regular files of an archive, in every format; links,
// which listings refuse, are not among them.
func TestArchiveFilesCountsRegularFiles(t *testing.T) {
	dir := archiveTree(t) // 5 images, notes.txt, .hidden.png, list.csv
	for _, format := range []string{tinyset.Tar, tinyset.TarGz, tinyset.Zip} {
		data, err := tinyset.Pack(dir, "ds", format, tinyset.Member{Name: "ds/top/cat/l.png", Link: "a.png"})
		if err != nil {
			t.Fatal(err)
		}
		a, err := openPacked(t, data, "ds."+format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if n := a.Files(); n != 8 {
			t.Errorf("%s: Files() = %d, want the 8 regular files", format, n)
		}
	}
}

// tarOf writes a tar of members in order: a body makes a regular file, a
// symlink or hardlink target a link. end false leaves out the two
// end-of-archive blocks.
func tarOf(t *testing.T, end bool, members ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range members {
		body := make([]byte, h.Size)
		for i := range body {
			body[i] = byte(i)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if end {
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// Links are indexed (and refused only when a listing reaches them) without
// ending the index: the members after a symbolic and a hard link are there.
func TestArchiveIndexGoesOnAfterLinks(t *testing.T) {
	data := tarOf(t, true,
		tar.Header{Name: "other/soft", Typeflag: tar.TypeSymlink, Linkname: "x", Mode: 0o777},
		tar.Header{Name: "other/hard", Typeflag: tar.TypeLink, Linkname: "other/a", Mode: 0o644},
		tar.Header{Name: "other/a", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644},
		tar.Header{Name: "other/b", Typeflag: tar.TypeReg, Size: 5, Mode: 0o644},
	)
	a, err := openPacked(t, data, "links.tar")
	if err != nil {
		t.Fatal(err)
	}
	if n := a.Files(); n != 2 {
		t.Fatalf("Files() = %d, want the 2 regular files after the links", n)
	}
	for _, tc := range []struct{ name, want string }{
		{"other/soft", "is a symbolic link inside the archive"},
		{"other/hard", "is a hard link inside the archive"},
	} {
		if _, err := a.stat(tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stat(%s): err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A tar cut inside a member's data is refused at open with the member, its
// size and offset, and the archive's size; one cut right after a member's
// padded data (its end-of-archive blocks lost) is refused as truncated, for
// a member of several blocks too.
func TestArchiveTarCutShort(t *testing.T) {
	whole := tarOf(t, false, tar.Header{Name: "d/big", Typeflag: tar.TypeReg, Size: 2000, Mode: 0o644})
	if len(whole) != 512+2048 {
		t.Fatalf("a 2000-byte member takes %d bytes, want 512 + 2048", len(whole))
	}
	_, err := openPacked(t, whole[:512+1500], "cut.tar")
	if want := "archive cut.tar: tar: member d/big is cut short: its 2000 bytes at offset 512 end past the archive's 2012 (a truncated archive)"; err == nil || err.Error() != want {
		t.Errorf("cut in the data: err = %v, want %q", err, want)
	}
	_, err = openPacked(t, whole, "noend.tar")
	if want := "archive noend.tar: tar: the archive ends at byte 2560 without its end-of-archive blocks (a truncated archive)"; err == nil || err.Error() != want {
		t.Errorf("cut after the data: err = %v, want %q", err, want)
	}
	ok := tarOf(t, true, tar.Header{Name: "d/big", Typeflag: tar.TypeReg, Size: 2000, Mode: 0o644})
	if _, err := openPacked(t, ok, "ok.tar"); err != nil {
		t.Errorf("the whole archive: %v", err)
	}
}

package images

import (
	"bytes"
	"compress/gzip"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// archiveTree writes a small class tree (with a nested folder, a hidden
// file and a non-image) under dir/top and returns dir.
func archiveTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i, p := range []string{"cat/a.png", "cat/deep/b.png", "dog/c.png", "dog/d.png", "bird/e.png"} {
		img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*40 + j)
		}
		img.Set(0, 0, color.NRGBA{200, 10, 10, 128}) // some alpha to composite
		writeFile(t, filepath.Join(dir, "top", filepath.FromSlash(p)), pngBytes(t, img))
	}
	writeFile(t, filepath.Join(dir, "top", "cat", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(dir, "top", "dog", ".hidden.png"), []byte("ignored"))
	writeFile(t, filepath.Join(dir, "list.csv"), []byte("path,label\ndog/c.png,dog\ncat/a.png,cat\n"))
	return dir
}

func openPacked(t *testing.T, data []byte, name string) (*Archive, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.bin")
	writeFile(t, p, data)
	a, err := OpenArchive(p, name, t.TempDir())
	if err == nil {
		t.Cleanup(func() { a.Close() })
	}
	return a, err
}

// decodeAll lists src and decodes every entry, as "rel=class:pixels".
func decodeAll(t *testing.T, src Source) []string {
	t.Helper()
	_, ls, err := List(nil, src)
	if err != nil {
		t.Fatal(err)
	}
	cv := &Converter{Height: 2, Width: 3, Channels: 3, Resize: Fit}
	var out []string
	for i, e := range ls[0].Entries {
		dst := make([]uint8, cv.Elems())
		if err := ls[0].Decode(cv, i, dst); err != nil {
			t.Fatalf("%s: %v", ls[0].Path(i), err)
		}
		out = append(out, e.Rel+"="+string('0'+rune(e.Class))+":"+string(dst))
	}
	return out
}

// An archived tree is listed and decoded exactly as the same tree on disk:
// same entries, same order, same classes, same pixels — in every format.
func TestArchiveListsAsDirectory(t *testing.T) {
	dir := archiveTree(t)
	want := decodeAll(t, Source{Folder: filepath.Join(dir, "top")})
	if len(want) != 5 {
		t.Fatalf("the tree on disk lists %d files, want 5", len(want))
	}
	for _, format := range []string{tinyset.Tar, tinyset.TarGz, tinyset.Zip} {
		data, err := tinyset.Pack(dir, "ds", format)
		if err != nil {
			t.Fatal(err)
		}
		a, err := openPacked(t, data, "ds."+format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		got := decodeAll(t, Source{Folder: "ds/top", Archive: a})
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: the archive lists or decodes differently from the directory:\n%q\nwant\n%q", format, got, want)
		}
		_, ls, err := List([]string{"cat", "dog"}, Source{CSV: "ds/list.csv", Root: "ds/top", Archive: a})
		if err != nil {
			t.Fatalf("%s: csv in the archive: %v", format, err)
		}
		if len(ls[0].Entries) != 2 || ls[0].Entries[0].Rel != "cat/a.png" || ls[0].Path(0) != "ds."+format+":ds/top/cat/a.png" {
			t.Fatalf("%s: csv listing %+v, path %q", format, ls[0].Entries, ls[0].Path(0))
		}
	}
}

// A tar with implicit directories (no directory members) and "./" names,
// as `tar -C dir .` writes them, lists the same.
func TestArchiveImplicitDirsAndDotNames(t *testing.T) {
	dir := archiveTree(t)
	var extra []tinyset.Member
	for _, p := range []string{"cat/a.png", "dog/c.png"} {
		b, err := os.ReadFile(filepath.Join(dir, "top", filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, tinyset.Member{Name: "./x/" + p, Body: b})
	}
	empty := t.TempDir()
	data, err := tinyset.Pack(empty, "", tinyset.Tar, extra...)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openPacked(t, data, "x.tar")
	if err != nil {
		t.Fatal(err)
	}
	classes, ls, err := List(nil, Source{Folder: "x", Archive: a})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(classes, ",") != "cat,dog" || len(ls[0].Entries) != 2 || ls[0].Entries[1].Rel != "dog/c.png" {
		t.Fatalf("classes %v entries %+v", classes, ls[0].Entries)
	}
}

func TestArchiveErrors(t *testing.T) {
	dir := archiveTree(t)
	png := pngBytes(t, gray(2, 2, 1))
	cases := []struct {
		name   string
		format string
		extra  []tinyset.Member
		folder string
		want   string // in the error of OpenArchive, else of List
	}{
		{"dot-dot member", tinyset.Tar, []tinyset.Member{{Name: "ds/top/cat/../../../evil.png", Body: png}}, "ds/top", `member "ds/top/cat/../../../evil.png" has a .. component`},
		{"dot-dot member in a zip", tinyset.Zip, []tinyset.Member{{Name: "../evil.png", Body: png}}, "ds/top", `member "../evil.png" has a .. component`},
		{"absolute member", tinyset.TarGz, []tinyset.Member{{Name: "/etc/evil.png", Body: png}}, "ds/top", `member "/etc/evil.png" is absolute`},
		{"backslash member", tinyset.Zip, []tinyset.Member{{Name: `ds\top\cat\x.png`, Body: png}}, "ds/top", "holds a backslash"},
		{"member twice", tinyset.Tar, []tinyset.Member{{Name: "ds/top/cat/a.png", Body: png}}, "ds/top", "member ds/top/cat/a.png appears twice"},
		{"file and directory", tinyset.Tar, []tinyset.Member{{Name: "ds/top/cat", Body: png}}, "ds/top", "member ds/top/cat is both a directory and a file"},
		{"missing member directory", tinyset.Tar, nil, "ds/training", `imagefolder ds.tar:ds/training: no such directory in archive ds.tar (at its top: ["ds/"])`},
		{"link in a class folder", tinyset.Tar, []tinyset.Member{{Name: "ds/top/cat/l.png", Link: "/etc/passwd"}}, "ds/top", "ds.tar:ds/top/cat/l.png: is a symbolic link inside the archive; links in archives are not followed"},
		{"link in a zip", tinyset.Zip, []tinyset.Member{{Name: "ds/top/dog/l.png", Link: "../../x"}}, "ds/top", "is a symbolic link inside the archive"},
		{"empty class folder", tinyset.Zip, []tinyset.Member{{Name: "ds/top/fish/", Dir: true}}, "ds/top", "class folder ds.zip:ds/top/fish holds no image file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := tinyset.Pack(dir, "ds", c.format, c.extra...)
			if err != nil {
				t.Fatal(err)
			}
			a, err := openPacked(t, data, "ds."+strings.SplitN(c.format, ".", 2)[0])
			if err == nil {
				_, _, err = List(nil, Source{Folder: c.folder, Archive: a})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestArchiveDamaged(t *testing.T) {
	dir := archiveTree(t)
	gz, err := tinyset.Pack(dir, "ds", tinyset.TarGz)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tinyset.Pack(dir, "ds", tinyset.Tar)
	if err != nil {
		t.Fatal(err)
	}
	zp, err := tinyset.Pack(dir, "ds", tinyset.Zip)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(gz)
	flipped[len(flipped)/2] ^= 0xff
	var gzOfText bytes.Buffer
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated tar.gz", gz[:len(gz)/2], "archive a: gzip: unexpected EOF (a damaged or truncated file)"},
		{"flipped byte in a tar.gz", flipped, "archive a: gzip:"},
		{"truncated tar", tr[:len(tr)/2+100], "archive a: tar:"},
		{"tar cut at a member boundary", tr[:len(tr)-1024], "archive a: tar: the archive ends at byte"},
		{"truncated zip", zp[:len(zp)-30], "archive a: zip:"},
		{"not an archive", []byte("hello, this is plain text and no archive at all"), "archive a: not a tar, tar.gz or zip archive (its first bytes are 68 65 6c"},
		{"gzip of no tar", gzipped(t, &gzOfText, []byte(strings.Repeat("plain text ", 100))), "gzip-compressed, but what it holds is not a tar archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := openPacked(t, c.data, "a")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// The gzip-compressed tar's decompressed copy is gone once the archive is
// open (unlinked) or closed: nothing is left in the temporary directory.
func TestArchiveLeavesNoCopy(t *testing.T) {
	dir := archiveTree(t)
	gz, err := tinyset.Pack(dir, "ds", tinyset.TarGz)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.tgz")
	writeFile(t, p, gz)
	tmp := t.TempDir()
	a, err := OpenArchive(p, "a.tgz", tmp)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeAll(t, Source{Folder: "ds/top", Archive: a}); len(got) != 5 {
		t.Fatalf("%d files", len(got))
	}
	a.Close()
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Fatalf("left in the temporary directory: %v", es)
	}
}

func gzipped(t *testing.T, buf *bytes.Buffer, data []byte) []byte {
	t.Helper()
	zw := gzip.NewWriter(buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

package images

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// One Reader decoding a whole listing — its buffer reused from file to
// file, files of a folder opened relative to the folder — gives every
// file's pixels exactly as DecodeFile gives them: files of very different
// sizes in any order (a small file read after a large one must not see the
// large one's bytes), folders left and entered again, nested folders, a
// folder reached through a symbolic link, a PNG file with bytes after its
// IEND chunk, and a JPEG file (not a PNG: read to its end).
func TestReaderDecodesEveryFileAsDecodeFile(t *testing.T) {
	root := t.TempDir()
	img := func(w, h, seed int) image.Image {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(i*seed + i/7)
		}
		return m
	}
	files := map[string][]byte{
		"a/00-large.png":       pngBytes(t, img(300, 200, 3)),
		"a/01-tiny.png":        pngBytes(t, img(2, 3, 5)),
		"a/02-medium.png":      pngBytes(t, img(60, 40, 7)),
		"a/03-trailing.png":    append(pngBytes(t, img(20, 20, 11)), "data after IEND"...),
		"a/04-tiny.png":        pngBytes(t, img(1, 1, 13)),
		"a/sub/05-deep.png":    pngBytes(t, img(30, 10, 17)),
		"a/sub/06-deep.png":    pngBytes(t, img(10, 30, 19)),
		"a/07-after-sub.png":   pngBytes(t, img(5, 5, 23)),
		"b/08-large.png":       pngBytes(t, img(200, 300, 29)),
		"b/09-tiny.png":        pngBytes(t, img(3, 2, 31)),
		"b/10-jpeg.jpg":        jpegBytes(t, img(40, 40, 37)),
		"linked/x/11-link.png": pngBytes(t, img(8, 9, 41)),
		"linked/x/12-link.png": pngBytes(t, img(9, 8, 43)),
	}
	for rel, b := range files {
		writeFile(t, filepath.Join(root, "store", rel), b)
	}
	tree := filepath.Join(root, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b"} {
		if err := os.Rename(filepath.Join(root, "store", c), filepath.Join(tree, c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "store", "linked"), filepath.Join(tree, "c")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	_, ls, err := List(nil, Source{Folder: tree})
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	if len(l.Entries) != len(files) {
		t.Fatalf("listed %d files, wrote %d", len(l.Entries), len(files))
	}
	cv := &Converter{Height: 12, Width: 16, Channels: 3, Resize: Fit}
	want := make([][]uint8, len(l.Entries))
	for i := range l.Entries {
		want[i] = make([]uint8, cv.Elems())
		if err := cv.DecodeFile(l.Path(i), want[i]); err != nil {
			t.Fatalf("%s: %v", l.Path(i), err)
		}
	}
	// In listing order, backwards, and leaving a folder and coming back.
	orders := [][]int{{}, {}, {0, 8, 1, 9, 2, 5, 3, 6, 4, 11, 7, 12, 10, 0, 1}}
	for i := range l.Entries {
		orders[0] = append(orders[0], i)
		orders[1] = append(orders[1], len(l.Entries)-1-i)
	}
	for k, order := range orders {
		r := l.NewReader()
		for _, i := range order {
			got := make([]uint8, cv.Elems())
			for j := range got {
				got[j] = 0xa5 // what a decode that skips a byte would leave
			}
			if err := r.Decode(cv, i, got); err != nil {
				t.Fatalf("order %d: %s: %v", k, l.Entries[i].Rel, err)
			}
			if !bytes.Equal(got, want[i]) {
				t.Fatalf("order %d: %s: the Reader's pixels differ from DecodeFile's", k, l.Entries[i].Rel)
			}
		}
		r.Close()
	}
}

func jpegBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A Reader fails as opening and reading the file with package os would,
// also for files of a folder it already holds open: a file removed after
// the folder was opened, a directory, a file of a folder removed (and one
// of a folder made again since) — and it goes on decoding after an error.
func TestReaderErrorsAsOS(t *testing.T) {
	root := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 2, 2))
	g.Pix[0] = 200
	for _, rel := range []string{"c/a.png", "c/b.png", "c/d.png", "e/f.png", "e/g.png"} {
		writeFile(t, filepath.Join(root, rel), pngBytes(t, g))
	}
	if err := os.Mkdir(filepath.Join(root, "c", "dir.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &Listing{Root: root, dir: root, Entries: []Entry{{Rel: "c/a.png"}, {Rel: "c/b.png"}, {Rel: "c/missing.png"},
		{Rel: "c/dir.png"}, {Rel: "c/d.png"}, {Rel: "e/f.png"}, {Rel: "e/g.png"}}}
	cv := &Converter{Height: 2, Width: 2, Channels: 1}
	r := l.NewReader()
	defer r.Close()
	decode := func(i int) error {
		dst := make([]uint8, cv.Elems())
		err := r.Decode(cv, i, dst)
		if err == nil && dst[0] != 200 {
			t.Fatalf("%s: decoded %v", l.Entries[i].Rel, dst)
		}
		return err
	}
	osErr := func(i int) error {
		f, err := os.Open(l.Path(i))
		if err != nil {
			return errors.Unwrap(err)
		}
		defer f.Close()
		_, err = io.ReadAll(f)
		return err
	}
	same := func(step string, i int) {
		t.Helper()
		got, want := decode(i), osErr(i)
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			t.Errorf("%s: %s: Reader: %v, package os: %v", step, l.Entries[i].Rel, got, want)
		}
	}
	same("first", 0)
	same("second (the folder opened)", 1)
	if err := os.Remove(filepath.Join(root, "c", "b.png")); err != nil {
		t.Fatal(err)
	}
	same("removed", 1)
	same("never there", 2)
	same("a directory", 3)
	same("after errors", 4)
	same("next folder", 5)
	same("its second file", 6)
	// The folder the Reader holds is replaced by another of the same name:
	// the file is opened in the folder the path names now.
	if err := os.RemoveAll(filepath.Join(root, "e")); err != nil {
		t.Fatal(err)
	}
	same("folder removed", 6)
	writeFile(t, filepath.Join(root, "e", "g.png"), pngBytes(t, g))
	same("folder made again", 6)
}

// readUpTo with pngWhole stops after a short read that returned a PNG file
// whole up to its IEND chunk, without the read that gives end of file; a
// file with more after IEND, any other file, and a PNG file cut short are
// read to their end.
func TestReadUpToStopsAtAWholePNG(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 4, 3))
	p := pngBytes(t, g)
	for _, c := range []struct {
		name  string
		data  []byte
		reads int // reads readUpTo makes with a 64 KiB buffer
	}{
		{"whole PNG", p, 1},
		{"PNG and more", append(bytes.Clone(p), 0), 2},
		{"PNG cut short", p[:len(p)-1], 2},
		{"not a PNG", []byte("GIF89a......"), 2},
		{"empty", nil, 1},
	} {
		cr := &countingReader{r: bytes.NewReader(c.data)}
		got, err := readUpTo(make([]byte, 0, 64<<10), cr, 1<<20, pngWhole)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("%s: read %d bytes of %d, err %v", c.name, len(got), len(c.data), err)
		}
		if cr.reads != c.reads {
			t.Errorf("%s: %d reads, want %d", c.name, cr.reads, c.reads)
		}
	}
	// A reader whose reads fill the space offered is read on: a full read
	// says nothing about the end of the file.
	cr := &countingReader{r: bytes.NewReader(p)}
	got, err := readUpTo(make([]byte, 0, len(p)), cr, 1<<20, pngWhole)
	if err != nil || !bytes.Equal(got, p) || cr.reads < 2 {
		t.Errorf("buffer just fits: %d bytes, %d reads, err %v", len(got), cr.reads, err)
	}
}

type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(b []byte) (int, error) {
	c.reads++
	return c.r.Read(b)
}

// pngWhole accepts exactly a PNG signature followed by whole chunks up to
// and including the first IEND: no proper prefix of a file, nothing after
// its IEND, no IEND found inside another chunk's data, no other format.
func TestPNGWhole(t *testing.T) {
	p := pngBytes(t, image.NewGray(image.Rect(0, 0, 5, 5)))
	if !pngWhole(p) {
		t.Fatal("a whole PNG file is not whole")
	}
	for n := range len(p) {
		if pngWhole(p[:n]) {
			t.Fatalf("the first %d of %d bytes are taken for the whole file", n, len(p))
		}
	}
	if pngWhole(append(bytes.Clone(p), 0)) {
		t.Fatal("a byte after IEND is taken for the end")
	}
	// An ancillary chunk whose data holds an IEND chunk's bytes: the file
	// goes on past them.
	iend := p[len(p)-12:]
	chunk := append([]byte{0, 0, 0, byte(len(iend)), 't', 'E', 'X', 't'}, iend...)
	chunk = append(chunk, 0, 0, 0, 0)
	withText := append(append(bytes.Clone(p[:33]), chunk...), p[33:]...) // after IHDR
	if !pngWhole(withText) {
		t.Fatal("a PNG with an ancillary chunk is not whole")
	}
	if pngWhole(withText[:33+len(chunk)-4]) {
		t.Fatal("IEND bytes inside a chunk's data taken for the end")
	}
	var j bytes.Buffer
	if err := jpeg.Encode(&j, image.NewGray(image.Rect(0, 0, 5, 5)), nil); err != nil {
		t.Fatal(err)
	}
	if pngWhole(j.Bytes()) {
		t.Fatal("a JPEG file taken for a whole PNG")
	}
	// A chunk length past 2³¹−1 is no length a decoder reads.
	huge := append(bytes.Clone(p[:8]), 0x80, 0, 0, 0, 'I', 'E', 'N', 'D')
	if pngWhole(huge) {
		t.Fatal("a chunk length past 2³¹−1 accepted")
	}
}

// A gray image of the configured size is copied as it is: in one piece
// when its rows lie back to back, row by row when it is a window of a
// larger image (its rows apart, its first pixel not the buffer's first).
func TestConvertGrayOfTheConfiguredSize(t *testing.T) {
	big := image.NewGray(image.Rect(0, 0, 9, 7))
	for i := range big.Pix {
		big.Pix[i] = uint8(i*37 + 1)
	}
	window := big.SubImage(image.Rect(2, 1, 7, 5)).(*image.Gray)
	whole := image.NewGray(image.Rect(0, 0, 5, 4))
	for y := range 4 {
		for x := range 5 {
			whole.SetGray(x, y, window.GrayAt(2+x, 1+y))
		}
	}
	c := &Converter{Height: 4, Width: 5, Channels: 1}
	for name, img := range map[string]*image.Gray{"window": window, "whole": whole} {
		dst := make([]uint8, c.Elems())
		c.convert(img, dst)
		b := img.Bounds()
		for y := range 4 {
			for x := range 5 {
				if got, want := dst[y*5+x], img.GrayAt(b.Min.X+x, b.Min.Y+y).Y; got != want {
					t.Fatalf("%s: pixel (%d,%d) = %d, want %d", name, x, y, got, want)
				}
			}
		}
	}
}

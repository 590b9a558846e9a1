package images

import (
	"bytes"
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"testing"
)

// readUpTo's limit is inclusive: a file of exactly the limit is read whole,
// one byte more is too large.
func TestReadUpToTheLimit(t *testing.T) {
	for _, size := range []int{100, 4097} {
		if b, err := readUpTo(nil, bytes.NewReader(make([]byte, size)), size, nil); err != nil || len(b) != size {
			t.Fatalf("%d bytes at a limit of %d: %d bytes, err = %v", size, size, len(b), err)
		}
		if _, err := readUpTo(nil, bytes.NewReader(make([]byte, size+1)), size, nil); err != errTooLarge {
			t.Fatalf("%d bytes at a limit of %d: err = %v", size+1, size, err)
		}
	}
}

// writeListCSV writes list.csv naming one file per label, and the files
// (listing checks that they exist; nothing here decodes them).
func writeListCSV(t *testing.T, dir string, labels []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("path,label\n")
	for i, l := range labels {
		fmt.Fprintf(&b, "f%d.png,%s\n", i, l)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.png", i)), []byte("x"))
	}
	writeFile(t, filepath.Join(dir, "list.csv"), []byte(b.String()))
}

// Classes taken from a CSV's labels: 256 fit a uint8 label, 257 are refused.
func TestCSVClassCountLimit(t *testing.T) {
	for _, n := range []int{256, 257} {
		dir := t.TempDir()
		labels := make([]string, n)
		for i := range labels {
			labels[i] = fmt.Sprintf("c%03d", i)
		}
		writeListCSV(t, dir, labels)
		classes, _, err := List(nil, Source{CSV: filepath.Join(dir, "list.csv"), Root: dir})
		switch {
		case n <= 256 && (err != nil || len(classes) != n):
			t.Fatalf("%d classes: %d, err = %v", n, len(classes), err)
		case n > 256 && (err == nil || !strings.Contains(err.Error(), "257 classes, at most 256 fit a uint8 label")):
			t.Fatalf("%d classes: err = %v", n, err)
		}
	}
}

// With explicit classes a CSV label may be a class id, 0 to len−1; one
// equal to the class count is refused, and the error lists at most twelve
// classes.
func TestCSVNumericLabels(t *testing.T) {
	dir := t.TempDir()
	writeListCSV(t, dir, []string{"0", "2", "b"})
	_, ls, err := List([]string{"a", "b", "c"}, Source{CSV: filepath.Join(dir, "list.csv"), Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ls[0].Entries {
		got = append(got, fmt.Sprintf("%s=%d", e.Rel, e.Class))
	}
	if strings.Join(got, " ") != "f0.png=0 f2.png=1 f1.png=2" {
		t.Fatalf("entries %v", got)
	}
	writeListCSV(t, dir, []string{"3"})
	if _, _, err := List([]string{"a", "b", "c"}, Source{CSV: filepath.Join(dir, "list.csv"), Root: dir}); err == nil || !strings.Contains(err.Error(), `label "3" is not a class (the classes are ["a" "b" "c"])`) {
		t.Fatalf("label 3 of 3 classes: err = %v", err)
	}
	writeListCSV(t, dir, []string{"zz"})
	twelve := strings.Split("a b c d e f g h i j k l", " ")
	if _, _, err := List(twelve, Source{CSV: filepath.Join(dir, "list.csv"), Root: dir}); err == nil || !strings.Contains(err.Error(), `(the classes are ["a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l"])`) {
		t.Fatalf("twelve classes: err = %v", err)
	}
	if _, _, err := List(append(twelve, "m"), Source{CSV: filepath.Join(dir, "list.csv"), Root: dir}); err == nil || !strings.Contains(err.Error(), `"l"] … (13 in all))`) {
		t.Fatalf("thirteen classes: err = %v", err)
	}
}

// Fit scales by the smaller of the two ratios: a tall white image (2×8)
// fitted to 4×4 becomes a one-pixel-wide white column, centred on black.
func TestFitTallImage(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 2, 8))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	c := &Converter{Height: 4, Width: 4, Channels: 1, Resize: Fit}
	dst := make([]uint8, c.Elems())
	if err := c.Decode(bytes.NewReader(pngBytes(t, img)), dst); err != nil {
		t.Fatal(err)
	}
	for y := range 4 {
		white, black := 0, 0
		for _, v := range dst[4*y : 4*y+4] {
			switch v {
			case 255:
				white++
			case 0:
				black++
			}
		}
		if white != 1 || black != 3 || dst[4*y+2] != 255 {
			t.Fatalf("row %d = %v, want one white pixel (column 2, imaging's centring) among black", y, dst[4*y:4*y+4])
		}
	}
}

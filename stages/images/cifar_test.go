package images

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// cifarRecord is a record whose pixel (y, x) has R = label+y, G = x,
// B = 7·y+x (all mod 256).
func cifarRecord(label uint8) []byte {
	rec := make([]byte, CIFARRecord)
	rec[0] = label
	for y := range CIFARSide {
		for x := range CIFARSide {
			p := y*CIFARSide + x
			rec[1+p] = label + uint8(y)
			rec[1+1024+p] = uint8(x)
			rec[1+2048+p] = uint8(7*y + x)
		}
	}
	return rec
}

func writeCIFAR(t *testing.T, path string, labels ...uint8) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range labels {
		b.Write(cifarRecord(l))
	}
	writeFile(t, path, b.Bytes())
}

var tenClasses = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

func TestCIFARListAndDecode(t *testing.T) {
	root := t.TempDir()
	writeCIFAR(t, filepath.Join(root, "data_batch_1.bin"), 3, 9, 0)
	writeCIFAR(t, filepath.Join(root, "data_batch_2.bin"), 5)
	_, ls, err := List(tenClasses, Source{CIFAR: []string{"data_batch_2.bin", "data_batch_1.bin"}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	defer l.Close()
	var got []string
	for _, e := range l.Entries {
		got = append(got, e.Rel+"="+tenClasses[e.Class])
	}
	// The files in the order given, records in file order: no sorting.
	if strings.Join(got, " ") != "data_batch_2.bin#0=dog data_batch_1.bin#0=cat data_batch_1.bin#1=truck data_batch_1.bin#2=airplane" {
		t.Fatalf("entries = %v", got)
	}
	rgb := &Converter{Height: 32, Width: 32, Channels: 3, Resize: Fit}
	dst := make([]uint8, rgb.Elems())
	if err := l.Decode(rgb, 2, dst); err != nil { // data_batch_1.bin record 1, label 9
		t.Fatal(err)
	}
	for _, yx := range [][2]int{{0, 0}, {5, 17}, {31, 31}} {
		y, x := yx[0], yx[1]
		px := dst[3*(y*32+x):]
		if px[0] != uint8(9+y) || px[1] != uint8(x) || px[2] != uint8(7*y+x) {
			t.Fatalf("pixel (%d,%d) = %v, want the record's planes interleaved (HWC)", y, x, px[:3])
		}
	}
	// Gray, through the same conversion as any image: BT.601 luma.
	g := &Converter{Height: 32, Width: 32, Channels: 1, Resize: Fit}
	dg := make([]uint8, g.Elems())
	if err := l.Decode(g, 2, dg); err != nil {
		t.Fatal(err)
	}
	r, gr, b := uint32(9+5), uint32(17), uint32(7*5+17)
	if want := uint8((299*r + 587*gr + 114*b + 500) / 1000); dg[5*32+17] != want {
		t.Fatalf("gray pixel = %d, want %d", dg[5*32+17], want)
	}
	// Another size is resized like any image.
	small := &Converter{Height: 16, Width: 16, Channels: 3, Resize: Fit}
	if err := l.Decode(small, 0, make([]uint8, small.Elems())); err != nil {
		t.Fatal(err)
	}
}

func TestCIFARErrors(t *testing.T) {
	root := t.TempDir()
	writeCIFAR(t, filepath.Join(root, "ok.bin"), 1, 2)
	full := append(cifarRecord(1), cifarRecord(2)...)
	writeFile(t, filepath.Join(root, "cut.bin"), full[:CIFARRecord+100])
	writeFile(t, filepath.Join(root, "empty.bin"), nil)
	writeCIFAR(t, filepath.Join(root, "label.bin"), 1, 12)
	cases := []struct {
		files   []string
		classes []string
		want    string
	}{
		{[]string{"cut.bin"}, tenClasses, "cifar " + filepath.Join(root, "cut.bin") + ": 3173 bytes is not a whole number of 3073-byte records: record 1, at offset 3073, is cut short (100 of 3073 bytes)"},
		{[]string{"empty.bin"}, tenClasses, "empty.bin: the file is empty"},
		{[]string{"label.bin"}, tenClasses, "label.bin: record 1 at offset 3073: label 12, but there are 10 classes"},
		{[]string{"missing.bin"}, tenClasses, "missing.bin: no such file or directory"},
		{[]string{"ok.bin", "ok.bin"}, tenClasses, "ok.bin is listed twice"},
		{[]string{"ok.bin"}, nil, "CIFAR files hold label ids only: list the class names in classes"},
	}
	for _, c := range cases {
		_, _, err := List(c.classes, Source{CIFAR: c.files, Root: root})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to contain %q", c.files, err, c.want)
		}
	}
}

// CIFAR files inside a tar are read in place; a compressed zip member,
// which cannot be read at random, is refused with the way out.
func TestCIFARInArchives(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR(t, filepath.Join(dir, "cifar-10-batches-bin", "data_batch_1.bin"), 4, 8)
	want := decodeCIFAR(t, Source{CIFAR: []string{"data_batch_1.bin"}, Root: filepath.Join(dir, "cifar-10-batches-bin")})
	data, err := tinyset.Pack(dir, "", tinyset.TarGz)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openPacked(t, data, "cifar-10-binary.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	got := decodeCIFAR(t, Source{CIFAR: []string{"data_batch_1.bin"}, Root: "cifar-10-batches-bin", Archive: a})
	if !bytes.Equal(got, want) {
		t.Fatal("records read from the tar.gz differ from the files on disk")
	}
	zp, err := tinyset.Pack(dir, "", tinyset.Zip)
	if err != nil {
		t.Fatal(err)
	}
	z, err := openPacked(t, zp, "c.zip")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = List(tenClasses, Source{CIFAR: []string{"data_batch_1.bin"}, Root: "cifar-10-batches-bin", Archive: z})
	if err == nil || !strings.Contains(err.Error(), "cifar c.zip:cifar-10-batches-bin/data_batch_1.bin: is compressed inside the zip") {
		t.Fatalf("compressed zip member: err = %v", err)
	}
}

func decodeCIFAR(t *testing.T, src Source) []byte {
	t.Helper()
	_, ls, err := List(tenClasses, src)
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	cv := &Converter{Height: 32, Width: 32, Channels: 3, Resize: Fit}
	var out []byte
	for i, e := range ls[0].Entries {
		dst := make([]uint8, cv.Elems())
		if err := ls[0].Decode(cv, i, dst); err != nil {
			t.Fatal(err)
		}
		out = append(append(out, e.Class), dst...)
	}
	if len(out) == 0 {
		t.Fatal("no records")
	}
	return out
}

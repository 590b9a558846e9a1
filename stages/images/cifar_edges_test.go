package images

import (
	"bytes"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"
)

// Labels run from 0 to classes−1: with ten classes, label 10 is refused
// with the record and its offset.
func TestCIFARLabelEqualToClassesRefused(t *testing.T) {
	root := t.TempDir()
	writeCIFAR(t, filepath.Join(root, "b.bin"), 9, 10)
	_, _, err := List(tenClasses, Source{CIFAR: []string{"b.bin"}, Root: root})
	if want := "b.bin: record 1 at offset 3073: label 10, but there are 10 classes"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}

// A record decoded to a target of another height or width (one side 32,
// the other not) gives the pixels the same image decoded from a PNG gives:
// resized like any image.
func TestCIFARResizedLikeAnyImage(t *testing.T) {
	root := t.TempDir()
	writeCIFAR(t, filepath.Join(root, "b.bin"), 4)
	_, ls, err := List(tenClasses, Source{CIFAR: []string{"b.bin"}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	rec := cifarRecord(4)
	img := image.NewNRGBA(image.Rect(0, 0, CIFARSide, CIFARSide))
	for p := range CIFARSide * CIFARSide {
		img.Set(p%CIFARSide, p/CIFARSide, color.NRGBA{rec[1+p], rec[1+1024+p], rec[1+2048+p], 0xff})
	}
	png := pngBytes(t, img)
	for _, c := range []*Converter{
		{Height: 16, Width: 32, Channels: 3, Resize: Fit},
		{Height: 32, Width: 16, Channels: 3, Resize: Fill},
	} {
		got := make([]uint8, c.Elems())
		if err := ls[0].Decode(c, 0, got); err != nil {
			t.Fatalf("%dx%d: %v", c.Height, c.Width, err)
		}
		want := make([]uint8, c.Elems())
		if err := c.Decode(bytes.NewReader(png), want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%dx%dx3 %s: the record decodes differently from the same image as a PNG", c.Height, c.Width, c.Resize)
		}
	}
}

// A gray image of the target size keeps its exact values, row by row, in
// every format that holds gray (PNG here, decoded from a file and from
// memory alike).
func TestGrayOfTargetSizeKeepsItsValues(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 5, 4))
	for i := range g.Pix {
		g.Pix[i] = uint8(11*i + 3)
	}
	data := pngBytes(t, g)
	c := &Converter{Height: 4, Width: 5, Channels: 1, Resize: Fit}
	for _, from := range []string{"reader", "bytes"} {
		dst := make([]uint8, c.Elems())
		var err error
		if from == "reader" {
			err = c.Decode(bytes.NewReader(data), dst)
		} else {
			err = c.DecodeBytes(data, dst)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dst, g.Pix) {
			t.Fatalf("from %s: %v, want the image's own values %v", from, dst, g.Pix)
		}
	}
}

package preview

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomSample(r *rand.Rand, w, h, group, copyIdx int, label string) Sample {
	pix := make([]uint8, w*h)
	for i := range pix {
		pix[i] = uint8(r.Uint32())
	}
	return Sample{Pixels: pix, Width: w, Height: h, Label: label, Group: group, Copy: copyIdx}
}

// testSamples: group 7 has the original and two variants, group 3 the
// original and one, group 9 only the original; given out of order.
func testSamples() []Sample {
	r := rand.New(rand.NewPCG(1, 2))
	return []Sample{
		randomSample(r, 28, 28, 7, 1, "7 #1"),
		randomSample(r, 28, 28, 3, Original, "3"),
		randomSample(r, 28, 28, 7, Original, "7"),
		randomSample(r, 28, 28, 9, Original, "9"),
		randomSample(r, 28, 28, 7, 0, "7 #0"),
		randomSample(r, 28, 28, 3, 0, "3 #0"),
	}
}

func cellOrigin(row, col, cellW, cellH, gap int) image.Point {
	return image.Pt(gap+col*(cellW+gap), gap+row*(cellH+gap))
}

// checkCell asserts that the cell at (row, col) holds s upscaled by scale.
func checkCell(t *testing.T, img *image.NRGBA, s Sample, row, col, scale, cellW, cellH, gap int) {
	t.Helper()
	o := cellOrigin(row, col, cellW, cellH, gap)
	for y := 0; y < s.Height*scale; y++ {
		for x := 0; x < s.Width*scale; x++ {
			v := s.Pixels[(y/scale)*s.Width+x/scale]
			if got := img.NRGBAAt(o.X+x, o.Y+y); got != (color.NRGBA{v, v, v, 255}) {
				t.Fatalf("cell (%d,%d) pixel (%d,%d) = %v, want gray %d (group %d copy %d)",
					row, col, x, y, got, v, s.Group, s.Copy)
			}
		}
	}
}

func TestGridLayoutAndPixels(t *testing.T) {
	samples := testSamples()
	const scale, gap = 3, 2
	img, err := Grid(samples)
	if err != nil {
		t.Fatal(err)
	}
	cellW, cellH := 28*scale, 28*scale+labelHeight
	wantW, wantH := 3*cellW+4*gap, 3*cellH+4*gap
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Fatalf("grid is %d×%d, want %d×%d", b.Dx(), b.Dy(), wantW, wantH)
	}
	// Rows in order of first appearance (7, 3, 9); cells ordered by Copy.
	layout := map[[2]int]int{ // (row, col) → index into samples
		{0, 0}: 2, {0, 1}: 4, {0, 2}: 0,
		{1, 0}: 1, {1, 1}: 5,
		{2, 0}: 3,
	}
	for rc, i := range layout {
		checkCell(t, img, samples[i], rc[0], rc[1], scale, cellW, cellH, gap)
	}
	// Empty cells and gaps are background.
	o := cellOrigin(2, 2, cellW, cellH, gap)
	for y := o.Y; y < o.Y+cellH; y++ {
		for x := o.X; x < o.X+cellW; x++ {
			if img.NRGBAAt(x, y) != (color.NRGBA{255, 255, 255, 255}) {
				t.Fatalf("empty cell pixel (%d,%d) = %v, want white", x, y, img.NRGBAAt(x, y))
			}
		}
	}
	for y := 0; y < wantH; y++ {
		if img.NRGBAAt(0, y) != (color.NRGBA{255, 255, 255, 255}) {
			t.Fatalf("left gap pixel (0,%d) is not background", y)
		}
	}
}

func TestGridLabels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	samples := []Sample{
		randomSample(r, 10, 10, 0, Original, "label"),
		randomSample(r, 10, 10, 0, 0, ""),
		randomSample(r, 10, 10, 0, 1, strings.Repeat("W", 40)), // far wider than the cell
	}
	img, err := Grid(samples, Scale(4), Gap(1), Background(color.Black), LabelColor(color.White))
	if err != nil {
		t.Fatal(err)
	}
	cellW, cellH := 40, 40+labelHeight
	inked := func(col int) int {
		o := cellOrigin(0, col, cellW, cellH, 1)
		n := 0
		for y := o.Y + 40; y < o.Y+cellH; y++ {
			for x := o.X; x < o.X+cellW; x++ {
				if img.NRGBAAt(x, y) != (color.NRGBA{0, 0, 0, 255}) {
					n++
				}
			}
		}
		return n
	}
	if inked(0) == 0 {
		t.Fatal("label strip under a labelled image has no ink")
	}
	if n := inked(1); n != 0 {
		t.Fatalf("label strip under an unlabelled image has %d inked pixels", n)
	}
	if inked(2) == 0 {
		t.Fatal("long label drew nothing")
	}
	// The long label is clipped to its cell: the gap after it stays background.
	o := cellOrigin(0, 2, cellW, cellH, 1)
	for y := 0; y < img.Bounds().Dy(); y++ {
		if img.NRGBAAt(o.X+cellW, y) != (color.NRGBA{0, 0, 0, 255}) {
			t.Fatalf("pixel (%d,%d) right of the last cell was drawn on", o.X+cellW, y)
		}
	}
	for col := 0; col < 3; col++ {
		checkCell(t, img, samples[col], 0, col, 4, cellW, cellH, 1)
	}
}

func TestGridWithoutLabelsHasNoStrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	img, err := Grid([]Sample{randomSample(r, 5, 7, 0, Original, "")}, Scale(2), Gap(0))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 14 {
		t.Fatalf("grid is %d×%d, want 10×14", b.Dx(), b.Dy())
	}
}

func TestEncodePNGRoundTrip(t *testing.T) {
	samples := testSamples()
	want, err := Grid(samples, Scale(2))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "grid.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Encode(f, samples, Scale(2)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("decoded bounds %v, want %v", got.Bounds(), want.Bounds())
	}
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := color.NRGBAModel.Convert(got.At(x, y)); c != want.NRGBAAt(x, y) {
				t.Fatalf("pixel (%d,%d): decoded %v, rendered %v", x, y, c, want.NRGBAAt(x, y))
			}
		}
	}
}

func TestGridErrors(t *testing.T) {
	ok := Sample{Pixels: make([]uint8, 4), Width: 2, Height: 2}
	cases := []struct {
		samples []Sample
		opts    []Option
		want    string
	}{
		{nil, nil, "preview: no samples"},
		{[]Sample{ok, {Pixels: make([]uint8, 3), Width: 2, Height: 2, Group: 4, Copy: 1}}, nil,
			"preview: sample 1 (group 4, copy 1): 3 pixels for 2×2, want 4"},
		{[]Sample{{Width: 0, Height: 2}}, nil, "preview: sample 0 (group 0, copy 0): size 0×2, want sides in [1, 65536]"},
		{[]Sample{ok}, []Option{Scale(0)}, "preview: scale must be in [1, 64], got 0"},
		{[]Sample{ok}, []Option{Gap(-1)}, "preview: gap must be in [0, 1024], got -1"},
		{[]Sample{{Pixels: make([]uint8, 2048*2048), Width: 2048, Height: 2048}}, []Option{Scale(8)},
			"preview: grid of 1×1 cells would be 16388×16388 pixels, more than 67108864"},
	}
	for _, c := range cases {
		_, err := Grid(c.samples, c.opts...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// An RGB sample (HWC bytes) is drawn in its colours, upscaled like a gray one,
// next to a gray sample in the same grid.
func TestGridRGB(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const w, h, scale, gap = 5, 4, 3, 2
	rgb := Sample{Pixels: make([]uint8, w*h*3), Width: w, Height: h, Channels: 3, Group: 1, Copy: Original}
	for i := range rgb.Pixels {
		rgb.Pixels[i] = uint8(r.Uint32())
	}
	gray := randomSample(r, w, h, 1, 0, "")
	img, err := Grid([]Sample{rgb, gray}, Scale(scale), Gap(gap))
	if err != nil {
		t.Fatal(err)
	}
	o := cellOrigin(0, 0, w*scale, h*scale, gap)
	for y := 0; y < h*scale; y++ {
		for x := 0; x < w*scale; x++ {
			i := ((y/scale)*w + x/scale) * 3
			want := color.NRGBA{rgb.Pixels[i], rgb.Pixels[i+1], rgb.Pixels[i+2], 255}
			if got := img.NRGBAAt(o.X+x, o.Y+y); got != want {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	checkCell(t, img, gray, 0, 1, scale, w*scale, h*scale, gap)

	for _, c := range []struct {
		s    Sample
		want string
	}{
		{Sample{Pixels: make([]uint8, w*h*3-1), Width: w, Height: h, Channels: 3}, "59 values for 5×4×3, want 60"},
		{Sample{Pixels: make([]uint8, w*h*4), Width: w, Height: h, Channels: 4}, "4 channels, want 1 (gray) or 3 (RGB)"},
	} {
		if _, err := Grid([]Sample{c.s}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

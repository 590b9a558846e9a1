package curves

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePNG(t *testing.T) {
	p := filepath.Join(t.TempDir(), "curves.png")
	pts := []Point{{1, 0.5, 0.4, 0.8, 0.85, true}, {2, 0.3, 0.35, 0.9, 0.88, true}, {3, 0.2, 0.33, 0.95, 0.9, true}}
	if err := WritePNG(p, "mlp", pts); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 200 {
		t.Fatalf("image %v too small", b)
	}
	// Not blank: some pixels differ from the background.
	bg := img.At(0, 0)
	differ := 0
	for y := 0; y < img.Bounds().Dy(); y += 4 {
		for x := 0; x < img.Bounds().Dx(); x += 4 {
			if img.At(x, y) != bg {
				differ++
			}
		}
	}
	if differ < 100 {
		t.Fatalf("only %d non-background samples: blank plot?", differ)
	}
	if err := WritePNG(p, "x", nil); err == nil {
		t.Fatal("empty history accepted")
	}
}

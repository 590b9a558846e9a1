package augment

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/disintegration/imaging"
)

func TestWarpIdentityExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{28, 28}, {1, 1}, {5, 3}, {17, 32}} {
		w, h := sz[0], sz[1]
		src := randomImage(r, w, h)
		g := identity()
		if got := warp(src, w, h, g); firstDiff(got, src) >= 0 {
			t.Fatalf("%d×%d: fixed-point warp at identity changed pixel %d", w, h, firstDiff(got, src))
		}
		if got := warpFloat(src, w, h, g, nil, nil); firstDiff(got, src) >= 0 {
			t.Fatalf("%d×%d: float warp at identity changed pixel %d", w, h, firstDiff(got, src))
		}
		zero := make([]float32, w*h)
		if got := warpFloat(src, w, h, g, zero, zero); firstDiff(got, src) >= 0 {
			t.Fatalf("%d×%d: zero elastic field changed pixel %d", w, h, firstDiff(got, src))
		}
		// Explicit zero-valued ops compose to the identity too.
		g.rotate(0)
		g.translate(0, 0)
		g.scale(1)
		g.shear(0)
		if !g.isIdentity() {
			t.Fatalf("zero ops composed to %+v, want identity", g)
		}
	}
}

// rotateRef rotates a square image by quarter turns counter-clockwise (as
// displayed, y down) by index arithmetic.
func rotateRef(src []uint8, n, quarters int) []uint8 {
	out := append([]uint8(nil), src...)
	for q := 0; q < ((quarters%4)+4)%4; q++ {
		next := make([]uint8, n*n)
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				// Counter-clockwise: the top-right corner moves to the top-left.
				next[y*n+x] = out[x*n+(n-1-y)]
			}
		}
		out = next
	}
	return out
}

func TestRotateQuarterTurnsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{28, 7, 2} {
		src := randomImage(r, n, n)
		for _, deg := range []float64{90, 180, 270, -90, 360, 450} {
			g := identity()
			g.rotate(deg)
			want := rotateRef(src, n, int(deg/90))
			if got := warp(src, n, n, g); firstDiff(got, want) >= 0 {
				t.Fatalf("n=%d rotate %g°: pixel %d differs from index-rotated copy", n, deg, firstDiff(got, want))
			}
			if got := warpFloat(src, n, n, g, nil, nil); firstDiff(got, want) >= 0 {
				t.Fatalf("n=%d rotate %g° (float path): pixel %d differs", n, deg, firstDiff(got, want))
			}
		}
		// imaging agrees on the direction of a quarter turn.
		g := identity()
		g.rotate(90)
		ref := imaging.Rotate90(grayImage(src, n, n))
		if got := warp(src, n, n, g); firstDiff(got, redChannel(ref)) >= 0 {
			t.Fatalf("n=%d: rotate 90° disagrees with imaging.Rotate90", n)
		}
	}
}

// An angle off a quarter turn by less than float64 rounding must still land
// on pixel centres: sin/cos of 90° from math.Sincos are not exactly 1 and 0.
func TestRotateNearQuarterTurnStable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := randomImage(r, 28, 28)
	g := identity()
	sin, cos := math.Sincos(math.Pi / 2)
	g.then(cos, -sin, sin, cos, 0, 0)
	if got, want := warp(src, 28, 28, g), rotateRef(src, 28, 1); firstDiff(got, want) >= 0 {
		t.Fatalf("math.Sincos quarter turn: pixel %d differs", firstDiff(got, want))
	}
}

func TestTranslateIntegerIsShift(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	w, h := 28, 20
	src := randomImage(r, w, h)
	for _, d := range [][2]int{{3, -2}, {-5, 0}, {0, 7}, {27, 19}, {40, 0}} {
		g := identity()
		g.translate(float64(d[0]), float64(d[1]))
		got := warp(src, w, h, g)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if want := at(src, w, h, x-d[0], y-d[1]); got[y*w+x] != want {
					t.Fatalf("shift %v: (%d,%d) = %d, want %d", d, x, y, got[y*w+x], want)
				}
			}
		}
	}
}

func TestTranslateHalfPixelAverages(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	w, h := 28, 28
	src := randomImage(r, w, h)
	g := identity()
	g.translate(0.5, 0)
	got := warp(src, w, h, g)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Output x samples source x-0.5: the mean of x-1 and x, rounded half up.
			want := uint8((int(at(src, w, h, x-1, y)) + int(at(src, w, h, x, y)) + 1) / 2)
			if got[y*w+x] != want {
				t.Fatalf("(%d,%d) = %d, want %d", x, y, got[y*w+x], want)
			}
		}
	}
	// A quarter pixel: 3:1 blend, within rounding of the 8-bit weights.
	g = identity()
	g.translate(0, 0.25)
	got = warp(src, w, h, g)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := 0.25*float64(at(src, w, h, x, y-1)) + 0.75*float64(at(src, w, h, x, y))
			if d := math.Abs(float64(got[y*w+x]) - want); d > 0.5+1e-9 {
				t.Fatalf("(%d,%d) = %d, want %.2f", x, y, got[y*w+x], want)
			}
		}
	}
}

func TestScaleAboutCentre(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	n, c := 9, 4 // odd size: the centre is pixel 4
	src := randomImage(r, n, n)
	g := identity()
	g.scale(2)
	got := warp(src, n, n, g)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if (x-c)%2 != 0 || (y-c)%2 != 0 {
				continue
			}
			if want := src[(c+(y-c)/2)*n+c+(x-c)/2]; got[y*n+x] != want {
				t.Fatalf("zoom ×2: (%d,%d) = %d, want %d", x, y, got[y*n+x], want)
			}
		}
	}
	if got[c*n+c] != src[c*n+c] {
		t.Fatal("zoom moved the centre pixel")
	}
}

func TestShearRows(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	n, c := 11, 5
	src := randomImage(r, n, n)
	g := identity()
	g.shear(45) // x' = x + (y - c): row y shifts right by y-c pixels
	got := warp(src, n, n, g)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if want := at(src, n, n, x-(y-c), y); got[y*n+x] != want {
				t.Fatalf("(%d,%d) = %d, want %d", x, y, got[y*n+x], want)
			}
		}
	}
}

// Composition follows config order: rotate then translate moves the rotated
// image, which differs from translating first.
func TestComposeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	n := 16
	src := randomImage(r, n, n)
	g := identity()
	g.rotate(90)
	g.translate(3, 1)
	got := warp(src, n, n, g)

	rot := rotateRef(src, n, 1)
	want := make([]uint8, n*n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			want[y*n+x] = at(rot, n, n, x-3, y-1)
		}
	}
	if firstDiff(got, want) >= 0 {
		t.Fatalf("rotate 90 then translate (3,1): pixel %d differs", firstDiff(got, want))
	}
}

// Against imaging.Rotate (bilinear, same centre convention, canvas grown to
// fit), cropped back to the source size where the crop offset is integral.
func TestRotateMatchesImaging(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	n := 28
	src := synthDigit(r, n, n)
	tested := 0
	for _, deg := range []float64{3, 10, 17, 30, 45, 60, -12, -33} {
		ref := imaging.Rotate(grayImage(src, n, n), deg, color.Black)
		rw, rh := ref.Bounds().Dx(), ref.Bounds().Dy()
		if (rw-n)%2 != 0 || (rh-n)%2 != 0 {
			continue
		}
		tested++
		ox, oy := (rw-n)/2, (rh-n)/2
		g := identity()
		g.rotate(deg)
		got := warp(src, n, n, g)
		maxDiff := 0
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				want := int(ref.Pix[(y+oy)*ref.Stride+(x+ox)*4])
				maxDiff = max(maxDiff, absInt(int(got[y*n+x])-want))
			}
		}
		if maxDiff > 1 {
			t.Errorf("rotate %g°: max difference from imaging.Rotate is %d, want ≤ 1", deg, maxDiff)
		}
	}
	if tested < 3 {
		t.Fatalf("only %d angles had an integral crop; pick other angles", tested)
	}
}

// The fixed-point kernel and the float kernel agree on general affine maps up
// to a rare ±1 where a coordinate sits on a 1/256 rounding boundary.
func TestFixedMatchesFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	w, h := 28, 24
	differ, total := 0, 0
	for i := 0; i < 200; i++ {
		src := synthDigit(r, w, h)
		g := identity()
		g.rotate(r.Float64()*60 - 30)
		g.translate(r.Float64()*6-3, r.Float64()*6-3)
		g.scale(0.7 + r.Float64()*0.6)
		g.shear(r.Float64()*30 - 15)
		a, b := warp(src, w, h, g), warpFloat(src, w, h, g, nil, nil)
		for j := range a {
			if d := absInt(int(a[j]) - int(b[j])); d > 1 {
				t.Fatalf("map %d pixel %d: fixed %d vs float %d", i, j, a[j], b[j])
			} else if d == 1 {
				differ++
			}
			total++
		}
	}
	if differ*1000 > total {
		t.Fatalf("%d of %d pixels differ by 1, want < 0.1%%", differ, total)
	}
}

func TestHugeScaleUsesFloatPath(t *testing.T) {
	w, h := 28, 28
	src := make([]uint8, w*h)
	for i := range src {
		src[i] = 200
	}
	g := identity()
	g.scale(1e-12) // zoom in enormously: only the centre stays inside
	m := g.pixel(w, h)
	if m.fitsFixed(w, h) {
		t.Fatal("fitsFixed accepted coordinates beyond the fixed-point range")
	}
	a := mustNew(t, 1, w, h, []Spec{{Op: "scale", Params: p("min", 1e-12, "max", 1e-12)}})
	dst := make([]uint8, w*h)
	a.Apply(dst, src, 0, 0)
	for i, v := range dst {
		if v != 0 {
			t.Fatalf("pixel %d = %d; an enormous zoom should sample only outside the image", i, v)
		}
	}
	g = identity()
	g.scale(1e12) // shrink to a point at the centre (13.5, 13.5): every pixel samples near it
	got := warpFloat(src, w, h, g, nil, nil)
	if got[0] != 200 || got[w*h-1] != 200 {
		t.Fatalf("extreme shrink: corners %d, %d, want 200", got[0], got[w*h-1])
	}
}

func grayImage(pix []uint8, w, h int) *image.Gray {
	return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
}

func redChannel(img *image.NRGBA) []uint8 {
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out = append(out, img.Pix[y*img.Stride+x*4])
		}
	}
	return out
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

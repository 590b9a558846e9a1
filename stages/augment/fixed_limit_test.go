package augment

import (
	"math"
	"testing"
)

// fitsFixed admits a map to the 32.32 fixed-point path only when every matrix
// entry and the source coordinates of all four output corners are strictly
// inside ±2^30; each corner and each coordinate is checked on its own.
func TestFitsFixedLimit(t *testing.T) {
	const w, h = 28, 20
	const W, H, L = w - 1, h - 1, float64(fixLimit)
	for _, c := range []struct {
		name string
		m    affine
		want bool
	}{
		{"identity", affine{a: 1, e: 1}, true},
		{"a rotation", affine{a: 0.8, b: -0.6, c: 9, d: 0.6, e: 0.8, f: -5}, true},
		{"x at the right edge, inside", affine{a: 1, c: L - W - 0.5, e: 1}, true},
		{"x at the right edge, at the limit", affine{a: 1, c: L - W, e: 1}, false},
		{"x at the left edge, inside", affine{a: 1, c: -L + 0.5, e: 1}, true},
		{"x at the left edge, outside", affine{a: 1, c: -L - 0.5, e: 1}, false},
		{"y at the bottom edge, inside", affine{a: 1, e: 1, f: L - H - 0.5}, true},
		{"y at the bottom edge, at the limit", affine{a: 1, e: 1, f: L - H}, false},
		{"y at the top edge, outside", affine{a: 1, e: 1, f: -L - 0.5}, false},
		{"x from y, inside", affine{b: 1, c: L - H - 0.5, d: 1}, true},
		{"x from y, at the limit", affine{b: 1, c: L - H, d: 1}, false},
		{"y from x, inside", affine{b: 1, d: 1, f: L - W - 0.5}, true},
		{"y from x, at the limit", affine{b: 1, d: 1, f: L - W}, false},
		{"x from y, far corner only", affine{a: 1, b: 1, c: L - W - H + 0.5, e: 1}, false},
		{"y from x, far corner only", affine{a: 1, d: 1, e: 1, f: L - W - H + 0.5}, false},
		{"x from both, far corner inside", affine{a: 1, b: 1, c: L - W - H - 0.5, e: 1}, true},
		{"a at the limit", affine{a: L, e: 1}, false},
		{"b at the limit", affine{a: 1, b: -L, e: 1}, false},
		{"d at the limit", affine{a: 1, d: L, e: 1}, false},
		{"e at the limit", affine{a: 1, e: -L}, false},
		{"NaN", affine{a: math.NaN(), e: 1}, false},
	} {
		if got := c.m.fitsFixed(w, h); got != c.want {
			t.Errorf("%s: fitsFixed = %v, want %v", c.name, got, c.want)
		}
	}
	// One pixel wide and high: the only corner is (0, 0), so an entry at
	// the limit is refused by the entry check alone.
	for _, m := range []affine{{a: L, e: 1}, {a: 1, b: L, e: 1}, {a: 1, d: L, e: 1}, {a: 1, e: L}} {
		if m.fitsFixed(1, 1) {
			t.Errorf("1×1 %+v: fitsFixed = true, want false", m)
		}
	}
}

// A translation far beyond the image leaves nothing of it, by either
// kernel, however far: no fixed-point coordinate wraps around into the image.
func TestFarTranslateIsEmpty(t *testing.T) {
	const w, h = 28, 20
	src := make([]uint8, w*h)
	for i := range src {
		src[i] = 200
	}
	for _, d := range []float64{40, 1e6, 1 << 29, 1 << 31, 1 << 33, 1e15} {
		for _, sign := range []float64{1, -1} {
			g := identity()
			g.translate(sign*d, -sign*d/3)
			for name, got := range map[string][]uint8{"Apply's kernel": applyMap(src, w, h, g), "float kernel": warpFloat(src, w, h, g, nil, nil)} {
				for i, v := range got {
					if v != 0 {
						t.Fatalf("translate %g: %s: pixel %d = %d, want 0", sign*d, name, i, v)
					}
				}
			}
		}
	}
}

// applyMap resamples src through g as a warp stage does: the fixed-point
// kernel when the map fits it, the float kernel otherwise.
func applyMap(src []uint8, w, h int, g lin) []uint8 {
	pad := make([]uint8, (w+2)*(h+2))
	padInto(pad, src, w, h)
	dst := make([]uint8, w*h)
	warpPlane(dst, pad, w, h, g.pixel(w, h), nil, nil)
	return dst
}

// Sub-pixel shifts that put the last column or row exactly on the float
// kernel's outer bound (a source coordinate of w − 1/512, which rounds to the
// border) sample the zero border there, as the fixed-point kernel does.
func TestFloatKernelAtTheOuterBound(t *testing.T) {
	const w, h = 9, 7
	src := make([]uint8, w*h)
	for i := range src {
		src[i] = uint8(100 + i)
	}
	for _, d := range [][2]float64{{-1 + 1.0/512, 0}, {0, -1 + 1.0/512}, {-1 + 1.0/512, -1 + 1.0/512}} {
		g := identity()
		g.translate(d[0], d[1])
		got, want := warpFloat(src, w, h, g, nil, nil), warp(src, w, h, g)
		for i := range got {
			if absInt(int(got[i])-int(want[i])) > 1 {
				t.Fatalf("shift %v: pixel %d: float %d, fixed %d", d, i, got[i], want[i])
			}
		}
		if got[w*h-1] != 0 {
			t.Fatalf("shift %v: last pixel %d, want 0 (it samples the border)", d, got[w*h-1])
		}
	}
}

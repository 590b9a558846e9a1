package augment

import (
	"math"
	"math/rand/v2"
)

// synthDigit draws a digit-like w×h image: a few thick anti-aliased strokes
// on a zero background, so tests exercise both ink and empty borders.
func synthDigit(r *rand.Rand, w, h int) []uint8 {
	img := make([]uint8, w*h)
	strokes := 2 + r.IntN(3)
	for s := 0; s < strokes; s++ {
		x0, y0 := 4+r.Float64()*float64(w-8), 4+r.Float64()*float64(h-8)
		x1, y1 := 4+r.Float64()*float64(w-8), 4+r.Float64()*float64(h-8)
		thick := 1 + r.Float64()*1.5
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				d := segDist(float64(x), float64(y), x0, y0, x1, y1)
				v := 255 * math.Max(0, math.Min(1, thick+0.5-d))
				if u := uint8(v); u > img[y*w+x] {
					img[y*w+x] = u
				}
			}
		}
	}
	return img
}

func segDist(px, py, x0, y0, x1, y1 float64) float64 {
	dx, dy := x1-x0, y1-y0
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = math.Max(0, math.Min(1, ((px-x0)*dx+(py-y0)*dy)/l))
	}
	return math.Hypot(px-(x0+t*dx), py-(y0+t*dy))
}

// randomImage fills a w×h image with uniform random bytes.
func randomImage(r *rand.Rand, w, h int) []uint8 {
	img := make([]uint8, w*h)
	for i := range img {
		img[i] = uint8(r.Uint32())
	}
	return img
}

// at returns img(x, y) or 0 outside the image.
func at(img []uint8, w, h, x, y int) uint8 {
	if x < 0 || y < 0 || x >= w || y >= h {
		return 0
	}
	return img[y*w+x]
}

// warp runs the fixed-point kernel directly (no identity shortcut).
func warp(src []uint8, w, h int, g lin) []uint8 {
	pad := make([]uint8, (w+2)*(h+2))
	padInto(pad, src, w, h)
	dst := make([]uint8, w*h)
	warpAffine(dst, pad, w, h, g.pixel(w, h))
	return dst
}

// warpFloat runs the per-pixel float kernel with an optional field.
func warpFloat(src []uint8, w, h int, g lin, fdx, fdy []float32) []uint8 {
	pad := make([]uint8, (w+2)*(h+2))
	padInto(pad, src, w, h)
	dst := make([]uint8, w*h)
	warpField(dst, pad, w, h, g.pixel(w, h), fdx, fdy)
	return dst
}

func firstDiff(a, b []uint8) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func mustNew(t interface{ Fatal(...any) }, seed uint64, w, h int, specs []Spec) *Augmenter {
	a, err := New(seed, w, h, specs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func p(kv ...any) map[string]float64 {
	m := map[string]float64{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			m[kv[i].(string)] = float64(v)
		default:
			m[kv[i].(string)] = v.(float64)
		}
	}
	return m
}

package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// smoothDirect is the elastic blur written out per pixel: the row pass,
// then the column pass times alpha, each the centre tap followed by the tap
// pairs ±1…±r, every operation rounded — the definition smooth must meet.
func smoothDirect(o *elasticOp, f []float32, w, h int) []float32 {
	r := o.radius
	tmp := make([]float32, w*h)
	for y := range h {
		for x := range w {
			v := o.kern[0] * f[y*w+x]
			for k := 1; k <= r; k++ {
				s := float32(f[y*w+reflectIndex(x-k, w)] + f[y*w+reflectIndex(x+k, w)])
				v += float32(o.kern[k] * s)
			}
			tmp[y*w+x] = v
		}
	}
	out := make([]float32, w*h)
	for y := range h {
		for x := range w {
			v := o.kernAlpha[0] * tmp[y*w+x]
			for k := 1; k <= r; k++ {
				s := float32(tmp[reflectIndex(y-k, h)*w+x] + tmp[reflectIndex(y+k, h)*w+x])
				v += float32(o.kernAlpha[k] * s)
			}
			out[y*w+x] = v
		}
	}
	return out
}

// TestSmoothMatchesDirectSum: the padded whole-field passes give the bytes of
// the per-pixel sum with every kernel set, including fields narrower or
// shorter than the blur radius (the reflection wraps more than once).
func TestSmoothMatchesDirectSum(t *testing.T) {
	for _, impl := range kernels.Impls() {
		if err := kernels.SetImpl(impl); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			w, h  int
			sigma float64
		}{{28, 28, 4}, {17, 13, 3}, {13, 17, 4}, {1, 1, 4}, {3, 5, 4}, {5, 2, 1}, {64, 3, 0.2}, {2, 40, 2.5}} {
			t.Run(fmt.Sprintf("%s/%dx%d/sigma%g", impl, c.w, c.h, c.sigma), func(t *testing.T) {
				o := newElasticOp(0, 1, 34, c.sigma)
				a := &Augmenter{width: c.w, height: c.h, stages: []stage{&warpStage{elastic: o}}}
				s := a.newScratch()
				r := rand.New(rand.NewPCG(uint64(c.w), uint64(c.h)))
				f := make([]float32, c.w*c.h)
				for i := range f {
					f[i] = float32(r.Float64()*2 - 1)
				}
				want := smoothDirect(o, f, c.w, c.h)
				o.smooth(s, f, c.w, c.h)
				for i := range f {
					if math.Float32bits(f[i]) != math.Float32bits(want[i]) {
						t.Fatalf("pixel %d: %g, want %g", i, f[i], want[i])
					}
				}
			})
		}
	}
	if err := kernels.SetImpl(kernels.Impls()[0]); err != nil {
		t.Fatal(err)
	}
}

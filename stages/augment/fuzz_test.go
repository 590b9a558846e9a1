package augment

import (
	"math/rand/v2"
	"testing"
)

// FuzzNewApply checks that any op with any parameter values either fails
// validation with an error or augments without panicking, deterministically.
func FuzzNewApply(f *testing.F) {
	f.Add(uint8(0), 10.0, 0.0, 1.0, uint8(28), uint8(28), uint64(1))
	f.Add(uint8(2), 0.9, 1.1, 0.5, uint8(5), uint8(9), uint64(2))
	f.Add(uint8(4), 34.0, 4.0, 1.0, uint8(28), uint8(28), uint64(3))
	f.Add(uint8(6), 0.3, 0.1, 1.0, uint8(1), uint8(1), uint64(4))
	f.Add(uint8(3), 89.999, 0.0, 1.0, uint8(3), uint8(40), uint64(5))
	f.Fuzz(func(t *testing.T, op uint8, x, y, prob float64, w, h uint8, seed uint64) {
		names := Ops() // elastic, erase, noise, rotate, scale, shear, translate
		name := names[int(op)%len(names)]
		params := map[string]float64{"p": prob}
		for i, prm := range schemas[name] {
			params[prm.name] = []float64{x, y, 0, 0}[i]
		}
		a, err := New(seed, int(w), int(h), []Spec{{Op: name, Params: params, Line: 1}})
		if err != nil {
			return
		}
		r := rand.New(rand.NewPCG(seed, 0))
		src := randomImage(r, int(w), int(h))
		d1 := make([]uint8, len(src))
		d2 := make([]uint8, len(src))
		a.Apply(d1, src, seed, 1)
		a.Apply(d2, src, seed, 1)
		if j := firstDiff(d1, d2); j >= 0 {
			t.Fatalf("%s %v: two calls differ at pixel %d", name, params, j)
		}
	})
}

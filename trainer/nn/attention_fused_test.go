package nn

import (
	"fmt"
	"math"
	"testing"
)

// TestAttentionFusedMatchesUnfused runs the attention layer through the
// fused head kernels and through the strided packed GEMMs they replaced, on
// the same weights and data, and compares the outputs, the input gradients
// and the parameter gradients.
func TestAttentionFusedMatchesUnfused(t *testing.T) {
	for _, c := range []struct{ n, tokens, d, heads int }{
		{3, 50, 64, 4},  // the default ViT's heads
		{2, 17, 32, 4},  // 8 features a head
		{2, 9, 96, 3},   // 32
		{1, 65, 128, 2}, // 64
		{2, 1, 12, 3},   // one token
		{2, 23, 30, 6},  // 5
	} {
		t.Run(fmt.Sprintf("n=%d,t=%d,d=%d,h=%d", c.n, c.tokens, c.d, c.heads), func(t *testing.T) {
			var layers [2]*Attention
			for i := range layers {
				rng := testRNG(31)
				a, err := NewAttention("attn", c.d, c.heads, rng)
				if err != nil {
					t.Fatal(err)
				}
				perturb(rng, a, 0.3)
				layers[i] = a
			}
			layers[1].unfused = true
			rng := testRNG(32)
			x := randTensor(rng, false, c.n, c.tokens, c.d)
			dy := randTensor(rng, false, c.n, c.tokens, c.d)
			var ys, dxs [2][]float32
			for i, a := range layers {
				ys[i] = append([]float32(nil), a.Forward(x, true).Data...)
				dxs[i] = append([]float32(nil), a.Backward(dy, true).Data...)
			}
			near(t, "y", ys[0], ys[1])
			near(t, "dx", dxs[0], dxs[1])
			for j, p := range layers[0].Params() {
				near(t, p.Name, p.Grad, layers[1].Params()[j].Grad)
			}
		})
	}
}

// near fails unless got and want agree to 1e-4 of want's largest
// magnitude.
func near(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); math.IsNaN(float64(got[i])) || d > 1e-4*scale+1e-7 {
			t.Fatalf("%s[%d] = %g, unfused %g", name, i, got[i], want[i])
		}
	}
}

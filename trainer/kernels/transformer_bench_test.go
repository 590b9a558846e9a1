package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTransformer times the transformer kernels on the default ViT's
// shapes: GELU over one block's MLP activations (128 images × 50 tokens ×
// 128 features), softmax over one head's 50×50 scores, LayerNorm over
// 128×50 rows of 64 features.
func BenchmarkTransformer(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const acts = 128 * 50 * 128
	x, dy, y := randSlice(r, acts), randSlice(r, acts), make([]float32, acts)
	s := randSlice(r, 50*50)
	const rows, d = 128 * 50, 64
	ln, g, bb := randSlice(r, rows*d), randSlice(r, d), randSlice(r, d)
	mean, rstd := make([]float32, rows), make([]float32, rows)
	benchImpls(b, func(b *testing.B) {
		run := func(name string, elems int, f func()) {
			b.Run(name, func(b *testing.B) {
				b.SetBytes(4 * int64(elems))
				for i := 0; i < b.N; i++ {
					f()
				}
			})
		}
		run("GELU", acts, func() { GELU(y, x) })
		run("GELUGrad", acts, func() { GELUGrad(y, dy, x) })
		run("SoftmaxRows", len(s), func() { SoftmaxRows(s, 50, 50) })
		run("LayerNorm", rows*d, func() { LayerNorm(ln[:rows*d], mean, rstd, ln, g, bb, d, 1e-6) })
		run("LayerNormGrad", rows*d, func() { LayerNormGrad(y[:rows*d], dy[:rows*d], ln, g, mean, rstd, d) })
	})
}

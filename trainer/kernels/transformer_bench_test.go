package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkTransformer times the transformer kernels on the default ViT's
// shapes: GELU over one block's MLP activations (128 images × 50 tokens ×
// 128 features), softmax and its gradient over one head's 50×50 scores, LayerNorm over
// 128×50 rows of 64 features.
func BenchmarkTransformer(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const acts = 128 * 50 * 128
	x, dy, y := randSlice(r, acts), randSlice(r, acts), make([]float32, acts)
	s, ds := randSlice(r, 50*50), randSlice(r, 50*50)
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
		run("SoftmaxRowsGrad", len(s), func() { SoftmaxRowsGrad(ds, s, 50, 50) })
		run("LayerNorm", rows*d, func() { LayerNorm(ln[:rows*d], mean, rstd, ln, g, bb, d, 1e-6) })
		run("LayerNormGrad", rows*d, func() { LayerNormGrad(y[:rows*d], dy[:rows*d], ln, g, mean, rstd, d) })
	})
}

// BenchmarkAttentionHead times one attention head inside a 192-wide qkv
// row, forward and backward, through the fused kernels and through the
// packed Sgemm they replace, and the forward pass alone (evaluation): the
// default ViT's 5 tokens (14×14 patches) of 16 features, 50 tokens (4×4
// patches) and a ViT-B head.
func BenchmarkAttentionHead(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, sh := range [][2]int{{5, 16}, {50, 16}, {50, 32}, {197, 64}} {
		h := newHeadCase(r, sh[0], sh[1])
		h.ld = 3 * 64
		if sh[1] > 64 {
			h.ld = 3 * sh[1]
		}
		h.qkv, h.ldo = randSlice(r, h.t*h.ld), 64
		h.do = randSlice(r, h.t*h.ldo)
		out, scratch := h.alloc(), make([]float32, AttentionScratch(h.t, h.hd))
		benchImpls(b, func(b *testing.B) {
			name := fmt.Sprintf("t=%d,hd=%d", h.t, h.hd)
			b.Run(name+"/fused", func(b *testing.B) {
				for b.Loop() {
					h.fusedInto(out, scratch)
				}
			})
			b.Run(name+"/forward", func(b *testing.B) {
				for b.Loop() {
					AttentionHeadForward(h.t, h.hd, h.scale, h.q(), h.k(), h.v(), h.ld, out.p, out.o, h.ldo, scratch)
				}
			})
			b.Run(name+"/sgemm", func(b *testing.B) {
				for b.Loop() {
					h.unfusedInto(out)
				}
			})
		})
	}
}

package nn

import (
	"runtime"
	"slices"
	"testing"
)

// Every layer whose elementwise or per-row work is split into ranges gives
// the same bits with one worker and with four, on inputs large enough that
// four workers get a range each: a range's offsets (lo·d, c·N+n, …) are
// right, not only the first range's. Forward in training mode, then
// Backward with the input gradient; random layers replay their generator.
func TestLayersSameBitsAtAnyWorkerCount(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rng := testRNG(8)
	mk := func(l Layer, err error) Layer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	big := elementGrain*4 + 13
	cases := []struct {
		name string
		l    Layer
		x    *Tensor
	}{
		{"relu", NewReLU("relu"), randTensor(rng, false, 5, big/5)},
		{"gelu", NewGELU("gelu"), randTensor(rng, false, 5, big/5)},
		{"dropout", mk(NewDropout("drop", 0.3, 1, 2)), randTensor(rng, false, 5, big/5)},
		{"layernorm", mk(NewLayerNorm("ln", 64, 0)), randTensor(rng, false, 5, 61, 64)},
		{"batchnorm1d", mk(NewBatchNorm1D("bn", 7, 0, 0)), randTensor(rng, false, 6, 7)},
		{"batchnorm2d", mk(NewBatchNorm2D("bn", 5, 0, 0)), withLayout(randTensor(rng, false, 3, 5, 4, 4), CNHW)},
		{"maxpool", mk(NewMaxPool2D("pool", 3, 2)), randTensor(rng, true, 2, 3, 9, 9)},
		{"maxpool2x2", mk(NewMaxPool2D("pool", 2, 0)), randTensor(rng, true, 2, 3, 8, 8)},
		{"flatten", NewFlatten("flat"), withLayout(randTensor(rng, false, 37, 2, 3, 3), CNHW)},
		{"patch_embed", mk(NewPatchEmbed("pe", 2, 4, 2, rng)), randTensor(rng, false, 37, 2, 4, 6)},
		{"token_embed", mk(NewTokenEmbed("tok", 4, 7, rng)), randTensor(rng, false, 37, 6, 4)},
		{"attention", mk(NewAttention("attn", 8, 2, rng)), randTensor(rng, false, 3, 5, 8)},
		{"block", mk(NewBlock("blk", 8, 2, 12, 0, 0.3, rng, 3, 4)), randTensor(rng, false, 37, 3, 8)},
	}
	type result struct{ y, dx []float32 }
	for _, c := range cases {
		rs, isRandom := c.l.(Random)
		var state []byte
		if isRandom {
			state, _ = rs.RNGState()
		}
		run := func(procs int) (result, [][]float32) {
			runtime.GOMAXPROCS(procs)
			if isRandom {
				if err := rs.SetRNGState(state); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range c.l.Params() {
				clear(p.Grad)
			}
			y := c.l.Forward(c.x, true)
			r := result{y: slices.Clone(y.Data)}
			dy := randTensor(testRNG(9), false, y.Shape...)
			dy.Layout = y.Layout
			r.dx = slices.Clone(c.l.Backward(dy, true).Data)
			var grads [][]float32
			for _, p := range c.l.Params() {
				grads = append(grads, slices.Clone(p.Grad))
			}
			return r, grads
		}
		one, g1 := run(1)
		four, g4 := run(4)
		if !slices.Equal(one.y, four.y) {
			t.Errorf("%s: forward differs between 1 and 4 workers", c.name)
		}
		if !slices.Equal(one.dx, four.dx) {
			t.Errorf("%s: input gradient differs between 1 and 4 workers", c.name)
		}
		for i := range g1 {
			if !slices.Equal(g1[i], g4[i]) {
				t.Errorf("%s: gradient of %s differs between 1 and 4 workers", c.name, c.l.Params()[i].Name)
			}
		}
	}
}

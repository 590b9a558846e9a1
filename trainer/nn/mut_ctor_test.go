package nn

import (
	"math"
	"testing"
)

// Each constructor accepts the smallest valid sizes and the edges of its
// ranges, and refuses the values just past them.
func TestConstructorEdges(t *testing.T) {
	rng := testRNG(1)
	nan, inf := math.NaN(), math.Inf(1)
	type ctor struct {
		what string
		ok   bool
		err  error
	}
	wrap := func(what string, ok bool, f func() error) ctor { return ctor{what, ok, f()} }
	cases := []ctor{
		wrap("layernorm d=1", true, func() error { _, err := NewLayerNorm("ln", 1, 1e-6); return err }),
		wrap("layernorm d=0", false, func() error { _, err := NewLayerNorm("ln", 0, 1e-6); return err }),
		wrap("layernorm d=-1", false, func() error { _, err := NewLayerNorm("ln", -1, 1e-6); return err }),
		wrap("layernorm eps<0", false, func() error { _, err := NewLayerNorm("ln", 2, -1e-6); return err }),
		wrap("layernorm eps=inf", false, func() error { _, err := NewLayerNorm("ln", 2, inf); return err }),
		wrap("layernorm eps=NaN", false, func() error { _, err := NewLayerNorm("ln", 2, nan); return err }),
		wrap("batchnorm c=1", true, func() error { _, err := NewBatchNorm1D("bn", 1, 0, 0); return err }),
		wrap("batchnorm c=0", false, func() error { _, err := NewBatchNorm1D("bn", 0, 0, 0); return err }),
		wrap("batchnorm eps<0", false, func() error { _, err := NewBatchNorm2D("bn", 2, -1e-9, 0); return err }),
		wrap("batchnorm momentum=1", true, func() error { _, err := NewBatchNorm2D("bn", 2, 0, 1); return err }),
		wrap("batchnorm momentum>1", false, func() error { _, err := NewBatchNorm2D("bn", 2, 0, 1.0001); return err }),
		wrap("batchnorm momentum<0", false, func() error { _, err := NewBatchNorm1D("bn", 2, 0, -0.1); return err }),
		wrap("attention d=1 heads=1", true, func() error { _, err := NewAttention("a", 1, 1, rng); return err }),
		wrap("attention d=0", false, func() error { _, err := NewAttention("a", 0, 1, rng); return err }),
		wrap("attention heads=0", false, func() error { _, err := NewAttention("a", 2, 0, rng); return err }),
		wrap("attention 3 by 2", false, func() error { _, err := NewAttention("a", 3, 2, rng); return err }),
		wrap("token embed 2 tokens", true, func() error { _, err := NewTokenEmbed("t", 1, 2, rng); return err }),
		wrap("token embed 1 token", false, func() error { _, err := NewTokenEmbed("t", 1, 1, rng); return err }),
		wrap("token embed d=0", false, func() error { _, err := NewTokenEmbed("t", 0, 2, rng); return err }),
		wrap("patch embed 1 1 1", true, func() error { _, err := NewPatchEmbed("p", 1, 1, 1, rng); return err }),
		wrap("patch embed c=0", false, func() error { _, err := NewPatchEmbed("p", 0, 1, 1, rng); return err }),
		wrap("patch embed d=0", false, func() error { _, err := NewPatchEmbed("p", 1, 0, 1, rng); return err }),
		wrap("patch embed p=0", false, func() error { _, err := NewPatchEmbed("p", 1, 1, 0, rng); return err }),
		wrap("block hidden=1 drop 0", true, func() error { _, err := NewBlock("b", 2, 1, 1, 0, 0, rng, 1, 2); return err }),
		wrap("block hidden=0", false, func() error { _, err := NewBlock("b", 2, 1, 0, 0, 0, rng, 1, 2); return err }),
		wrap("block drop<0", false, func() error { _, err := NewBlock("b", 2, 1, 1, 0, -0.1, rng, 1, 2); return err }),
		wrap("block drop=1", false, func() error { _, err := NewBlock("b", 2, 1, 1, 0, 1, rng, 1, 2); return err }),
		wrap("dropout p=1", false, func() error { _, err := NewDropout("d", 1, 1, 2); return err }),
		wrap("dropout p<0", false, func() error { _, err := NewDropout("d", -0.1, 1, 2); return err }),
		wrap("dropout p=NaN", false, func() error { _, err := NewDropout("d", nan, 1, 2); return err }),
	}
	for _, c := range cases {
		if (c.err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok %v", c.what, c.err, c.ok)
		}
	}
	// eps 0 means the default.
	ln, _ := NewLayerNorm("ln", 2, 0)
	if ln.eps != DefaultLayerNormEps {
		t.Errorf("layernorm eps 0 gave %v", ln.eps)
	}
	bn, _ := NewBatchNorm1D("bn", 2, 0, 0)
	if bn.eps != 1e-5 || bn.momentum != 0.1 {
		t.Errorf("batchnorm defaults eps %v momentum %v", bn.eps, bn.momentum)
	}
}

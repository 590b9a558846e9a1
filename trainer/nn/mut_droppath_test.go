package nn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A block with drop path 0 is the same in training and evaluation, and its
// generator is not advanced, so adding such a block changes no mask drawn
// after a resume.
func TestBlockDropPathZero(t *testing.T) {
	b := newTestBlock(t, testRNG(3), 0)
	before, _ := b.RNGState()
	x := randTensor(testRNG(4), false, 3, 4, 6)
	eval := slices.Clone(b.Forward(x, false).Data)
	if got := b.Forward(x, true).Data; !slices.Equal(got, eval) {
		t.Error("drop path 0 changes the training output")
	}
	if after, _ := b.RNGState(); !slices.Equal(before, after) {
		t.Error("drop path 0 advanced the block's generator")
	}
}

// The drop-path draws are pinned: branch factor i (attention then MLP, per
// sample) is 0 when the high half of the generator's i-th draw is below
// round(p·2³²) and 1/(1−p) otherwise, the generator seeded as NewBlock's
// seeds say. p is chosen so that the first draw equals the threshold
// exactly: at equality the branch is kept.
func TestBlockDropPathRule(t *testing.T) {
	var g rand.PCG
	g.Seed(1, 2)
	thresh := g.Uint64() >> 32
	p := float64(thresh) / (1 << 32)
	b := newTestBlock(t, testRNG(3), p)
	x := randTensor(testRNG(4), false, 5, 4, 6)
	b.Forward(x, true)
	g.Seed(1, 2)
	keep := float32(1 / (1 - p))
	if len(b.scale) != 10 {
		t.Fatalf("%d branch factors for 5 samples", len(b.scale))
	}
	for i, s := range b.scale {
		want := keep
		if g.Uint64()>>32 < thresh {
			want = 0
		}
		if s != want {
			t.Fatalf("p=%v: branch factor %d = %v, want %v", p, i, s, want)
		}
	}
	if b.scale[0] != keep {
		t.Error("a draw equal to the threshold must keep the branch")
	}
}

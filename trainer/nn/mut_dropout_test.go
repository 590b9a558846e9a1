package nn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A drop probability of 0 is allowed and is the identity in training too:
// the input passes through and the generator is not advanced, so adding a
// p = 0 dropout changes neither the outputs nor a resumed run's masks.
func TestDropoutZeroIsIdentityInTraining(t *testing.T) {
	d, err := NewDropout("d", 0, 5, 6)
	if err != nil {
		t.Fatalf("p = 0 refused: %v", err)
	}
	before, _ := d.RNGState()
	x := NewTensor(2, 9)
	fill(x.Data, 1.5)
	if y := d.Forward(x, true); y != x {
		t.Error("p = 0 in training should pass the input through")
	}
	if dy := d.Backward(x, true); dy != x {
		t.Error("p = 0 backward should pass the gradient through")
	}
	after, _ := d.RNGState()
	if !slices.Equal(before, after) {
		t.Error("p = 0 advanced the dropout generator")
	}
}

// Inputs whose length is not a multiple of the random chunk (one short of
// one and of two chunks, one past one) are masked whole: every element is
// 0 or x/(1-p), and the gradient is the mask.
func TestDropoutOddLengths(t *testing.T) {
	for _, n := range []int{1, 3, dropChunk - 1, dropChunk, dropChunk + 1, 2*dropChunk - 1} {
		d, _ := NewDropout("d", 0.5, 1, 2)
		x := NewTensor(1, n)
		fill(x.Data, 1)
		y := d.Forward(x, true).Clone()
		kept := 0
		for i, v := range y.Data {
			switch v {
			case 0:
			case 2:
				kept++
			default:
				t.Fatalf("n=%d: y[%d] = %g, want 0 or 2", n, i, v)
			}
		}
		if n > 100 && (kept < n/3 || kept > 2*n/3) {
			t.Errorf("n=%d: kept %d", n, kept)
		}
		dy := NewTensor(1, n)
		fill(dy.Data, 3)
		dx := d.Backward(dy, true)
		for i := range dx.Data {
			if want := 3 * y.Data[i]; dx.Data[i] != want {
				t.Fatalf("n=%d: dx[%d] = %g, want %g", n, i, dx.Data[i], want)
			}
		}
	}
}

// The mask is a fixed function of the seed, pinned here by recomputing it:
// the step key is the layer generator's next draw, chunk c's stream is
// PCG(key, splitmix64(c)), and element 2j (2j+1) is kept when the low (high)
// half of the stream's j-th draw is at least round(p·2³²). The probabilities
// are chosen so that the first elements' draws equal the threshold exactly:
// at equality the element is kept.
func TestDropoutMaskRule(t *testing.T) {
	const s1, s2 = 21, 22
	var g rand.PCG
	g.Seed(s1, s2)
	key := g.Uint64()
	var r rand.PCG
	r.Seed(key, splitmix64(0))
	first := r.Uint64()
	n := 2*dropChunk + 7
	for _, thresh := range []uint64{first & 0xffffffff, first >> 32} {
		p := float64(thresh) / (1 << 32)
		d, err := NewDropout("d", p, s1, s2)
		if err != nil {
			t.Fatal(err)
		}
		x := NewTensor(1, n)
		fill(x.Data, 1)
		y := d.Forward(x, true)
		scale := float32(1 / (1 - p))
		for c := 0; c*dropChunk < n; c++ {
			var r rand.PCG
			r.Seed(key, splitmix64(uint64(c)))
			for i := c * dropChunk; i < min(n, (c+1)*dropChunk); i += 2 {
				bits := r.Uint64()
				for h, half := range []uint64{bits & 0xffffffff, bits >> 32} {
					if i+h >= n {
						break
					}
					want := float32(0)
					if half >= thresh {
						want = scale
					}
					if y.Data[i+h] != want {
						t.Fatalf("p=%v: y[%d] = %g, want %g", p, i+h, y.Data[i+h], want)
					}
				}
			}
		}
	}
}

package nn

import (
	"fmt"
	"math"
	"testing"
)

// Batch norm over planes shorter than its four-way unrolled sums (1, 2, 3
// and 5 values per plane) still matches finite differences.
func TestBatchNormSmallPlanesGradients(t *testing.T) {
	for _, hw := range [][2]int{{1, 1}, {1, 2}, {1, 3}, {1, 5}} {
		for _, layout := range []Layout{NCHW, CNHW} {
			t.Run(fmt.Sprintf("%dx%d_%v", hw[0], hw[1], layout), func(t *testing.T) {
				rng := testRNG(12)
				b, _ := NewBatchNorm2D("bn", 2, 0, 0)
				perturbAffine(rng, b)
				x := withLayout(randTensor(rng, false, 3, 2, hw[0], hw[1]), layout)
				checkGradients(t, gradCase{layer: b, x: x, train: true})
			})
		}
	}
}

// A training batch of one value per channel normalises to β and updates
// the running variance with the biased variance 0 (there is no unbiased
// one), never with 0/0: the running statistics stay finite.
func TestBatchNormBatchOfOne(t *testing.T) {
	b, _ := NewBatchNorm1D("bn", 3, 0, 0.1)
	x := &Tensor{Shape: []int{1, 3}, Data: []float32{2, -1, 0.5}}
	y := b.Forward(x, true)
	for c := range 3 {
		if y.Data[c] != b.Beta.Data[c] {
			t.Errorf("y[%d] = %v, want β = %v", c, y.Data[c], b.Beta.Data[c])
		}
		wantMean := 0.1 * float64(x.Data[c])
		if !(math.Abs(float64(b.RunningMean[c])-wantMean) <= 1e-7) {
			t.Errorf("running mean %d = %v, want %v", c, b.RunningMean[c], wantMean)
		}
		if !(math.Abs(float64(b.RunningVar[c])-0.9) <= 1e-7) { // NaN-proof
			t.Errorf("running var %d = %v, want 0.9", c, b.RunningVar[c])
		}
	}
}

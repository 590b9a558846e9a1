package nn

import (
	"math"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// clConvGrads runs one forward and backward pass of a fresh convolution and
// returns its weight, bias and input gradients.
func clConvGrads(t *testing.T, inC, outC, k, stride, pad int, x *Tensor, relu bool) (dw, db, dx []float32) {
	t.Helper()
	c, err := NewConv2D("c", inC, outC, k, stride, pad, testRNG(11))
	if err != nil {
		t.Fatal(err)
	}
	c.relu = relu
	y := c.Forward(x, true)
	dy := randTensor(testRNG(12), false, y.Shape...)
	dy.Layout = y.Layout
	g := c.Backward(dy, true)
	return append([]float32(nil), c.W.Grad...), append([]float32(nil), c.B.Grad...), append([]float32(nil), g.Data...)
}

func firstBitDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestChannelsLastGradBitwise checks that the weight gradient packed from
// the channels-last input is bitwise the im2col path's, with every kernel
// set, on both input layouts, with padding, odd sizes, groups of several
// images and one, and one and two workers; and that the path is taken.
func TestChannelsLastGradBitwise(t *testing.T) {
	defer func(n int) { channelsLastMin = n }(channelsLastMin)
	defer func(b int) { colBudget = b }(colBudget)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	prev := kernels.Impl()
	defer func() {
		if err := kernels.SetImpl(prev); err != nil {
			t.Fatal(err)
		}
	}()
	for _, impl := range kernels.Impls() {
		if err := kernels.SetImpl(impl); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			inC, outC, k, pad, n, h, w int
			budget                     int
		}{
			{32, 64, 3, 0, 3, 12, 12, 1 << 18},
			{32, 64, 3, 0, 5, 12, 12, 1 << 10},
			{8, 5, 3, 1, 4, 7, 9, 1 << 18},
			{12, 7, 5, 2, 2, 9, 6, 1 << 12},
			{9, 3, 1, 0, 6, 5, 5, 1 << 18},
			{40, 13, 3, 1, 3, 6, 11, 1 << 11},
		} {
			for _, layout := range []Layout{NCHW, CNHW} {
				for _, procs := range []int{1, 2} {
					runtime.GOMAXPROCS(procs)
					colBudget = tc.budget
					x := withLayout(randTensor(testRNG(uint64(tc.inC)), false, tc.n, tc.inC, tc.h, tc.w), layout)
					channelsLastMin = 1 << 30
					w0, b0, x0 := clConvGrads(t, tc.inC, tc.outC, tc.k, 1, tc.pad, x, true)
					channelsLastMin = 1
					var cl atomic.Int64 // the hook runs on the pool's goroutines
					defer func(f func(bool, int, int, int, float32, []float32, int, kernels.PackB, float32, []float32, int)) {
						gemmSerialPackB = f
					}(gemmSerialPackB)
					gemmSerialPackB = func(transA bool, m, n, k int, alpha float32, a []float32, lda int, pack kernels.PackB, beta float32, c []float32, ldc int) {
						cl.Add(1)
						kernels.SgemmSerialPackB(transA, m, n, k, alpha, a, lda, pack, beta, c, ldc)
					}
					w1, b1, x1 := clConvGrads(t, tc.inC, tc.outC, tc.k, 1, tc.pad, x, true)
					if cl.Load() == 0 {
						t.Fatalf("%s %+v: the channels-last path was not taken", impl, tc)
					}
					for name, d := range map[string][2][]float32{"weight": {w0, w1}, "bias": {b0, b1}, "input": {x0, x1}} {
						if i := firstBitDiff(d[0], d[1]); i >= 0 {
							t.Errorf("%s %+v layout %v procs %d: %s gradient differs at %d", impl, tc, layout, procs, name, i)
						}
					}
				}
			}
		}
	}
}

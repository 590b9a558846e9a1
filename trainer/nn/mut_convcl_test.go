package nn

import (
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// packedFromChannelsLast runs one training step of a fresh convolution and
// reports whether its weight gradient was packed from the channels-last
// copy of the input.
func packedFromChannelsLast(t *testing.T, inC, stride int) bool {
	t.Helper()
	defer func(f func(bool, int, int, int, float32, []float32, int, kernels.PackB, float32, []float32, int)) {
		gemmSerialPackB = f
	}(gemmSerialPackB)
	var calls atomic.Int64 // the hook runs on the pool's goroutines
	gemmSerialPackB = func(transA bool, m, n, k int, alpha float32, a []float32, lda int, pack kernels.PackB, beta float32, c []float32, ldc int) {
		calls.Add(1)
		kernels.SgemmSerialPackB(transA, m, n, k, alpha, a, lda, pack, beta, c, ldc)
	}
	x := randTensor(testRNG(21), false, 2, inC, 6, 6)
	clConvGrads(t, inC, 4, 3, stride, 1, x, false)
	return calls.Load() > 0
}

// channelsLastMin is the fewest input channels that take the channels-last
// weight gradient: a layer with exactly that many does, one with one fewer
// does not, and a strided layer never does.
func TestChannelsLastThreshold(t *testing.T) {
	for _, tc := range []struct {
		inC, stride int
		want        bool
	}{
		{channelsLastMin, 1, true},
		{channelsLastMin - 1, 1, false},
		{channelsLastMin + 1, 1, true},
		{channelsLastMin, 2, false},
	} {
		if got := packedFromChannelsLast(t, tc.inC, tc.stride); got != tc.want {
			t.Errorf("%d input channels, stride %d: packed from the channels-last copy %v, want %v", tc.inC, tc.stride, got, tc.want)
		}
	}
}

// A layer that has run on larger images gives, on smaller ones, the same
// gradients bitwise as a fresh layer: the padding of the channels-last copy
// is zero again, not what the larger images left there.
func TestChannelsLastReusedOnSmallerImages(t *testing.T) {
	for _, pad := range []int{1, 2} {
		big := randTensor(testRNG(22), false, 3, 8, 9, 10)
		small := randTensor(testRNG(23), false, 2, 8, 6, 5)
		c, err := NewConv2D("c", 8, 4, 3, 1, pad, testRNG(11))
		if err != nil {
			t.Fatal(err)
		}
		if !c.channelsLastGrad() {
			t.Fatal("the layer does not take the channels-last path")
		}
		run := func(x *Tensor) (dw, dx []float32) {
			y := c.Forward(x, true)
			dy := randTensor(testRNG(12), false, y.Shape...)
			dy.Layout = y.Layout
			g := c.Backward(dy, true)
			return append([]float32(nil), c.W.Grad...), append([]float32(nil), g.Data...)
		}
		run(big)
		dw, dx := run(small)
		wantW, _, wantX := clConvGrads(t, 8, 4, 3, 1, pad, small, false)
		if i := firstBitDiff(dw, wantW); i >= 0 {
			t.Errorf("pad %d: weight gradient after larger images differs from a fresh layer's at %d", pad, i)
		}
		if i := firstBitDiff(dx, wantX); i >= 0 {
			t.Errorf("pad %d: input gradient after larger images differs from a fresh layer's at %d", pad, i)
		}
	}
}

// sameAsIm2col checks that a layer of the given shape on x has bitwise the
// same gradients with its weight and input gradients taken channels-last as
// through im2col.
func sameAsIm2col(t *testing.T, what string, inC, outC, k, pad int, x *Tensor, relu bool) {
	t.Helper()
	defer func(n int) { channelsLastMin = n }(channelsLastMin)
	channelsLastMin = 1 << 30
	w0, b0, x0 := clConvGrads(t, inC, outC, k, 1, pad, x, relu)
	channelsLastMin = 1
	w1, b1, x1 := clConvGrads(t, inC, outC, k, 1, pad, x, relu)
	for name, d := range map[string][2][]float32{"weight": {w0, w1}, "bias": {b0, b1}, "input": {x0, x1}} {
		if i := firstBitDiff(d[0], d[1]); i >= 0 {
			t.Errorf("%s: %s gradient differs from im2col's at %d", what, name, i)
		}
	}
}

// One input channel (the layer's planes are then the images themselves),
// with and without padding, on both layouts.
func TestChannelsLastOneInputChannel(t *testing.T) {
	for _, layout := range []Layout{NCHW, CNHW} {
		for _, pad := range []int{0, 1} {
			x := withLayout(randTensor(testRNG(24), false, 3, 1, 7, 6), layout)
			sameAsIm2col(t, fmt.Sprintf("%v pad %d", layout, pad), 1, 5, 3, pad, x, false)
		}
	}
}

// packB meets kernels.PackB's contract on its own: each panel holds op(B)
// = colᵀ (pixels × taps (kh, kw, ci)) step by step, the padded input's value
// or zero outside the image, and the lanes past the last column are zero
// whatever the buffer held, for a depth range that crosses images and
// output rows and a column range that starts inside a tap.
func TestChannelsLastPackB(t *testing.T) {
	const inC, k, pad, n, h, w = 8, 3, 1, 3, 5, 6
	x := randTensor(testRNG(25), false, n, inC, h, w)
	c, err := NewConv2D("c", inC, 2, k, 1, pad, testRNG(11))
	if err != nil {
		t.Fatal(err)
	}
	c.Forward(x, true)
	cl := newChannelsLast(c)
	cl.fill(0, n)
	ohw := c.oh * c.ow
	for _, r := range []struct{ nr, p0, pb, j0, cols int }{
		{8, 27, 20, 5, 67}, // last panel 3 columns wide
		{32, 0, n * ohw, 0, inC * k * k},
		{4, 1, 1, 70, 2},
	} {
		panels := (r.cols + r.nr - 1) / r.nr
		dst := make([]float32, panels*r.pb*r.nr)
		for i := range dst {
			dst[i] = 7
		}
		cl.packB(dst, r.nr, r.p0, r.pb, r.j0, r.cols)
		for q := range panels {
			for p := range r.pb {
				for j := range r.nr {
					got := dst[q*r.pb*r.nr+p*r.nr+j]
					var want float32
					if col := q*r.nr + j; col < r.cols {
						px, tap := r.p0+p, (r.j0+col)/inC
						ci := (r.j0 + col) % inC
						gi, oh, ow := px/ohw, px%ohw/c.ow, px%c.ow
						ih, iw := oh+tap/k-pad, ow+tap%k-pad
						if ih >= 0 && iw >= 0 && ih < h && iw < w {
							want = x.At(gi, ci, ih, iw)
						}
					}
					if math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%+v: panel %d step %d lane %d = %g, want %g", r, q, p, j, got, want)
					}
				}
			}
		}
	}
}

package nn

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// An input exactly as large as the kernel (after padding) gives one output
// row or column; one pixel less is refused, naming the sizes.
func TestConv2DOutShapeAtTheKernelSize(t *testing.T) {
	c, err := NewConv2D("c", 2, 4, 3, 1, 1, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want []int }{
		{[]int{2, 1, 1}, []int{4, 1, 1}},
		{[]int{2, 1, 5}, []int{4, 1, 5}},
		{[]int{2, 6, 1}, []int{4, 6, 1}},
	} {
		if got, err := c.OutShape(tc.in); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("OutShape(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	n, _ := NewConv2D("n", 2, 4, 3, 1, 0, testRNG(1))
	if got, err := n.OutShape([]int{2, 3, 3}); err != nil || !slices.Equal(got, []int{4, 1, 1}) {
		t.Errorf("OutShape([2 3 3]) without padding = %v, %v; want [4 1 1]", got, err)
	}
	// With a stride, (H + 2·pad − k) / stride + 1 rows and columns.
	s, _ := NewConv2D("s", 2, 4, 3, 2, 1, testRNG(1))
	for _, tc := range []struct{ in, want []int }{
		{[]int{2, 9, 8}, []int{4, 5, 4}},
		{[]int{2, 1, 1}, []int{4, 1, 1}},
		{[]int{2, 28, 27}, []int{4, 14, 14}},
	} {
		if got, err := s.OutShape(tc.in); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("stride 2: OutShape(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range [][]int{{2, 2, 3}, {2, 3, 2}} {
		want := fmt.Sprintf("nn: n: input %dx%d is smaller than the 3x3 kernel", in[1], in[2])
		if _, err := n.OutShape(in); err == nil || err.Error() != want {
			t.Errorf("OutShape(%v): %v, want %s", in, err, want)
		}
	}
}

// A kernel that overhangs a small input on both sides (a 5×5 kernel with
// padding 2 on 1- and 2-pixel-wide planes, so that some taps fall wholly in
// the padding): the output matches the direct convolution and the gradients
// the numerical ones, for both layouts and with one and several images per
// group.
func TestConv2DKernelOverhangingTheInput(t *testing.T) {
	defer func(b int) { colBudget = b }(colBudget)
	for _, tc := range []struct{ k, s, p, h, w int }{
		{5, 1, 2, 1, 1}, {5, 1, 2, 1, 2}, {5, 1, 2, 2, 1}, {5, 1, 2, 3, 1},
		{7, 1, 3, 2, 2}, {5, 2, 2, 1, 1}, {5, 2, 2, 2, 3}, {3, 2, 1, 1, 1},
	} {
		for _, budget := range []int{1, 1 << 20} {
			for _, layout := range []Layout{NCHW, CNHW} {
				name := fmt.Sprintf("k%d_s%d_p%d_%dx%d_budget%d_%v", tc.k, tc.s, tc.p, tc.h, tc.w, budget, layout)
				t.Run(name, func(t *testing.T) {
					colBudget = budget
					rng := testRNG(31)
					c, err := NewConv2D("conv", 2, 3, tc.k, tc.s, tc.p, rng)
					if err != nil {
						t.Fatal(err)
					}
					x := withLayout(randTensor(rng, false, 3, 2, tc.h, tc.w), layout)
					want := refConv(x, c)
					y := c.Forward(x, true).ToNCHW(nil)
					if len(y.Data) != len(want) {
						t.Fatalf("output %v, want %d values", y.Shape, len(want))
					}
					for i, w := range want {
						if math.Abs(float64(y.Data[i])-w) > 1e-5 {
							t.Fatalf("y[%d] = %g, want %g", i, y.Data[i], w)
						}
					}
					checkGradients(t, gradCase{layer: c, x: x, train: true})
				})
			}
		}
	}
}

// NewConv2D refuses a zero or negative channel count, kernel or stride and a
// negative padding, naming every value; zero padding is allowed.
func TestNewConv2DRefusesBadGeometry(t *testing.T) {
	for _, g := range [][5]int{
		{0, 4, 3, 1, 0}, {2, 0, 3, 1, 0}, {2, 4, 0, 1, 0}, {2, 4, 3, 0, 0}, {2, 4, 3, 1, -1},
		{-1, 4, 3, 1, 0}, {2, -4, 3, 1, 0}, {2, 4, -3, 1, 0}, {2, 4, 3, -1, 0},
	} {
		c, err := NewConv2D("bad", g[0], g[1], g[2], g[3], g[4], testRNG(1))
		want := fmt.Sprintf("nn: bad: invalid conv2d in=%d out=%d kernel=%d stride=%d padding=%d", g[0], g[1], g[2], g[3], g[4])
		if c != nil || err == nil || err.Error() != want {
			t.Errorf("NewConv2D%v: layer returned %t, error %v; want %s", g, c != nil, err, want)
		}
	}
	c, err := NewConv2D("ok", 1, 1, 1, 1, 0, testRNG(1))
	if err != nil || !reflect.DeepEqual(c.Spec(), LayerSpec{Type: "conv2d", Name: "ok", In: 1, Out: 1, Kernel: 1, Stride: 1}) {
		t.Errorf("NewConv2D(1, 1, 1, 1, 0) = %+v, %v", c, err)
	}
}

// colBudget bounds each worker's im2col buffer: a group holds as many images
// as fit in it (at least one), every group holds at least one image, and the
// result does not depend on the budget beyond rounding.
func TestConv2DGroupsWithinTheBudget(t *testing.T) {
	defer func(b int) { colBudget = b }(colBudget)
	rng := testRNG(41)
	c, err := NewConv2D("conv", 2, 3, 3, 1, 1, rng)
	if err != nil {
		t.Fatal(err)
	}
	const H, W = 5, 6
	per := c.kdim() * H * W // one image's im2col columns
	for _, n := range []int{1, 3, 8, 17, 40} {
		x := randTensor(rng, false, n, 2, H, W)
		want := refConv(x, c)
		for _, budget := range []int{1, per - 1, per, 2 * per, 3*per + 1, 5 * per, 1 << 20} {
			colBudget = budget
			y := c.Forward(x, false).ToNCHW(nil)
			fit := max(1, budget/per)
			if c.group < 1 || c.group > fit || c.groups*c.group < n || (c.groups-1)*c.group >= n {
				t.Errorf("n=%d budget=%d: %d groups of %d images, want groups of at most %d covering the batch", n, budget, c.groups, c.group, fit)
			}
			for i := range min(runtime.GOMAXPROCS(0), c.groups) {
				if len(c.cols[i]) > max(per, budget) {
					t.Errorf("n=%d budget=%d: worker %d's buffer holds %d floats", n, budget, i, len(c.cols[i]))
				}
			}
			for i, w := range want {
				if math.Abs(float64(y.Data[i])-w) > 1e-4 {
					t.Fatalf("n=%d budget=%d: y[%d] = %g, want %g", n, budget, i, y.Data[i], w)
				}
			}
		}
	}
}

// A convolution is initialised as torch.nn.Conv2d: weight by
// kaiming_uniform_(a=√5) and bias uniform in ±1/√fan_in, both bound
// 1/√(in·k·k), weight first, from the generator it is given.
func TestConv2DInitMatchesTorch(t *testing.T) {
	for _, tc := range []struct{ in, out, k int }{{1, 4, 1}, {3, 8, 3}, {16, 5, 5}} {
		c, err := NewConv2D("conv", tc.in, tc.out, tc.k, 1, 0, testRNG(uint64(tc.k)))
		if err != nil {
			t.Fatal(err)
		}
		ref := testRNG(uint64(tc.k))
		wantKaiming(t, "weight", c.W.Data, tc.in*tc.k*tc.k, ref)
		wantKaiming(t, "bias", c.B.Data, tc.in*tc.k*tc.k, ref)
	}
}

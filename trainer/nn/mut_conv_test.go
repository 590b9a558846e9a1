package nn

import (
	"fmt"
	"math"
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

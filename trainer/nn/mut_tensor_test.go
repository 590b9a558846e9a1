package nn

import (
	"fmt"
	"slices"
	"testing"
)

// At reads the logical NCHW element whatever the layout, ToNCHW undoes a
// CNHW layout, and planeOffset finds plane (n, c) in either layout.
func TestTensorLayouts(t *testing.T) {
	const N, C, H, W = 2, 3, 4, 5
	x := NewTensor(N, C, H, W)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	cn := withLayout(x, CNHW)
	for n := 0; n < N; n++ {
		for c := 0; c < C; c++ {
			for h := 0; h < H; h++ {
				for w := 0; w < W; w++ {
					want := float32(((n*C+c)*H+h)*W + w)
					if x.At(n, c, h, w) != want || cn.At(n, c, h, w) != want {
						t.Fatalf("At(%d,%d,%d,%d) = %v (NCHW), %v (CNHW), want %v", n, c, h, w, x.At(n, c, h, w), cn.At(n, c, h, w), want)
					}
				}
			}
			if o := planeOffset(x, n, c); o != (n*C+c)*H*W {
				t.Errorf("NCHW plane (%d,%d) at %d", n, c, o)
			}
			if o := planeOffset(cn, n, c); cn.Data[o] != float32((n*C+c)*H*W) || cn.Data[o+H*W-1] != float32((n*C+c+1)*H*W-1) {
				t.Errorf("CNHW plane (%d,%d) at %d", n, c, o)
			}
		}
	}
	back := cn.ToNCHW(nil)
	if back.Layout != NCHW || !slices.Equal(back.Shape, x.Shape) || !slices.Equal(back.Data, x.Data) {
		t.Error("ToNCHW does not undo CNHW")
	}
	if x.ToNCHW(nil) != x {
		t.Error("ToNCHW of an NCHW tensor should be the tensor itself")
	}
	r3 := &Tensor{Shape: []int{2, 3, 4}, Data: make([]float32, 24)}
	for i := range r3.Data {
		r3.Data[i] = float32(i)
	}
	if r3.At(1, 2, 3) != 23 || r3.At(1, 0, 2) != 14 || r3.At(0, 2, 1) != 9 {
		t.Errorf("rank-3 At: %v %v %v", r3.At(1, 2, 3), r3.At(1, 0, 2), r3.At(0, 2, 1))
	}
	defer func() {
		if recover() == nil {
			t.Error("At with the wrong number of indices did not panic")
		}
	}()
	r3.At(1, 2)
}

// A dimension of 0 is refused like a negative one, even when the data is
// empty and so matches the product: by FromSlice and as a model's input shape.
func TestZeroDimensionRefused(t *testing.T) {
	for _, shape := range [][]int{{0}, {2, 0}, {0, 3}, {1, -1}} {
		if _, err := FromSlice(nil, shape...); err == nil || err.Error() != fmt.Sprintf("nn: invalid shape %v: dimensions must be positive", shape) {
			t.Errorf("FromSlice(nil, %v): %v", shape, err)
		}
	}
	for _, in := range [][]int{{0}, {4, 0}, {0, 4, 4}} {
		_, err := NewSequential("m", in, 1, NewFlatten("flat"))
		if want := fmt.Sprintf("nn: model \"m\": invalid input shape %v", in); err == nil || err.Error() != want {
			t.Errorf("NewSequential with input %v: %v, want %s", in, err, want)
		}
	}
}

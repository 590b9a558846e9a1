// Package nn holds the layers, models and loss of the trainer: a minimal
// float32 tensor, layers with hand-written backward passes, and a Sequential
// container that can be described as JSON and rebuilt from it.
//
// All matrix products go through kernels.Sgemm; everything else that is worth
// spreading over cores (im2col, pooling, element-wise maps over a batch) runs
// on the same worker pool as the products (kernels.ParallelFor), at most one
// range per GOMAXPROCS. Each output element is
// written by exactly one goroutine and every reduction sums in a fixed order,
// so results never depend on scheduling.
//
// Layers own their output and gradient buffers and reuse them from step to
// step: after the first batch of the largest size, a training step allocates
// nothing. A tensor returned by Forward or Backward therefore stays valid only
// until the next call on the same layer.
package nn

import (
	"fmt"
	"slices"
)

// Layout is the physical order of a 4-D tensor's elements. Shapes are always
// written logically as [N, C, H, W].
type Layout uint8

const (
	// NCHW stores each sample's channels contiguously (the PyTorch order).
	NCHW Layout = iota
	// CNHW stores each channel's planes for the whole batch contiguously.
	// Convolutions produce it because it lets one GEMM write the output of
	// several images in place (row oc of the result is channel oc for all of
	// them), and it makes per-channel reductions contiguous.
	CNHW
)

func (l Layout) String() string {
	switch l {
	case NCHW:
		return "NCHW"
	case CNHW:
		return "CNHW"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// Tensor is a dense float32 array with a shape. The first dimension is the
// batch. Layout only matters for 4-D tensors.
type Tensor struct {
	Shape  []int
	Data   []float32
	Layout Layout
}

// NewTensor returns a zeroed NCHW tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	t := &Tensor{}
	t.resize(shape...)
	return t
}

// FromSlice wraps data (not copied) in a tensor of the given shape.
func FromSlice(data []float32, shape ...int) (*Tensor, error) {
	n, err := shapeSize(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("nn: shape %v needs %d values, got %d", shape, n, len(data))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}, nil
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns dimension i.
func (t *Tensor) Dim(i int) int { return t.Shape[i] }

// Sample returns the shape without the batch dimension.
func (t *Tensor) Sample() []int { return t.Shape[1:] }

// At returns the element at the logical NCHW index (or any rank for
// non-4-D tensors), honouring the layout. Meant for tests and debugging, not
// hot loops.
func (t *Tensor) At(idx ...int) float32 { return t.Data[t.offset(idx)] }

func (t *Tensor) offset(idx []int) int {
	if len(idx) != len(t.Shape) {
		panic(fmt.Sprintf("nn: index %v for shape %v", idx, t.Shape))
	}
	if len(t.Shape) == 4 && t.Layout == CNHW {
		n, c, h, w := idx[0], idx[1], idx[2], idx[3]
		N, H, W := t.Shape[0], t.Shape[2], t.Shape[3]
		return ((c*N+n)*H+h)*W + w
	}
	off := 0
	for i, v := range idx {
		off = off*t.Shape[i] + v
	}
	return off
}

// ToNCHW returns the tensor in NCHW order: t itself if it already is, else a
// reordered copy written into dst (allocated when nil or too small).
func (t *Tensor) ToNCHW(dst *Tensor) *Tensor {
	if len(t.Shape) != 4 || t.Layout == NCHW {
		return t
	}
	if dst == nil {
		dst = &Tensor{}
	}
	dst.resize(t.Shape...)
	dst.Layout = NCHW
	N, C, plane := t.Shape[0], t.Shape[1], t.Shape[2]*t.Shape[3]
	for n := 0; n < N; n++ {
		for c := 0; c < C; c++ {
			copy(dst.Data[(n*C+c)*plane:(n*C+c+1)*plane], t.Data[(c*N+n)*plane:(c*N+n+1)*plane])
		}
	}
	return dst
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data), Layout: t.Layout}
}

// resize sets the shape, reusing the backing array when it is large enough.
// Contents are unspecified afterwards. Layout is reset to NCHW.
func (t *Tensor) resize(shape ...int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	t.Shape = append(t.Shape[:0], shape...)
	if cap(t.Data) >= n {
		t.Data = t.Data[:n]
	} else {
		t.Data = make([]float32, n)
	}
	t.Layout = NCHW
}

// planeOffset returns where plane (n, c) of a 4-D tensor starts.
func planeOffset(t *Tensor, n, c int) int {
	N, C, plane := t.Shape[0], t.Shape[1], t.Shape[2]*t.Shape[3]
	if t.Layout == CNHW {
		return (c*N + n) * plane
	}
	return (n*C + c) * plane
}

func shapeSize(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("nn: invalid shape %v: dimensions must be positive", shape)
		}
		n *= d
	}
	return n, nil
}

// growF32 returns s resliced to n, reallocating only when capacity is short.
func growF32(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

func growF64(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n)
}

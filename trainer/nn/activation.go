package nn

import (
	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// elementGrain is the smallest slice of an element-wise map worth handing to
// another goroutine.
const elementGrain = 1 << 14

// ReLU is max(x, 0). Its gradient at 0 is taken as 0, as in PyTorch.
type ReLU struct {
	name         string
	y, dx        Tensor
	x, dy        *Tensor
	fwdFn, bwdFn func(lo, hi int)
}

// NewReLU returns a ReLU layer.
func NewReLU(name string) *ReLU {
	r := &ReLU{name: name}
	r.fwdFn = r.forwardRange
	r.bwdFn = r.backwardRange
	return r
}

func (r *ReLU) Name() string                     { return r.name }
func (r *ReLU) Params() []*Param                 { return nil }
func (r *ReLU) Spec() LayerSpec                  { return LayerSpec{Type: "relu", Name: r.name} }
func (r *ReLU) OutShape(in []int) ([]int, error) { return append([]int(nil), in...), nil }

func (r *ReLU) Forward(x *Tensor, train bool) *Tensor {
	r.x = x
	r.y.resize(x.Shape...)
	r.y.Layout = x.Layout
	parallelFor(len(x.Data), elementGrain, r.fwdFn)
	return &r.y
}

func (r *ReLU) forwardRange(lo, hi int) {
	kernels.Relu(r.y.Data[lo:hi], r.x.Data[lo:hi])
}

func (r *ReLU) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	r.dy = dy
	r.dx.resize(dy.Shape...)
	r.dx.Layout = dy.Layout
	parallelFor(len(dy.Data), elementGrain, r.bwdFn)
	return &r.dx
}

func (r *ReLU) backwardRange(lo, hi int) {
	kernels.ReluGrad(r.dx.Data[lo:hi], r.dy.Data[lo:hi], r.y.Data[lo:hi])
}

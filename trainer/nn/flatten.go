package nn

import "fmt"

// Flatten turns [N, C, H, W] (or any rank) into [N, C·H·W] in NCHW order,
// the order PyTorch's flatten produces, so dense weights after it exchange
// with PyTorch unchanged. An NCHW input is reshaped without copying; a CNHW
// one is transposed.
type Flatten struct {
	name  string
	x, dy *Tensor
	view  Tensor // forward reshape of an NCHW input
	dview Tensor // backward reshape
	y, dx Tensor
	fwdFn func(lo, hi int)
	bwdFn func(lo, hi int)
}

// NewFlatten returns a Flatten layer.
func NewFlatten(name string) *Flatten {
	f := &Flatten{name: name}
	f.fwdFn = f.forwardRange
	f.bwdFn = f.backwardRange
	return f
}

func (f *Flatten) Name() string     { return f.name }
func (f *Flatten) Params() []*Param { return nil }
func (f *Flatten) Spec() LayerSpec  { return LayerSpec{Type: "flatten", Name: f.name} }

func (f *Flatten) OutShape(in []int) ([]int, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("nn: %s: flatten needs a per-sample shape", f.name)
	}
	n := 1
	for _, d := range in {
		n *= d
	}
	return []int{n}, nil
}

func (f *Flatten) Forward(x *Tensor, train bool) *Tensor {
	f.x = x
	n := x.Shape[0]
	d := len(x.Data) / n
	if len(x.Shape) != 4 || x.Layout == NCHW {
		f.view.Shape = append(f.view.Shape[:0], n, d)
		f.view.Data = x.Data
		f.view.Layout = NCHW
		return &f.view
	}
	f.y.resize(n, d)
	parallelFor(n, 8, f.fwdFn)
	return &f.y
}

// forwardRange copies samples [lo, hi) from CNHW to rows of y.
func (f *Flatten) forwardRange(lo, hi int) {
	N, C, plane := f.x.Shape[0], f.x.Shape[1], f.x.Shape[2]*f.x.Shape[3]
	for n := lo; n < hi; n++ {
		for c := 0; c < C; c++ {
			copy(f.y.Data[(n*C+c)*plane:(n*C+c+1)*plane], f.x.Data[(c*N+n)*plane:(c*N+n+1)*plane])
		}
	}
}

func (f *Flatten) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	x := f.x
	if len(x.Shape) != 4 || x.Layout == NCHW {
		f.dview.Shape = append(f.dview.Shape[:0], x.Shape...)
		f.dview.Data = dy.Data
		f.dview.Layout = x.Layout
		return &f.dview
	}
	f.dy = dy
	f.dx.resize(x.Shape...)
	f.dx.Layout = CNHW
	parallelFor(x.Shape[0], 8, f.bwdFn)
	return &f.dx
}

func (f *Flatten) backwardRange(lo, hi int) {
	N, C, plane := f.x.Shape[0], f.x.Shape[1], f.x.Shape[2]*f.x.Shape[3]
	for n := lo; n < hi; n++ {
		for c := 0; c < C; c++ {
			copy(f.dx.Data[(c*N+n)*plane:(c*N+n+1)*plane], f.dy.Data[(n*C+c)*plane:(n*C+c+1)*plane])
		}
	}
}

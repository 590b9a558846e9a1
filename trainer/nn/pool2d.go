package nn

import (
	"fmt"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// MaxPool2D takes the maximum over k×k windows moved by stride, without
// padding (PyTorch's MaxPool2d with floor rounding). It works plane by plane,
// so it keeps whatever layout its input has. It remembers the winning
// position of each window for the backward pass; on ties the first position
// in row-major order wins.
type MaxPool2D struct {
	name      string
	k, stride int

	x            *Tensor
	planes, h, w int
	oh, ow       int
	y, dx        Tensor
	dy           *Tensor
	arg          []int32
	fwdFn, bwdFn func(lo, hi int)
}

// NewMaxPool2D returns a max-pooling layer; stride 0 means stride = k.
func NewMaxPool2D(name string, k, stride int) (*MaxPool2D, error) {
	if stride == 0 {
		stride = k
	}
	if k <= 0 || stride <= 0 {
		return nil, fmt.Errorf("nn: %s: invalid maxpool2d kernel=%d stride=%d", name, k, stride)
	}
	m := &MaxPool2D{name: name, k: k, stride: stride}
	m.fwdFn = m.forwardRange
	m.bwdFn = m.backwardRange
	return m, nil
}

func (m *MaxPool2D) Name() string     { return m.name }
func (m *MaxPool2D) Params() []*Param { return nil }
func (m *MaxPool2D) Spec() LayerSpec {
	return LayerSpec{Type: "maxpool2d", Name: m.name, Kernel: m.k, Stride: m.stride}
}

// CommutesWith lets a ReLU in front of the pooling run after it: max is
// monotone, so values and gradients are identical and the ReLU touches a
// quarter of the data (see Commuter).
func (m *MaxPool2D) CommutesWith(prev Layer) bool {
	_, ok := prev.(*ReLU)
	return ok
}

func (m *MaxPool2D) OutShape(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("nn: %s: maxpool2d expects input [C H W], got %v", m.name, in)
	}
	if in[1] < m.k || in[2] < m.k {
		return nil, fmt.Errorf("nn: %s: input %dx%d is smaller than the %dx%d window", m.name, in[1], in[2], m.k, m.k)
	}
	return []int{in[0], (in[1]-m.k)/m.stride + 1, (in[2]-m.k)/m.stride + 1}, nil
}

func (m *MaxPool2D) Forward(x *Tensor, train bool) *Tensor {
	m.x = x
	n, c := x.Shape[0], x.Shape[1]
	m.planes, m.h, m.w = n*c, x.Shape[2], x.Shape[3]
	m.oh, m.ow = (m.h-m.k)/m.stride+1, (m.w-m.k)/m.stride+1
	m.y.resize(n, c, m.oh, m.ow)
	m.y.Layout = x.Layout
	if need := len(m.y.Data); cap(m.arg) >= need {
		m.arg = m.arg[:need]
	} else {
		m.arg = make([]int32, need)
	}
	parallelFor(m.planes, 1, m.fwdFn)
	return &m.y
}

func (m *MaxPool2D) forwardRange(lo, hi int) {
	H, W, OH, OW, k, s := m.h, m.w, m.oh, m.ow, m.k, m.stride
	for p := lo; p < hi; p++ {
		xp := m.x.Data[p*H*W : (p+1)*H*W]
		yp := m.y.Data[p*OH*OW : (p+1)*OH*OW]
		ap := m.arg[p*OH*OW : (p+1)*OH*OW]
		if k == 2 && s == 2 {
			kernels.MaxPool2x2(yp, ap, xp, OH, OW, W)
			continue
		}
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				at := oh*s*W + ow*s
				best := xp[at]
				for kh := 0; kh < k; kh++ {
					row := (oh*s+kh)*W + ow*s
					for kw := 0; kw < k; kw++ {
						if v := xp[row+kw]; v > best {
							best, at = v, row+kw
						}
					}
				}
				yp[oh*OW+ow], ap[oh*OW+ow] = best, int32(at)
			}
		}
	}
}

func (m *MaxPool2D) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	m.dy = dy
	m.dx.resize(m.x.Shape...)
	m.dx.Layout = m.x.Layout
	parallelFor(m.planes, 1, m.bwdFn)
	return &m.dx
}

func (m *MaxPool2D) backwardRange(lo, hi int) {
	hw, ohw := m.h*m.w, m.oh*m.ow
	for p := lo; p < hi; p++ {
		dp := m.dx.Data[p*hw : (p+1)*hw]
		clear(dp)
		g := m.dy.Data[p*ohw : (p+1)*ohw]
		a := m.arg[p*ohw : (p+1)*ohw]
		for i, v := range g {
			dp[a[i]] += v
		}
	}
}

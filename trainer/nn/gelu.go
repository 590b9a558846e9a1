package nn

import "github.com/shardsmith/shardsmith/trainer/kernels"

// GELU is the exact Gaussian error linear unit x·Φ(x) = ½x(1 + erf(x/√2))
// (torch.nn.GELU() with approximate='none', which timm's ViT MLPs use), not
// the tanh approximation: a checkpoint then gives the same outputs in
// PyTorch. Φ comes from kernels.GELU: a float32 erf within 1 ulp of
// math.Erf, vectorised, and bitwise the same in every kernel set.
type GELU struct {
	name         string
	x, dy        *Tensor
	y, dx        Tensor
	fwdFn, bwdFn func(lo, hi int)
}

// NewGELU returns a GELU layer.
func NewGELU(name string) *GELU {
	g := &GELU{name: name}
	g.fwdFn, g.bwdFn = g.forwardRange, g.backwardRange
	return g
}

func (g *GELU) Name() string                     { return g.name }
func (g *GELU) Params() []*Param                 { return nil }
func (g *GELU) Spec() LayerSpec                  { return LayerSpec{Type: "gelu", Name: g.name} }
func (g *GELU) OutShape(in []int) ([]int, error) { return append([]int(nil), in...), nil }

func (g *GELU) Forward(x *Tensor, train bool) *Tensor {
	g.x = x
	g.y.resize(x.Shape...)
	g.y.Layout = x.Layout
	parallelForWork(len(x.Data), elementGrain, nsGELU, g.fwdFn)
	return &g.y
}

func (g *GELU) forwardRange(lo, hi int) {
	kernels.GELU(g.y.Data[lo:hi], g.x.Data[lo:hi])
}

// Backward: d/dx x·Φ(x) = Φ(x) + x·φ(x), φ the standard normal density.
func (g *GELU) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	g.dy = dy
	g.dx.resize(dy.Shape...)
	g.dx.Layout = dy.Layout
	parallelForWork(len(dy.Data), elementGrain, nsGELU, g.bwdFn)
	return &g.dx
}

func (g *GELU) backwardRange(lo, hi int) {
	kernels.GELUGrad(g.dx.Data[lo:hi], g.dy.Data[lo:hi], g.x.Data[lo:hi])
}

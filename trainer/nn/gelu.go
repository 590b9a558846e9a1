package nn

import "math"

// GELU is the exact Gaussian error linear unit x·Φ(x) = ½x(1 + erf(x/√2))
// (torch.nn.GELU() with approximate='none', which timm's ViT MLPs use), not
// the tanh approximation: a checkpoint then gives the same outputs in
// PyTorch. Values are computed in float64 and rounded once.
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
	parallelFor(len(x.Data), elementGrain, g.fwdFn)
	return &g.y
}

func (g *GELU) forwardRange(lo, hi int) {
	y := g.y.Data[lo:hi]
	for i, v := range g.x.Data[lo:hi] {
		x := float64(v)
		y[i] = float32(0.5 * x * (1 + math.Erf(x*math.Sqrt2/2)))
	}
}

// Backward: d/dx x·Φ(x) = Φ(x) + x·φ(x), φ the standard normal density.
func (g *GELU) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	g.dy = dy
	g.dx.resize(dy.Shape...)
	g.dx.Layout = dy.Layout
	parallelFor(len(dy.Data), elementGrain, g.bwdFn)
	return &g.dx
}

// invSqrt2Pi is 1/√(2π), the standard normal density at 0.
const invSqrt2Pi = 0.3989422804014327

func (g *GELU) backwardRange(lo, hi int) {
	dx := g.dx.Data[lo:hi]
	x := g.x.Data[lo:hi]
	for i, d := range g.dy.Data[lo:hi] {
		v := float64(x[i])
		cdf := 0.5 * (1 + math.Erf(v*math.Sqrt2/2))
		pdf := invSqrt2Pi * math.Exp(-0.5*v*v)
		dx[i] = float32(float64(d) * (cdf + v*pdf))
	}
}

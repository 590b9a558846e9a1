package nn

import (
	"fmt"
	"math"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// DefaultLayerNormEps is the ε of timm's Vision Transformer norms
// (partial(nn.LayerNorm, eps=1e-6)); PyTorch's own default is 1e-5.
const DefaultLayerNormEps = 1e-6

// rowGrain is the smallest number of rows of a row-wise pass (LayerNorm,
// softmax) worth handing to another goroutine.
const rowGrain = 64

// LayerNorm normalises each sample's last dimension to zero mean and unit
// variance and applies a per-feature scale and shift (torch.nn.LayerNorm over
// the last dimension):
//
//	y = γ·(x − μ)/√(σ² + ε) + β
//
// with μ and σ² the row's mean and biased variance, accumulated in float64.
// Any input rank works: every row of the last dimension is normalised on its
// own, which is what lets class-token pooling run before it (see ClassPool).
// Parameters are "<name>.weight" (γ, ones) and "<name>.bias" (β, zeros).
type LayerNorm struct {
	name    string
	d       int
	eps     float64
	G, B    *Param
	params  []*Param
	x, dy   *Tensor
	y, dx   Tensor
	rows    int
	mean    []float32
	rstd    []float32
	needDX  bool
	gsum    []float64 // per-feature γ and β gradient sums, [2·d]
	fwdFn   func(lo, hi int)
	bwdFn   func(lo, hi int)
	paramFn func(lo, hi int)
}

// NewLayerNorm returns a LayerNorm over d features; eps 0 means
// DefaultLayerNormEps.
func NewLayerNorm(name string, d int, eps float64) (*LayerNorm, error) {
	if d <= 0 {
		return nil, fmt.Errorf("nn: %s: layer norm needs a positive width, got %d", name, d)
	}
	if eps == 0 {
		eps = DefaultLayerNormEps
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return nil, fmt.Errorf("nn: %s: layer norm eps must be positive and finite, got %g", name, eps)
	}
	l := &LayerNorm{name: name, d: d, eps: eps,
		G: newParam(name+".weight", d),
		B: newParam(name+".bias", d),
	}
	fill(l.G.Data, 1)
	l.params = []*Param{l.G, l.B}
	l.fwdFn, l.bwdFn, l.paramFn = l.forwardRows, l.backwardRows, l.paramGrads
	return l, nil
}

func (l *LayerNorm) Name() string     { return l.name }
func (l *LayerNorm) Params() []*Param { return l.params }
func (l *LayerNorm) Spec() LayerSpec {
	return LayerSpec{Type: "layernorm", Name: l.name, In: l.d, Eps: l.eps}
}

func (l *LayerNorm) OutShape(in []int) ([]int, error) {
	if len(in) == 0 || in[len(in)-1] != l.d {
		return nil, fmt.Errorf("nn: %s: layer norm expects input [… %d], got %v", l.name, l.d, in)
	}
	return append([]int(nil), in...), nil
}

func (l *LayerNorm) Forward(x *Tensor, train bool) *Tensor {
	l.x = x
	l.rows = len(x.Data) / l.d
	l.y.resize(x.Shape...)
	l.mean = growF32(l.mean, l.rows)
	l.rstd = growF32(l.rstd, l.rows)
	parallelForWork(l.rows, rowGrain, nsLayerNorm*float64(l.d), l.fwdFn)
	return &l.y
}

func (l *LayerNorm) forwardRows(lo, hi int) {
	d := l.d
	kernels.LayerNorm(l.y.Data[lo*d:hi*d], l.mean[lo:hi], l.rstd[lo:hi], l.x.Data[lo*d:hi*d], l.G.Data, l.B.Data, d, l.eps)
}

// Backward: with x̂ the normalised input and g = dy·γ,
// dx = (g − mean(g) − x̂·mean(g·x̂))/σ, dγ = Σ dy·x̂ and dβ = Σ dy over rows.
func (l *LayerNorm) Backward(dy *Tensor, needDX bool) *Tensor {
	l.dy, l.needDX = dy, needDX
	if !l.G.Frozen || !l.B.Frozen {
		l.gsum = growF64(l.gsum, 2*l.d)
		// Split by feature: each range sums its features over all rows in
		// row order, so the sums do not depend on the number of workers.
		parallelForWork(l.d, 16, nsParamSum*float64(l.rows), l.paramFn)
		for j := 0; j < l.d; j++ {
			if !l.G.Frozen {
				l.G.Grad[j] = float32(l.gsum[j])
			}
			if !l.B.Frozen {
				l.B.Grad[j] = float32(l.gsum[l.d+j])
			}
		}
	}
	if !needDX {
		return nil
	}
	l.dx.resize(l.x.Shape...)
	parallelForWork(l.rows, rowGrain, nsLayerNormDx*float64(l.d), l.bwdFn)
	return &l.dx
}

func (l *LayerNorm) paramGrads(lo, hi int) {
	d := l.d
	dg, db := l.gsum[lo:hi], l.gsum[d+lo:d+hi]
	clear(dg)
	clear(db)
	for r := 0; r < l.rows; r++ {
		x := l.x.Data[r*d+lo : r*d+hi]
		dy := l.dy.Data[r*d+lo : r*d+hi]
		m, s := l.mean[r], l.rstd[r]
		for j, v := range dy {
			dg[j] += float64(v * ((x[j] - m) * s))
			db[j] += float64(v)
		}
	}
}

func (l *LayerNorm) backwardRows(lo, hi int) {
	d := l.d
	kernels.LayerNormGrad(l.dx.Data[lo*d:hi*d], l.dy.Data[lo*d:hi*d], l.x.Data[lo*d:hi*d], l.G.Data, l.mean[lo:hi], l.rstd[lo:hi], d)
}

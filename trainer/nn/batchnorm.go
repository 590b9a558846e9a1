package nn

import (
	"fmt"
	"math"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// BatchNorm normalises each channel (BatchNorm2D: per C over N, H, W) or
// feature (BatchNorm1D: per feature over N) with batch statistics while
// training and running statistics in evaluation, then applies a learned
// scale and shift. Running statistics follow PyTorch: momentum-weighted,
// with the unbiased batch variance. Sums are taken in float64, per channel,
// in sample order.
type BatchNorm struct {
	params        []*Param
	name          string
	twoD          bool
	c             int
	eps, momentum float64
	Gamma, Beta   *Param
	RunningMean   []float32
	RunningVar    []float32

	train        bool
	x, dy        *Tensor
	y, dx        Tensor
	xhat         []float32
	invstd       []float32
	sumDy        []float64
	sumDyXhat    []float64
	acc          []float64
	needDX       bool
	fwdFn, bwdFn func(lo, hi int)
}

// NewBatchNorm1D normalises [N, features] inputs. eps 0 means 1e-5 and
// momentum 0 means 0.1 (PyTorch defaults).
func NewBatchNorm1D(name string, features int, eps, momentum float64) (*BatchNorm, error) {
	return newBatchNorm(name, false, features, eps, momentum)
}

// NewBatchNorm2D normalises [N, C, H, W] inputs per channel.
func NewBatchNorm2D(name string, channels int, eps, momentum float64) (*BatchNorm, error) {
	return newBatchNorm(name, true, channels, eps, momentum)
}

func newBatchNorm(name string, twoD bool, c int, eps, momentum float64) (*BatchNorm, error) {
	if eps == 0 {
		eps = 1e-5
	}
	if momentum == 0 {
		momentum = 0.1
	}
	if c <= 0 || eps < 0 || momentum < 0 || momentum > 1 {
		return nil, fmt.Errorf("nn: %s: invalid batch norm channels=%d eps=%v momentum=%v", name, c, eps, momentum)
	}
	b := &BatchNorm{name: name, twoD: twoD, c: c, eps: eps, momentum: momentum,
		Gamma:       newParam(name+".weight", c),
		Beta:        newParam(name+".bias", c),
		RunningMean: make([]float32, c),
		RunningVar:  make([]float32, c),
		invstd:      make([]float32, c),
		sumDy:       make([]float64, c),
		sumDyXhat:   make([]float64, c),
		acc:         make([]float64, 2*c),
	}
	b.params = []*Param{b.Gamma, b.Beta}
	fill(b.Gamma.Data, 1)
	fill(b.RunningVar, 1)
	if twoD {
		b.fwdFn, b.bwdFn = b.forward2D, b.backward2D
	} else {
		b.fwdFn, b.bwdFn = b.forward1D, b.backward1D
	}
	return b, nil
}

func (b *BatchNorm) Name() string     { return b.name }
func (b *BatchNorm) Params() []*Param { return b.params }

// Buffers returns the running statistics under PyTorch's names.
func (b *BatchNorm) Buffers() []Named {
	return []Named{
		{Name: b.name + ".running_mean", Shape: []int{b.c}, Data: b.RunningMean},
		{Name: b.name + ".running_var", Shape: []int{b.c}, Data: b.RunningVar},
	}
}

func (b *BatchNorm) Spec() LayerSpec {
	t := "batchnorm1d"
	if b.twoD {
		t = "batchnorm2d"
	}
	return LayerSpec{Type: t, Name: b.name, In: b.c, Eps: b.eps, Momentum: b.momentum}
}

func (b *BatchNorm) OutShape(in []int) ([]int, error) {
	if b.twoD && (len(in) != 3 || in[0] != b.c) {
		return nil, fmt.Errorf("nn: %s: batchnorm2d expects input [%d H W], got %v", b.name, b.c, in)
	}
	if !b.twoD && (len(in) != 1 || in[0] != b.c) {
		return nil, fmt.Errorf("nn: %s: batchnorm1d expects input [%d], got %v", b.name, b.c, in)
	}
	return append([]int(nil), in...), nil
}

func (b *BatchNorm) Forward(x *Tensor, train bool) *Tensor {
	b.x, b.train = x, train
	b.y.resize(x.Shape...)
	b.y.Layout = x.Layout
	b.xhat = growF32(b.xhat, len(x.Data))
	parallelFor(b.c, 1, b.fwdFn)
	return &b.y
}

func (b *BatchNorm) Backward(dy *Tensor, needDX bool) *Tensor {
	b.dy, b.needDX = dy, needDX
	if needDX {
		b.dx.resize(dy.Shape...)
		b.dx.Layout = dy.Layout
	}
	parallelFor(b.c, 1, b.bwdFn)
	if !needDX {
		return nil
	}
	return &b.dx
}

// stats turns batch sums into the normalisation of channel c and updates the
// running statistics; in evaluation it uses the running statistics.
func (b *BatchNorm) stats(c int, mean, sqdev float64, m int) (float64, float32) {
	if !b.train {
		return float64(b.RunningMean[c]), float32(1 / math.Sqrt(float64(b.RunningVar[c])+b.eps))
	}
	v := sqdev / float64(m)
	unbiased := v
	if m > 1 {
		unbiased = sqdev / float64(m-1)
	}
	mo := b.momentum
	b.RunningMean[c] = float32((1-mo)*float64(b.RunningMean[c]) + mo*mean)
	b.RunningVar[c] = float32((1-mo)*float64(b.RunningVar[c]) + mo*unbiased)
	return mean, float32(1 / math.Sqrt(v+b.eps))
}

func (b *BatchNorm) forward2D(lo, hi int) {
	x := b.x
	N, plane := x.Shape[0], x.Shape[2]*x.Shape[3]
	m := N * plane
	for c := lo; c < hi; c++ {
		var mean, sq float64
		if b.train {
			var s float64
			for n := 0; n < N; n++ {
				off := planeOffset(x, n, c)
				s += float64(kernels.Sum(x.Data[off : off+plane]))
			}
			mean = s / float64(m)
			for n := 0; n < N; n++ {
				off := planeOffset(x, n, c)
				sq += float64(sqDev32(x.Data[off:off+plane], float32(mean)))
			}
		}
		mu, inv := b.stats(c, mean, sq, m)
		b.invstd[c] = inv
		g, be, mu32 := b.Gamma.Data[c], b.Beta.Data[c], float32(mu)
		for n := 0; n < N; n++ {
			off := planeOffset(x, n, c)
			xs := x.Data[off : off+plane]
			xh := b.xhat[off : off+plane]
			ys := b.y.Data[off : off+plane]
			xh = xh[:len(xs)]
			ys = ys[:len(xs)]
			for i, v := range xs {
				h := (v - mu32) * inv
				xh[i] = h
				ys[i] = g*h + be
			}
		}
	}
}

func (b *BatchNorm) backward2D(lo, hi int) {
	dy := b.dy
	N, plane := dy.Shape[0], dy.Shape[2]*dy.Shape[3]
	m := float32(N * plane)
	for c := lo; c < hi; c++ {
		var sdy, sdyx float64
		for n := 0; n < N; n++ {
			off := planeOffset(dy, n, c)
			g := dy.Data[off : off+plane]
			xh := b.xhat[off : off+plane]
			a, q := sumDot32(g, xh)
			sdy += float64(a)
			sdyx += float64(q)
		}
		b.writeParamGrads(c, sdy, sdyx)
		if !b.needDX {
			continue
		}
		k := b.Gamma.Data[c] * b.invstd[c]
		mdy, mdyx := float32(sdy)/m, float32(sdyx)/m
		if !b.train {
			mdy, mdyx = 0, 0
		}
		for n := 0; n < N; n++ {
			off := planeOffset(dy, n, c)
			g := dy.Data[off : off+plane]
			xh := b.xhat[off : off+plane]
			d := b.dx.Data[off : off+plane]
			xh = xh[:len(g)]
			d = d[:len(g)]
			for i, v := range g {
				d[i] = k * (v - mdy - xh[i]*mdyx)
			}
		}
	}
}

func (b *BatchNorm) writeParamGrads(c int, sdy, sdyx float64) {
	if !b.Beta.Frozen {
		b.Beta.Grad[c] = float32(sdy)
	}
	if !b.Gamma.Frozen {
		b.Gamma.Grad[c] = float32(sdyx)
	}
}

// forward1D handles features [lo, hi) of an [N, F] input, walking rows in
// order so the inner loop is contiguous.
func (b *BatchNorm) forward1D(lo, hi int) {
	x := b.x
	N, F := x.Shape[0], b.c
	mean := b.acc[lo:hi]
	sq := b.acc[b.c+lo : b.c+hi]
	clear(mean)
	clear(sq)
	if b.train {
		for n := 0; n < N; n++ {
			row := x.Data[n*F+lo : n*F+hi]
			for i, v := range row {
				mean[i] += float64(v)
			}
		}
		for i := range mean {
			mean[i] /= float64(N)
		}
		for n := 0; n < N; n++ {
			row := x.Data[n*F+lo : n*F+hi]
			for i, v := range row {
				d := float64(v) - mean[i]
				sq[i] += d * d
			}
		}
	}
	for i := range mean {
		mu, inv := b.stats(lo+i, mean[i], sq[i], N)
		mean[i] = mu
		b.invstd[lo+i] = inv
	}
	g, be, inv := b.Gamma.Data[lo:hi], b.Beta.Data[lo:hi], b.invstd[lo:hi]
	for n := 0; n < N; n++ {
		xs := x.Data[n*F+lo : n*F+hi]
		xh := b.xhat[n*F+lo : n*F+hi]
		ys := b.y.Data[n*F+lo : n*F+hi]
		for i, v := range xs {
			h := (v - float32(mean[i])) * inv[i]
			xh[i] = h
			ys[i] = g[i]*h + be[i]
		}
	}
}

func (b *BatchNorm) backward1D(lo, hi int) {
	dy := b.dy
	N, F := dy.Shape[0], b.c
	sdy, sdyx := b.sumDy[lo:hi], b.sumDyXhat[lo:hi]
	clear(sdy)
	clear(sdyx)
	for n := 0; n < N; n++ {
		g := dy.Data[n*F+lo : n*F+hi]
		xh := b.xhat[n*F+lo : n*F+hi]
		for i, v := range g {
			sdy[i] += float64(v)
			sdyx[i] += float64(v * xh[i])
		}
	}
	for i := range sdy {
		b.writeParamGrads(lo+i, sdy[i], sdyx[i])
	}
	if !b.needDX {
		return
	}
	m := float64(N)
	for n := 0; n < N; n++ {
		g := dy.Data[n*F+lo : n*F+hi]
		xh := b.xhat[n*F+lo : n*F+hi]
		d := b.dx.Data[n*F+lo : n*F+hi]
		for i, v := range g {
			k := b.Gamma.Data[lo+i] * b.invstd[lo+i]
			if b.train {
				d[i] = k * (v - float32(sdy[i]/m) - xh[i]*float32(sdyx[i]/m))
			} else {
				d[i] = k * v
			}
		}
	}
}

// sqDev32 returns Σ (v−mean)² with four independent accumulators (a fixed
// order; independent chains keep the adder pipelines full).
func sqDev32(v []float32, mean float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		d0, d1, d2, d3 := v[i]-mean, v[i+1]-mean, v[i+2]-mean, v[i+3]-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(v); i++ {
		d := v[i] - mean
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// sumDot32 returns Σ g and Σ g·h, each with four accumulators.
func sumDot32(g, h []float32) (float32, float32) {
	h = h[:len(g)]
	var a0, a1, a2, a3, q0, q1, q2, q3 float32
	i := 0
	for ; i+4 <= len(g); i += 4 {
		a0 += g[i]
		a1 += g[i+1]
		a2 += g[i+2]
		a3 += g[i+3]
		q0 += g[i] * h[i]
		q1 += g[i+1] * h[i+1]
		q2 += g[i+2] * h[i+2]
		q3 += g[i+3] * h[i+3]
	}
	for ; i < len(g); i++ {
		a0 += g[i]
		q0 += g[i] * h[i]
	}
	return (a0 + a1) + (a2 + a3), (q0 + q1) + (q2 + q3)
}

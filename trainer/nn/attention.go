package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// Attention is multi-head self-attention over the tokens of each sample, as
// timm's vision_transformer.Attention computes it:
//
//	[q k v] = x·W_qkvᵀ + b_qkv          (one fused projection, [T, 3D])
//	o_h     = softmax(q_h·k_hᵀ/√(D/H))·v_h  for each head h
//	y       = [o_1 … o_H]·W_projᵀ + b_proj
//
// The qkv output holds all query heads, then all key heads, then all value
// heads (timm reshapes it as (B, T, 3, H, D/H)), so head h of q is columns
// [h·D/H, (h+1)·D/H) and k and v follow at offsets D and 2D. Each head of
// each sample runs as one call of the fused head kernels
// (kernels.AttentionHeadForward and AttentionHeadBackward: scores, softmax
// and products straight from that buffer, without packing); the (sample,
// head) pairs are spread over the worker pool, each writing only its own
// probabilities and output columns, so results do not depend on the number
// of workers. The softmax subtracts the row maximum before exp. With
// unfused set the heads run as strided packed GEMMs instead, the path the
// fused kernels replaced, which tests compare them with.
//
// Parameters are "<name>.qkv.weight" [3D, D], "<name>.qkv.bias" [3D],
// "<name>.proj.weight" [D, D] and "<name>.proj.bias" [D].
type Attention struct {
	name         string
	d, heads, hd int
	scale        float32
	qkv, proj    Layer // *Dense, or *LoRA once adapted (see Block.addLoRA)
	params       []*Param

	n, t     int
	xv, ov   Tensor // [N·T, D] views of the input and of the heads' output
	dyv, dxv Tensor // [N·T, D] view of the incoming gradient; [N, T, D] of dx
	y        Tensor // [N, T, D] view of proj's output
	qkvOut   *Tensor
	o        []float32   // heads' output, [N·T, D]
	p        []float32   // attention probabilities, [N·H, T, T]
	dqkv     Tensor      // [N·T, 3D]
	do       *Tensor     // gradient of the heads' output, [N·T, D]
	dp       [][]float32 // per worker: dP, then dS, [T, T]
	scratch  [][]float32 // per worker: the fused kernels' Kᵀ or Vᵀ
	unfused  bool
	fwdFn    func(part, lo, hi int)
	bwdFn    func(part, lo, hi int)
}

// NewAttention returns self-attention over d features in heads heads (d
// must be a multiple of heads), its projections initialised like timm's
// (truncated normal, std 0.02, zero bias) from rng.
func NewAttention(name string, d, heads int, rng *rand.Rand) (*Attention, error) {
	if d <= 0 || heads <= 0 || d%heads != 0 {
		return nil, fmt.Errorf("nn: %s: attention needs a width divisible by the head count, got width %d and %d heads", name, d, heads)
	}
	a := &Attention{name: name, d: d, heads: heads, hd: d / heads,
		scale: float32(1 / math.Sqrt(float64(d/heads))),
		qkv:   newLinear(name+".qkv", d, 3*d, rng),
		proj:  newLinear(name+".proj", d, d, rng),
	}
	a.params = append(append([]*Param(nil), a.qkv.Params()...), a.proj.Params()...)
	a.fwdFn, a.bwdFn = a.forwardHeads, a.backwardHeads
	return a, nil
}

func (a *Attention) Name() string     { return a.name }
func (a *Attention) Params() []*Param { return a.params }
func (a *Attention) Spec() LayerSpec {
	return LayerSpec{Type: "attention", Name: a.name, In: a.d, Heads: a.heads}
}

func (a *Attention) OutShape(in []int) ([]int, error) {
	if len(in) != 2 || in[1] != a.d {
		return nil, fmt.Errorf("nn: %s: attention expects input [tokens %d], got %v", a.name, a.d, in)
	}
	return []int{in[0], a.d}, nil
}

// view points t at data with the given shape, reusing t's shape slice.
func view(t *Tensor, data []float32, shape ...int) *Tensor {
	t.Shape = append(t.Shape[:0], shape...)
	t.Data = data
	t.Layout = NCHW
	return t
}

func (a *Attention) Forward(x *Tensor, train bool) *Tensor {
	a.n, a.t = x.Shape[0], x.Shape[1]
	m := a.n * a.t
	a.qkvOut = a.qkv.Forward(view(&a.xv, x.Data, m, a.d), train)
	a.o = growF32(a.o, m*a.d)
	a.p = growF32(a.p, a.n*a.heads*a.t*a.t)
	a.growScratch()
	parallelPartsWork(a.n*a.heads, a.headNs(), a.fwdFn)
	out := a.proj.Forward(view(&a.ov, a.o, m, a.d), train)
	return view(&a.y, out.Data, a.n, a.t, a.d)
}

// headNs estimates one head's forward pass on one core, in nanoseconds:
// about 2.8 ns per score for the softmax and its share of the products
// (14 µs for the backward and forward of a 50-token, 16-wide head in
// BenchmarkAttentionHead), plus a fixed cost for the call. The backward pass
// is about twice that.
func (a *Attention) headNs() float64 { return 2.8*float64(a.t*a.t) + 0.05*float64(a.t*a.t*a.hd) + 100 }

// growScratch sizes the per-worker scratch of the head kernels.
func (a *Attention) growScratch() {
	parts := min(runtime.GOMAXPROCS(0), a.n*a.heads)
	for len(a.dp) < parts {
		a.dp = append(a.dp, nil)
		a.scratch = append(a.scratch, nil)
	}
	for i := range a.dp {
		a.dp[i] = growF32(a.dp[i], a.t*a.t)
		a.scratch[i] = growF32(a.scratch[i], kernels.AttentionScratch(a.t, a.hd))
	}
}

// forwardHeads computes the (sample, head) pairs [lo, hi).
func (a *Attention) forwardHeads(part, lo, hi int) {
	T, D, hd := a.t, a.d, a.hd
	qkv := a.qkvOut.Data
	for i := lo; i < hi; i++ {
		n, h := i/a.heads, i%a.heads
		base := n*T*3*D + h*hd
		s := a.p[i*T*T : (i+1)*T*T]
		if !a.unfused {
			kernels.AttentionHeadForward(T, hd, a.scale, qkv[base:], qkv[base+D:], qkv[base+2*D:], 3*D,
				s, a.o[n*T*D+h*hd:], D, a.scratch[part])
			continue
		}
		gemmSerial(false, true, T, T, hd, a.scale, qkv[base:], 3*D, qkv[base+D:], 3*D, 0, s, T)
		softmaxRows(s, T, T)
		gemmSerial(false, false, T, hd, T, 1, s, T, qkv[base+2*D:], 3*D, 0, a.o[n*T*D+h*hd:], D)
	}
}

// softmaxRows replaces each row of the rows×cols matrix s by its softmax,
// subtracting the row maximum first so that exp cannot overflow.
func softmaxRows(s []float32, rows, cols int) { kernels.SoftmaxRows(s, rows, cols) }

// Backward: per head, with P the probabilities and dO the output gradient,
// dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − rowsum(dP∘P)), dQ = dS·K/√(D/H) and
// dK = dSᵀ·Q/√(D/H).
func (a *Attention) Backward(dy *Tensor, needDX bool) *Tensor {
	m := a.n * a.t
	a.do = a.proj.Backward(view(&a.dyv, dy.Data, m, a.d), true)
	a.dqkv.resize(m, 3*a.d)
	a.growScratch()
	parallelPartsWork(a.n*a.heads, 2*a.headNs(), a.bwdFn)
	dx := a.qkv.Backward(&a.dqkv, needDX)
	if !needDX {
		return nil
	}
	return view(&a.dxv, dx.Data, a.n, a.t, a.d)
}

func (a *Attention) backwardHeads(part, lo, hi int) {
	T, D, hd := a.t, a.d, a.hd
	dp := a.dp[part]
	qkv, dqkv, do := a.qkvOut.Data, a.dqkv.Data, a.do.Data
	for i := lo; i < hi; i++ {
		n, h := i/a.heads, i%a.heads
		base := n*T*3*D + h*hd
		p := a.p[i*T*T : (i+1)*T*T]
		dO := do[n*T*D+h*hd:]
		if !a.unfused {
			kernels.AttentionHeadBackward(T, hd, a.scale, qkv[base:], qkv[base+D:], qkv[base+2*D:], 3*D, p, dO, D,
				dqkv[base:], dqkv[base+D:], dqkv[base+2*D:], 3*D, dp, a.scratch[part])
			continue
		}
		gemmSerial(true, false, T, hd, T, 1, p, T, dO, D, 0, dqkv[base+2*D:], 3*D)
		gemmSerial(false, true, T, T, hd, 1, dO, D, qkv[base+2*D:], 3*D, 0, dp, T)
		kernels.SoftmaxRowsGrad(dp, p, T, T)
		gemmSerial(false, false, T, hd, T, a.scale, dp, T, qkv[base+D:], 3*D, 0, dqkv[base:], 3*D)
		gemmSerial(true, false, T, hd, T, a.scale, dp, T, qkv[base:], 3*D, 0, dqkv[base+D:], 3*D)
	}
}

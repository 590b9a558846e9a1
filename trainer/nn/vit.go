package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// The layers of a Vision Transformer (Dosovitskiy et al., "An Image is Worth
// 16x16 Words", 2020) in the layout of timm's VisionTransformer, so that a
// checkpoint's state dict loads strictly into
// timm.models.vision_transformer.VisionTransformer with the same
// hyper-parameters and gives the same logits:
//
//	patch_embed (PatchEmbed) → tokens (TokenEmbed: cls_token, pos_embed)
//	→ blocks.0 … blocks.{depth-1} (Block) → norm (LayerNorm)
//	→ pool (ClassPool) → head (Dense)
//
// Tokens travel between layers as [N, T, D] tensors, row-major: sample,
// token, feature.

// newLinear returns a Dense layer initialised as timm initialises a ViT's
// Linear layers: weights from a normal distribution with std 0.02
// truncated at two standard deviations, biases zero.
func newLinear(name string, in, out int, rng *rand.Rand) *Dense {
	d := &Dense{name: name, in: in, out: out,
		W: newParam(name+".weight", out, in),
		B: newParam(name+".bias", out),
	}
	d.params = []*Param{d.W, d.B}
	truncNormal(rng, d.W.Data, 0.02)
	return d
}

// truncNormal fills w from N(0, std²) restricted to ±2·std (by redrawing).
func truncNormal(rng *rand.Rand, w []float32, std float64) {
	for i := range w {
		v := rng.NormFloat64()
		for math.Abs(v) > 2 {
			v = rng.NormFloat64()
		}
		w[i] = float32(v * std)
	}
}

// PatchEmbed cuts each [C, H, W] image into P×P patches, row by row, and
// maps each patch to D features: the P×P, stride-P convolution of timm's
// patch_embed.proj, which, since patches do not overlap, is one dense layer
// over the flattened patches. The patches of the whole batch are gathered
// into a [N·T, C·P·P] matrix (columns in the weight's (c, kh, kw) order) and
// multiplied in one GEMM; the output is [N, T, D] with T = (H/P)·(W/P).
//
// Parameters are "<name>.proj.weight" [D, C, P, P] and "<name>.proj.bias",
// initialised like torch.nn.Conv2d (timm leaves the convolution's default).
type PatchEmbed struct {
	name     string
	c, d, p  int
	W, B     *Param
	params   []*Param
	x        *Tensor
	n, h, w  int
	gh, gw   int
	cols     []float32
	dcols    []float32
	y, dx    Tensor
	gatherFn func(lo, hi int)
	scatFn   func(lo, hi int)
	bf16     bool // products in bf16 (SetPrecision)
}

// NewPatchEmbed returns a patch embedding of c-channel images into d
// features with p×p patches.
func NewPatchEmbed(name string, c, d, p int, rng *rand.Rand) (*PatchEmbed, error) {
	if c <= 0 || d <= 0 || p <= 0 {
		return nil, fmt.Errorf("nn: %s: invalid patch embedding channels=%d width=%d patch=%d", name, c, d, p)
	}
	e := &PatchEmbed{name: name, c: c, d: d, p: p,
		W: newParam(name+".proj.weight", d, c, p, p),
		B: newParam(name+".proj.bias", d),
	}
	e.params = []*Param{e.W, e.B}
	fanIn := c * p * p
	kaimingUniform(rng, e.W.Data, fanIn)
	uniform(rng, e.B.Data, 1/math.Sqrt(float64(fanIn)))
	e.gatherFn, e.scatFn = e.gather, e.scatter
	return e, nil
}

func (e *PatchEmbed) Name() string     { return e.name }
func (e *PatchEmbed) Params() []*Param { return e.params }
func (e *PatchEmbed) Spec() LayerSpec {
	return LayerSpec{Type: "patch_embed", Name: e.name, In: e.c, Out: e.d, Kernel: e.p}
}

func (e *PatchEmbed) OutShape(in []int) ([]int, error) {
	if len(in) != 3 || in[0] != e.c {
		return nil, fmt.Errorf("nn: %s: patch embedding expects input [%d H W], got %v", e.name, e.c, in)
	}
	if in[1]%e.p != 0 || in[2]%e.p != 0 {
		return nil, fmt.Errorf("nn: %s: a %dx%d image does not divide into %dx%d patches", e.name, in[1], in[2], e.p, e.p)
	}
	return []int{(in[1] / e.p) * (in[2] / e.p), e.d}, nil
}

func (e *PatchEmbed) k() int { return e.c * e.p * e.p }

func (e *PatchEmbed) Forward(x *Tensor, train bool) *Tensor {
	e.x = x
	e.n, e.h, e.w = x.Shape[0], x.Shape[2], x.Shape[3]
	e.gh, e.gw = e.h/e.p, e.w/e.p
	t := e.gh * e.gw
	m := e.n * t
	e.cols = growF32(e.cols, m*e.k())
	parallelForWork(e.n, 8, nsCopy*float64(e.c*e.h*e.w), e.gatherFn)
	e.y.resize(e.n, t, e.d)
	y := e.y.Data
	biasProduct(e.bf16)(false, true, m, e.d, e.k(), e.cols, e.k(), e.W.Data, e.k(), e.B.Data, y, e.d)
	return &e.y
}

// gather copies the patches of images [lo, hi) into their rows of cols.
func (e *PatchEmbed) gather(lo, hi int) {
	p, k := e.p, e.k()
	for n := lo; n < hi; n++ {
		for c := 0; c < e.c; c++ {
			off := planeOffset(e.x, n, c)
			plane := e.x.Data[off : off+e.h*e.w]
			for ph := 0; ph < e.gh; ph++ {
				for pw := 0; pw < e.gw; pw++ {
					row := e.cols[((n*e.gh+ph)*e.gw+pw)*k+c*p*p:]
					for kh := 0; kh < p; kh++ {
						src := plane[(ph*p+kh)*e.w+pw*p:]
						copy(row[kh*p:(kh+1)*p], src[:p])
					}
				}
			}
		}
	}
}

func (e *PatchEmbed) Backward(dy *Tensor, needDX bool) *Tensor {
	m, k := e.n*e.gh*e.gw, e.k()
	mm, _ := products(e.bf16)
	if !e.W.Frozen {
		mm(true, false, e.d, k, m, 1, dy.Data, e.d, e.cols, k, 0, e.W.Grad, k)
	}
	if !e.B.Frozen {
		sumRows(e.B.Grad, dy.Data, m, e.d)
	}
	if !needDX {
		return nil
	}
	e.dcols = growF32(e.dcols, m*k)
	mm(false, false, m, k, e.d, 1, dy.Data, e.d, e.W.Data, k, 0, e.dcols, k)
	e.dx.resize(e.x.Shape...)
	e.dx.Layout = e.x.Layout
	parallelForWork(e.n, 8, nsCopy*float64(e.c*e.h*e.w), e.scatFn)
	return &e.dx
}

// scatter is gather's adjoint: patches do not overlap, so every input pixel
// takes the gradient of exactly one patch entry.
func (e *PatchEmbed) scatter(lo, hi int) {
	p, k := e.p, e.k()
	for n := lo; n < hi; n++ {
		for c := 0; c < e.c; c++ {
			off := planeOffset(&e.dx, n, c)
			plane := e.dx.Data[off : off+e.h*e.w]
			for ph := 0; ph < e.gh; ph++ {
				for pw := 0; pw < e.gw; pw++ {
					row := e.dcols[((n*e.gh+ph)*e.gw+pw)*k+c*p*p:]
					for kh := 0; kh < p; kh++ {
						copy(plane[(ph*p+kh)*e.w+pw*p:][:p], row[kh*p:(kh+1)*p])
					}
				}
			}
		}
	}
}

// TokenEmbed puts the learned class token in front of each sample's patch
// tokens and adds the learned position embedding to all of them, the class
// token's position included (timm's _pos_embed with class_token=True,
// no_embed_class=False). Input [T, D], output [T+1, D].
//
// Parameters are "cls_token" [1, 1, D] (normal, std 1e-6, as timm) and
// "pos_embed" [1, T+1, D] (truncated normal, std 0.02), without the layer
// name in front: those are timm's top-level names.
type TokenEmbed struct {
	name      string
	d, tokens int // tokens counts the class token
	Cls, Pos  *Param
	params    []*Param
	n         int
	y, dx     Tensor
}

// NewTokenEmbed returns the class token and position embedding for tokens
// positions (patches plus one) of d features.
func NewTokenEmbed(name string, d, tokens int, rng *rand.Rand) (*TokenEmbed, error) {
	if d <= 0 || tokens < 2 {
		return nil, fmt.Errorf("nn: %s: token embedding needs a positive width and at least one patch, got width %d and %d tokens", name, d, tokens)
	}
	t := &TokenEmbed{name: name, d: d, tokens: tokens,
		Cls: newParam("cls_token", 1, 1, d),
		Pos: newParam("pos_embed", 1, tokens, d),
	}
	for i := range t.Cls.Data {
		t.Cls.Data[i] = float32(rng.NormFloat64() * 1e-6)
	}
	truncNormal(rng, t.Pos.Data, 0.02)
	t.params = []*Param{t.Cls, t.Pos}
	return t, nil
}

func (t *TokenEmbed) Name() string     { return t.name }
func (t *TokenEmbed) Params() []*Param { return t.params }
func (t *TokenEmbed) Spec() LayerSpec {
	return LayerSpec{Type: "token_embed", Name: t.name, In: t.d, Tokens: t.tokens}
}

func (t *TokenEmbed) OutShape(in []int) ([]int, error) {
	if len(in) != 2 || in[0] != t.tokens-1 || in[1] != t.d {
		return nil, fmt.Errorf("nn: %s: token embedding expects input [%d %d] (patches, width), got %v", t.name, t.tokens-1, t.d, in)
	}
	return []int{t.tokens, t.d}, nil
}

func (t *TokenEmbed) Forward(x *Tensor, train bool) *Tensor {
	t.n = x.Shape[0]
	per := t.tokens * t.d
	t.y.resize(t.n, t.tokens, t.d)
	pos := t.Pos.Data
	for n := 0; n < t.n; n++ {
		y := t.y.Data[n*per : (n+1)*per]
		for j, c := range t.Cls.Data {
			y[j] = c + pos[j]
		}
		src := x.Data[n*(per-t.d) : (n+1)*(per-t.d)]
		for j, v := range src {
			y[t.d+j] = v + pos[t.d+j]
		}
	}
	return &t.y
}

func (t *TokenEmbed) Backward(dy *Tensor, needDX bool) *Tensor {
	per := t.tokens * t.d
	if !t.Pos.Frozen {
		sumRows(t.Pos.Grad, dy.Data, t.n, per)
	}
	if !t.Cls.Frozen {
		clear(t.Cls.Grad)
		kernels.SumRows(t.Cls.Grad, dy.Data, t.n, t.d, per)
	}
	if !needDX {
		return nil
	}
	t.dx.resize(t.n, t.tokens-1, t.d)
	for n := 0; n < t.n; n++ {
		copy(t.dx.Data[n*(per-t.d):(n+1)*(per-t.d)], dy.Data[n*per+t.d:(n+1)*per])
	}
	return &t.dx
}

// ClassPool keeps the class token (token 0) of each sample: [T, D] → [D],
// timm's global_pool='token'.
type ClassPool struct {
	name  string
	t, d  int
	n     int
	y, dx Tensor
}

// NewClassPool returns class-token pooling.
func NewClassPool(name string) *ClassPool { return &ClassPool{name: name} }

func (c *ClassPool) Name() string     { return c.name }
func (c *ClassPool) Params() []*Param { return nil }
func (c *ClassPool) Spec() LayerSpec  { return LayerSpec{Type: "cls_pool", Name: c.name} }

func (c *ClassPool) OutShape(in []int) ([]int, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("nn: %s: class-token pooling expects input [tokens width], got %v", c.name, in)
	}
	return []int{in[1]}, nil
}

// CommutesWith lets pooling run before a LayerNorm (see Commuter): the norm
// treats every token on its own, so normalising only the class token gives
// the same values and gradients for a T-th of the work.
func (c *ClassPool) CommutesWith(prev Layer) bool {
	_, ok := prev.(*LayerNorm)
	return ok
}

func (c *ClassPool) Forward(x *Tensor, train bool) *Tensor {
	c.n, c.t, c.d = x.Shape[0], x.Shape[1], x.Shape[2]
	c.y.resize(c.n, c.d)
	for n := 0; n < c.n; n++ {
		copy(c.y.Data[n*c.d:(n+1)*c.d], x.Data[n*c.t*c.d:])
	}
	return &c.y
}

func (c *ClassPool) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	c.dx.resize(c.n, c.t, c.d)
	clear(c.dx.Data)
	for n := 0; n < c.n; n++ {
		copy(c.dx.Data[n*c.t*c.d:], dy.Data[n*c.d:(n+1)*c.d])
	}
	return &c.dx
}

// Block is one pre-norm transformer block, timm's vision_transformer.Block
// without layer scale:
//
//	x = x + drop_path(attn(norm1(x)))
//	x = x + drop_path(mlp(norm2(x)))      mlp = fc2(GELU(fc1(·)))
//
// Drop path (stochastic depth, Huang et al. 2016) drops a residual branch
// for a whole sample with probability p while training and scales kept
// branches by 1/(1-p). Its draws come from the block's own PCG stream,
// two per sample and step in sample order, saved with the checkpoint
// (Random), so a resumed run draws the same.
//
// Parameters are named "<name>.norm1.*", "<name>.attn.qkv.*",
// "<name>.attn.proj.*", "<name>.norm2.*", "<name>.mlp.fc1.*" and
// "<name>.mlp.fc2.*" — with name "blocks.<i>", timm's keys.
type Block struct {
	name         string
	d, hidden    int
	dropPath     float64
	thresh       uint64
	norm1, norm2 *LayerNorm
	attn         *Attention
	fc1, fc2     Layer // *Dense, or *LoRA once adapted
	lora         blockLoRA
	act          *GELU
	params       []*Param
	rng          rand.PCG

	active   bool
	scale    []float32 // per-sample branch factors: attention [0, N), MLP [N, 2N)
	n, t     int
	x        *Tensor
	x1, y    Tensor // residual sums with drop path
	x1v, yv  Tensor // [N, T, D] views of the residual sums formed in place
	h2v, dmv Tensor // [N·T, D] views
	dnv      Tensor // [N, T, D] view
	dm, da   Tensor // branch gradients after drop path
	add      parallelAxpy
}

// NewBlock returns a transformer block of width d with the given heads, an
// MLP of hidden features, LayerNorm eps (0: DefaultLayerNormEps) and drop
// path probability, its drop-path generator seeded with (seed1, seed2).
func NewBlock(name string, d, heads, hidden int, eps, dropPath float64, rng *rand.Rand, seed1, seed2 uint64) (*Block, error) {
	if hidden <= 0 {
		return nil, fmt.Errorf("nn: %s: transformer block needs a positive MLP width, got %d", name, hidden)
	}
	if !(dropPath >= 0 && dropPath < 1) {
		return nil, fmt.Errorf("nn: %s: drop-path probability %v outside [0, 1)", name, dropPath)
	}
	b := &Block{name: name, d: d, hidden: hidden, dropPath: dropPath,
		thresh: uint64(math.Round(dropPath * (1 << 32))),
		act:    NewGELU(name + ".mlp.act"),
	}
	var err error
	if b.norm1, err = NewLayerNorm(name+".norm1", d, eps); err != nil {
		return nil, err
	}
	if b.attn, err = NewAttention(name+".attn", d, heads, rng); err != nil {
		return nil, err
	}
	if b.norm2, err = NewLayerNorm(name+".norm2", d, eps); err != nil {
		return nil, err
	}
	b.fc1 = newLinear(name+".mlp.fc1", d, hidden, rng)
	b.fc2 = newLinear(name+".mlp.fc2", hidden, d, rng)
	for _, l := range []Layer{b.norm1, b.attn, b.norm2, b.fc1, b.fc2} {
		b.params = append(b.params, l.Params()...)
	}
	b.rng.Seed(seed1, seed2)
	return b, nil
}

func (b *Block) Name() string     { return b.name }
func (b *Block) Params() []*Param { return b.params }
func (b *Block) Spec() LayerSpec {
	return b.lora.spec(LayerSpec{Type: "vit_block", Name: b.name, In: b.d, Heads: b.attn.heads, Hidden: b.hidden,
		Eps: b.norm1.eps, DropPath: b.dropPath})
}

func (b *Block) OutShape(in []int) ([]int, error) {
	if len(in) != 2 || in[1] != b.d {
		return nil, fmt.Errorf("nn: %s: transformer block expects input [tokens %d], got %v", b.name, b.d, in)
	}
	return append([]int(nil), in...), nil
}

// RNGState returns the drop-path generator state (PCG binary encoding).
func (b *Block) RNGState() ([]byte, error) { return b.rng.MarshalBinary() }

// SetRNGState restores a state returned by RNGState.
func (b *Block) SetRNGState(s []byte) error {
	if err := b.rng.UnmarshalBinary(s); err != nil {
		return fmt.Errorf("nn: %s: restoring drop-path RNG state: %w", b.name, err)
	}
	return nil
}

func (b *Block) Forward(x *Tensor, train bool) *Tensor {
	b.x = x
	b.n, b.t = x.Shape[0], x.Shape[1]
	per := b.t * b.d
	b.active = train && b.dropPath > 0
	if b.active {
		b.scale = growF32(b.scale, 2*b.n)
		keep := float32(1 / (1 - b.dropPath))
		for i := range b.scale {
			b.scale[i] = keep
			if b.rng.Uint64()>>32 < b.thresh {
				b.scale[i] = 0
			}
		}
	}
	a := b.attn.Forward(b.norm1.Forward(x, train), train)
	x1 := b.residual(&b.x1, &b.x1v, x, a.Data, 0, per)
	h2 := b.norm2.Forward(x1, train)
	f := b.act.Forward(b.fc1.Forward(view(&b.h2v, h2.Data, b.n*b.t, b.d), train), train)
	m := b.fc2.Forward(f, train)
	return b.residual(&b.y, &b.yv, x1, m.Data, b.n, per)
}

// residual returns x + s·br per sample, s the sample's drop-path factor
// for the branch whose factors start at scale[off]. Without drop path
// (s = 1) the sum is formed in place in br, the branch's output (proj or
// fc2, which need their outputs no more), viewed through v as [N, T, D]:
// br + 1·x rounds exactly as x + 1·br, so this saves a copy and a buffer
// and changes no bit. With drop path it goes into dst.
func (b *Block) residual(dst, v, x *Tensor, br []float32, off, per int) *Tensor {
	if !b.active {
		b.add.run(1, x.Data, br)
		return view(v, br, b.n, b.t, b.d)
	}
	dst.resize(b.n, b.t, b.d)
	copy(dst.Data, x.Data)
	for n := 0; n < b.n; n++ {
		if s := b.scale[off+n]; s != 0 {
			kernels.Axpy(s, br[n*per:(n+1)*per], dst.Data[n*per:(n+1)*per])
		}
	}
	return dst
}

// branchGrad returns dy scaled per sample by the branch's drop-path
// factors, written into buf, or dy itself when drop path is inactive.
func (b *Block) branchGrad(buf *Tensor, dy *Tensor, off, per int) *Tensor {
	if !b.active {
		return dy
	}
	buf.resize(dy.Shape...)
	for n := 0; n < b.n; n++ {
		s, src, dst := b.scale[off+n], dy.Data[n*per:(n+1)*per], buf.Data[n*per:(n+1)*per]
		for i, v := range src {
			dst[i] = s * v
		}
	}
	return buf
}

func (b *Block) Backward(dy *Tensor, needDX bool) *Tensor {
	per := b.t * b.d
	dm := b.branchGrad(&b.dm, dy, b.n, per)
	dg := b.fc2.Backward(view(&b.dmv, dm.Data, b.n*b.t, b.d), true)
	dh2 := b.fc1.Backward(b.act.Backward(dg, true), true)
	// The residual gradients are summed in place in the norms' input
	// gradients (dn + 1·dy rounds as dy + 1·dn): no copies.
	dx1 := b.norm2.Backward(view(&b.dnv, dh2.Data, b.n, b.t, b.d), true)
	b.add.run(1, dy.Data, dx1.Data)
	da := b.branchGrad(&b.da, dx1, 0, per)
	dx := b.norm1.Backward(b.attn.Backward(da, true), needDX)
	if !needDX {
		return nil
	}
	b.add.run(1, dx1.Data, dx.Data)
	return dx
}

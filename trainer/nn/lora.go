package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// LoRA is a dense layer with a low-rank adapter (Hu et al., "LoRA: Low-Rank
// Adaptation of Large Language Models", 2021):
//
//	y = x·Wᵀ + b + (alpha/r)·(x·Aᵀ)·Bᵀ
//
// with A [r, in] and B [out, r]. W and b are the wrapped Dense layer's and
// stay frozen; only A and B train, so fine-tuning touches r·(in+out) values
// instead of in·out. A starts like a Linear weight (kaiming-uniform) and B
// at zero, as in the paper and PEFT, so a fresh adapter leaves the layer's
// output unchanged and training starts from the pretrained function.
//
// Parameters are named "<layer>.weight", "<layer>.bias",
// "<layer>.lora_A.weight" and "<layer>.lora_B.weight": the base keeps the
// names of the plain layer, and the adapter tensors are PEFT's keys without
// its "base_model.model." prefix. Merged folds the adapter back into a
// plain Dense layer.
type LoRA struct {
	base   *Dense
	A, B   *Param // A [rank, in], B [out, rank]
	rank   int
	alpha  float64
	scale  float32 // alpha / rank
	params []*Param

	x         *Tensor
	h, dh     Tensor // x·Aᵀ and its gradient, [n, rank]
	y, dx, dz Tensor
	relu      bool // ReLU fused into the output (set by Sequential's plan)
}

// LoRA parameter suffixes, after the layer name and a dot.
const (
	loraASuffix = "lora_A.weight"
	loraBSuffix = "lora_B.weight"
)

// NewLoRA wraps d with a rank-r adapter scaled by alpha/r, drawing A from
// rng, and freezes d's weight and bias. d must not be used on its own
// afterwards.
func NewLoRA(d *Dense, rank int, alpha float64, rng *rand.Rand) (*LoRA, error) {
	if rank < 1 {
		return nil, fmt.Errorf("nn: %s: LoRA rank must be ≥ 1, got %d", d.name, rank)
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("nn: %s: LoRA alpha must be positive and finite, got %g", d.name, alpha)
	}
	l := &LoRA{base: d, rank: rank, alpha: alpha, scale: float32(alpha / float64(rank)),
		A: newParam(d.name+"."+loraASuffix, rank, d.in),
		B: newParam(d.name+"."+loraBSuffix, d.out, rank),
	}
	d.relu = false // the wrapper applies a fused ReLU after adding the adapter
	d.W.Frozen, d.B.Frozen = true, true
	kaimingUniform(rng, l.A.Data, d.in)
	l.params = []*Param{d.W, d.B, l.A, l.B}
	return l, nil
}

func (l *LoRA) Name() string     { return l.base.name }
func (l *LoRA) Params() []*Param { return l.params }

// Spec is the base layer's spec with the adapter's rank and alpha.
func (l *LoRA) Spec() LayerSpec {
	s := l.base.Spec()
	s.LoRARank, s.LoRAAlpha = l.rank, l.alpha
	return s
}

// Base returns the wrapped layer (its weights, not the adapter's effect).
func (l *LoRA) Base() *Dense { return l.base }

// Rank and Alpha return the adapter's rank r and scaling numerator alpha.
func (l *LoRA) Rank() int      { return l.rank }
func (l *LoRA) Alpha() float64 { return l.alpha }

// Features returns the layer's input and output sizes.
func (l *LoRA) Features() (in, out int) { return l.base.in, l.base.out }

// NewHead replaces an adapted head by a plain one: the new head trains in
// full (see Head).
func (l *LoRA) NewHead(out int, rng *rand.Rand) Layer { return l.base.NewHead(out, rng) }

// Fuse applies a following ReLU after the adapter's sum (see Fuser).
func (l *LoRA) Fuse(next Layer) bool {
	_, l.relu = next.(*ReLU)
	return l.relu
}

func (l *LoRA) OutShape(in []int) ([]int, error) { return l.base.OutShape(in) }

func (l *LoRA) Forward(x *Tensor, train bool) *Tensor {
	d := l.base
	n, in, out, r := x.Shape[0], d.in, d.out, l.rank
	l.x = x
	l.h.resize(n, r)
	gemm(false, true, n, r, in, 1, x.Data, in, l.A.Data, in, 0, l.h.Data, r)
	l.y.resize(n, out)
	y := l.y.Data
	gemmBias(false, true, n, out, in, x.Data, in, d.W.Data, in, d.B.Data, y, out)
	gemm(false, true, n, out, r, l.scale, l.h.Data, r, l.B.Data, r, 1, y, out)
	if l.relu {
		for i, v := range y {
			y[i] = max(v, 0)
		}
	}
	return &l.y
}

// Backward computes, with s = alpha/r and h = x·Aᵀ,
//
//	dB = s·dyᵀ·h    dh = s·dy·B    dA = dhᵀ·x    dx = dy·W + dh·A
//
// and the base gradients only when the base is not frozen.
func (l *LoRA) Backward(dy *Tensor, needDX bool) *Tensor {
	d := l.base
	n, in, out, r := dy.Shape[0], d.in, d.out, l.rank
	if l.relu {
		l.dz.resize(dy.Shape...)
		reluMask(l.dz.Data, dy.Data, l.y.Data)
		dy = &l.dz
	}
	if !d.W.Frozen {
		gemm(true, false, out, in, n, 1, dy.Data, out, l.x.Data, in, 0, d.W.Grad, in)
	}
	if !d.B.Frozen {
		sumRows(d.B.Grad, dy.Data, n, out)
	}
	if !l.B.Frozen {
		gemm(true, false, out, r, n, l.scale, dy.Data, out, l.h.Data, r, 0, l.B.Grad, r)
	}
	if l.A.Frozen && !needDX {
		return nil
	}
	l.dh.resize(n, r)
	gemm(false, false, n, r, out, l.scale, dy.Data, out, l.B.Data, r, 0, l.dh.Data, r)
	if !l.A.Frozen {
		gemm(true, false, r, in, n, 1, l.dh.Data, r, l.x.Data, in, 0, l.A.Grad, in)
	}
	if !needDX {
		return nil
	}
	l.dx.resize(n, in)
	gemm(false, false, n, in, out, 1, dy.Data, out, d.W.Data, in, 0, l.dx.Data, in)
	gemm(false, false, n, in, r, 1, l.dh.Data, r, l.A.Data, in, 1, l.dx.Data, in)
	return &l.dx
}

// Merged returns a plain Dense layer computing what this one computes:
// weight W + (alpha/r)·B·A and the same bias. The adapter is left as it
// is; the new layer's parameters are not frozen.
func (l *LoRA) Merged() *Dense {
	d := l.base
	m := &Dense{name: d.name, in: d.in, out: d.out,
		W: newParam(d.W.Name, d.out, d.in),
		B: newParam(d.B.Name, d.out),
	}
	m.params = []*Param{m.W, m.B}
	copy(m.W.Data, d.W.Data)
	copy(m.B.Data, d.B.Data)
	gemm(false, false, d.out, d.in, l.rank, l.scale, l.B.Data, l.rank, l.A.Data, d.in, 1, m.W.Data, d.in)
	return m
}

// LoRAParams returns the names of the adapter parameters the layer has
// (none unless LoRARank > 0), so that checkpoints can store them apart.
func (s LayerSpec) LoRAParams() []string {
	var out []string
	for _, m := range s.LoRAModules() {
		out = append(out, m+"."+loraASuffix, m+"."+loraBSuffix)
	}
	return out
}

// LoRAModules returns the full names of the adapted modules of the layer:
// the layer itself for a dense layer, "<name>.<sublayer>" for each of a
// transformer block's LoRALayers; none unless LoRARank > 0.
func (s LayerSpec) LoRAModules() []string {
	if s.LoRARank <= 0 {
		return nil
	}
	if len(s.LoRALayers) == 0 {
		return []string{s.Name}
	}
	out := make([]string, len(s.LoRALayers))
	for i, sub := range s.LoRALayers {
		out[i] = s.Name + "." + sub
	}
	return out
}

// loraRNG is the generator for the adapter of layer index i: its own
// stream, so adding adapters changes no other layer's initialisation.
func loraRNG(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(loraStream+uint64(i))))
}

// AddLoRA wraps each named dense layer in a LoRA adapter of the given rank
// and alpha (A drawn from seed), freezing its weight and bias. Other
// parameters keep their frozen flags. A name is a top-level dense layer, a
// transformer block's sublayer ("blocks.0.attn.qkv"), or, as PEFT's
// target_modules match, a suffix naming that sublayer in every block
// ("attn.qkv", "mlp.fc1"). Each must be a dense layer without an adapter.
// Nothing changes on an error.
func (m *Sequential) AddLoRA(layers []string, rank int, alpha float64, seed uint64) error {
	if len(layers) == 0 {
		return fmt.Errorf("nn: model %q: no layers named for LoRA adapters", m.name)
	}
	if rank < 1 {
		return fmt.Errorf("nn: model %q: LoRA rank must be ≥ 1, got %d", m.name, rank)
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return fmt.Errorf("nn: model %q: LoRA alpha must be positive and finite, got %g", m.name, alpha)
	}
	next := slices.Clone(m.layers)
	var dense []int
	blockSubsOf := map[int][]string{}
	named := map[string]bool{}
	for _, name := range layers {
		i := slices.IndexFunc(next, func(l Layer) bool { return l.Name() == name })
		if i >= 0 {
			d, ok := next[i].(*Dense)
			if !ok {
				if _, ok := next[i].(*LoRA); ok {
					return fmt.Errorf("nn: model %q: layer %q already has a LoRA adapter", m.name, name)
				}
				return fmt.Errorf("nn: model %q: layer %q is %s, LoRA adapters go on dense layers", m.name, name, next[i].Spec().Type)
			}
			if named[d.name] {
				return fmt.Errorf("nn: model %q: layer %q named twice for LoRA", m.name, name)
			}
			named[d.name] = true
			dense = append(dense, i)
			continue
		}
		found := false
		for bi, l := range next {
			b, ok := l.(*Block)
			if !ok {
				continue
			}
			for _, sub := range blockSubs {
				full := b.name + "." + sub
				if full != name && !strings.HasSuffix(full, "."+name) {
					continue
				}
				found = true
				if named[full] {
					return fmt.Errorf("nn: model %q: layer %q named twice for LoRA", m.name, full)
				}
				if _, ok := (*b.sub(sub)).(*Dense); !ok || len(b.lora.subs) > 0 {
					return fmt.Errorf("nn: model %q: block %q already has LoRA adapters (merge them first)", m.name, b.name)
				}
				named[full] = true
				blockSubsOf[bi] = append(blockSubsOf[bi], sub)
			}
		}
		if !found {
			return fmt.Errorf("nn: model %q has no layer %q for a LoRA adapter (dense layers: %v)", m.name, name, m.loraCandidates())
		}
	}
	for _, i := range dense {
		l, err := NewLoRA(next[i].(*Dense), rank, alpha, loraRNG(seed, i))
		if err != nil {
			return err
		}
		next[i] = l
	}
	for bi, subs := range blockSubsOf {
		if err := next[bi].(*Block).addLoRA(subs, rank, alpha, seed, bi); err != nil {
			return err // not reached: every check above was made
		}
	}
	old := m.layers
	m.layers = next
	if err := m.check(); err != nil {
		m.layers = old
		_ = m.check()
		return err
	}
	m.outShape = nil
	return nil
}

// loraCandidates lists every dense layer and block sublayer by full name.
func (m *Sequential) loraCandidates() []string {
	var out []string
	for _, l := range m.layers {
		switch l := l.(type) {
		case *Dense:
			out = append(out, l.Name())
		case *Block:
			out = append(out, l.loraTargets(blockSubs)...)
		}
	}
	return out
}

// LoRATargets returns, in order, the names of the layers that take an
// adapter by default: the dense layers that have none yet and, in each
// transformer block without adapters, the attention projections attn.qkv
// and attn.proj (its MLP layers take one only when named).
func (m *Sequential) LoRATargets() []string {
	var out []string
	for _, l := range m.layers {
		switch l := l.(type) {
		case *Dense:
			out = append(out, l.Name())
		case *Block:
			if len(l.lora.subs) == 0 {
				out = append(out, l.loraTargets(blockDefaultSubs)...)
			}
		}
	}
	return out
}

// Adapters returns the model's LoRA layers in order, those inside
// transformer blocks included.
func (m *Sequential) Adapters() []*LoRA {
	var out []*LoRA
	for _, l := range m.layers {
		switch l := l.(type) {
		case *LoRA:
			out = append(out, l)
		case *Block:
			out = append(out, l.adapters()...)
		}
	}
	return out
}

// MergeLoRA replaces every LoRA layer by its Merged dense layer, so the model
// becomes a plain one with the same outputs, and returns the names of the
// merged layers.
func (m *Sequential) MergeLoRA() []string {
	var names []string
	for i, l := range m.layers {
		switch a := l.(type) {
		case *LoRA:
			m.layers[i] = a.Merged()
			names = append(names, a.Name())
		case *Block:
			names = append(names, a.mergeLoRA()...)
		}
	}
	if len(names) > 0 {
		_ = m.check() // same names and shapes as before: cannot fail
		m.outShape = nil
	}
	return names
}

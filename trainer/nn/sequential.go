package nn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Spec is the JSON-able description of a Sequential model: enough to rebuild
// it (Build) with freshly initialised weights, which a checkpoint then
// overwrites.
type Spec struct {
	Name   string      `json:"name"`
	Input  []int       `json:"input"` // per-sample input shape, e.g. [1, 28, 28]
	Seed   uint64      `json:"seed"`  // initialisation and dropout streams
	Layers []LayerSpec `json:"layers"`
}

// Sequential applies its layers in order.
type Sequential struct {
	name   string
	input  []int
	seed   uint64
	layers []Layer
	output []int // per-sample output shape
	plan   []Layer
	noFuse bool // run the layers exactly as listed (tests compare against it)
	// precision is what SetPrecision last set ("" before).
	precision Precision

	outShape []int // full shape of the last Forward output
}

// Random streams derived from a model seed. Constants keep the streams of
// different purposes apart.
const (
	initStream    = 0x696e6974 // "init"
	dropoutStream = 0x64726f70 // "drop"
	headStream    = 0x68656164 // "head"
	loraStream    = 0x6c6f7261 // "lora"
	pathStream    = 0x70617468 // "path": drop path
)

// NewSequential checks that the layers fit together for the given per-sample
// input shape and that layer and parameter names are unique.
func NewSequential(name string, input []int, seed uint64, layers ...Layer) (*Sequential, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("nn: model %q has no layers", name)
	}
	if _, err := shapeSize(input); err != nil || len(input) == 0 {
		return nil, fmt.Errorf("nn: model %q: invalid input shape %v", name, input)
	}
	m := &Sequential{name: name, input: slices.Clone(input), seed: seed, layers: layers}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Sequential) check() error {
	seenLayer := map[string]bool{}
	seenParam := map[string]bool{}
	shape := m.input
	for i, l := range m.layers {
		if !validLayerName(l.Name()) {
			return fmt.Errorf("nn: model %q: layer %d has invalid name %q (non-empty parts separated by single dots)", m.name, i, l.Name())
		}
		if seenLayer[l.Name()] {
			return fmt.Errorf("nn: model %q: duplicate layer name %q", m.name, l.Name())
		}
		seenLayer[l.Name()] = true
		for _, p := range l.Params() {
			if seenParam[p.Name] {
				return fmt.Errorf("nn: model %q: duplicate parameter name %q", m.name, p.Name)
			}
			seenParam[p.Name] = true
		}
		out, err := l.OutShape(shape)
		if err != nil {
			return fmt.Errorf("nn: model %q, layer %d: %w", m.name, i, err)
		}
		shape = out
	}
	m.output = shape
	m.makePlan()
	return nil
}

// validLayerName accepts "fc1" and "blocks.0" but not "", ".x", "x." or
// "a..b": a dotted name is a module path as PyTorch writes it, and the
// layer's parameters are named below it.
func validLayerName(name string) bool {
	for _, part := range strings.Split(name, ".") {
		if part == "" {
			return false
		}
	}
	return true
}

// makePlan decides the execution order. Two rewrites that do not change any
// result but save whole passes over the largest activations:
//
//   - A layer that commutes with the one before it (a Commuter: max-pooling
//     after a ReLU) runs first, so the ReLU then touches a quarter of the data.
//   - An activation right after a layer that can fuse it (a Fuser: a ReLU
//     after a Conv2D or Dense) runs inside that layer's bias pass (forward)
//     and bias-gradient pass (backward).
func (m *Sequential) makePlan() {
	seq := slices.Clone(m.layers)
	for _, l := range seq {
		if f, ok := l.(Fuser); ok {
			f.Fuse(nil)
		}
	}
	if m.noFuse {
		m.plan = seq
		return
	}
	for i := 0; i+1 < len(seq); i++ {
		if c, ok := seq[i+1].(Commuter); ok && c.CommutesWith(seq[i]) {
			seq[i], seq[i+1] = seq[i+1], seq[i]
			i++
		}
	}
	plan := seq[:0:0]
	for i := 0; i < len(seq); i++ {
		plan = append(plan, seq[i])
		if f, ok := seq[i].(Fuser); ok && i+1 < len(seq) && f.Fuse(seq[i+1]) {
			i++
		}
	}
	m.plan = plan
}

// Build creates a model from its spec, initialising weights from Spec.Seed.
func Build(s Spec) (*Sequential, error) {
	rng := rand.New(rand.NewPCG(s.Seed, initStream))
	layers := make([]Layer, 0, len(s.Layers))
	for i, ls := range s.Layers {
		l, err := buildLayer(ls, rng, s.Seed, i)
		if err != nil {
			return nil, fmt.Errorf("nn: model %q, layer %d (%s %q): %w", s.Name, i, ls.Type, ls.Name, err)
		}
		layers = append(layers, l)
	}
	return NewSequential(s.Name, s.Input, s.Seed, layers...)
}

func buildLayer(ls LayerSpec, rng *rand.Rand, seed uint64, index int) (Layer, error) {
	switch ls.Type {
	case "dense":
		if ls.In <= 0 || ls.Out <= 0 {
			return nil, fmt.Errorf("dense needs positive in and out, got %d and %d", ls.In, ls.Out)
		}
		d := NewDense(ls.Name, ls.In, ls.Out, rng)
		if len(ls.LoRALayers) > 0 {
			return nil, fmt.Errorf("a dense layer has no sublayers to adapt, got lora_layers %v", ls.LoRALayers)
		}
		if ls.LoRARank != 0 || ls.LoRAAlpha != 0 {
			return NewLoRA(d, ls.LoRARank, ls.LoRAAlpha, loraRNG(seed, index))
		}
		return d, nil
	case "conv2d":
		stride := ls.Stride
		if stride == 0 {
			stride = 1
		}
		return NewConv2D(ls.Name, ls.In, ls.Out, ls.Kernel, stride, ls.Padding, rng)
	case "maxpool2d":
		return NewMaxPool2D(ls.Name, ls.Kernel, ls.Stride)
	case "relu":
		return NewReLU(ls.Name), nil
	case "dropout":
		return NewDropout(ls.Name, ls.P, seed, splitmix64(dropoutStream+uint64(index)))
	case "batchnorm1d":
		return NewBatchNorm1D(ls.Name, ls.In, ls.Eps, ls.Momentum)
	case "batchnorm2d":
		return NewBatchNorm2D(ls.Name, ls.In, ls.Eps, ls.Momentum)
	case "flatten":
		return NewFlatten(ls.Name), nil
	case "patch_embed":
		return NewPatchEmbed(ls.Name, ls.In, ls.Out, ls.Kernel, rng)
	case "token_embed":
		return NewTokenEmbed(ls.Name, ls.In, ls.Tokens, rng)
	case "vit_block":
		b, err := NewBlock(ls.Name, ls.In, ls.Heads, ls.Hidden, ls.Eps, ls.DropPath, rng, seed, splitmix64(pathStream+uint64(index)))
		if err != nil || ls.LoRARank == 0 && ls.LoRAAlpha == 0 && len(ls.LoRALayers) == 0 {
			return b, err
		}
		return b, b.addLoRA(ls.LoRALayers, ls.LoRARank, ls.LoRAAlpha, seed, index)
	case "attention":
		return NewAttention(ls.Name, ls.In, ls.Heads, rng)
	case "layernorm":
		return NewLayerNorm(ls.Name, ls.In, ls.Eps)
	case "gelu":
		return NewGELU(ls.Name), nil
	case "cls_pool":
		return NewClassPool(ls.Name), nil
	}
	return nil, fmt.Errorf("unknown layer type %q", ls.Type)
}

// Spec describes the model as it is now (after any head replacement).
func (m *Sequential) Spec() Spec {
	s := Spec{Name: m.name, Input: slices.Clone(m.input), Seed: m.seed}
	for _, l := range m.layers {
		s.Layers = append(s.Layers, l.Spec())
	}
	return s
}

// Name returns the model name.
func (m *Sequential) Name() string { return m.name }

// Layers returns the layers in order (not a copy).
func (m *Sequential) Layers() []Layer { return m.layers }

// InputShape returns the per-sample input shape.
func (m *Sequential) InputShape() []int { return slices.Clone(m.input) }

// OutputShape returns the per-sample output shape.
func (m *Sequential) OutputShape() []int { return slices.Clone(m.output) }

// Forward runs the model on a batch x of shape [N, input...]. The result is
// owned by the last layer and valid until the next Forward.
func (m *Sequential) Forward(x *Tensor, train bool) (*Tensor, error) {
	if len(x.Shape) != len(m.input)+1 || !slices.Equal(x.Shape[1:], m.input) || x.Shape[0] <= 0 {
		return nil, fmt.Errorf("nn: model %q expects input [N %v], got %v", m.name, m.input, x.Shape)
	}
	if n, _ := shapeSize(x.Shape); n != len(x.Data) {
		return nil, fmt.Errorf("nn: model %q: input shape %v holds %d values, data has %d", m.name, x.Shape, n, len(x.Data))
	}
	for _, l := range m.plan {
		x = l.Forward(x, train)
	}
	m.outShape = append(m.outShape[:0], x.Shape...)
	return x, nil
}

// Backward propagates dy (the loss gradient with respect to the last
// Forward's output) and fills the gradients of all trainable parameters. It
// stops at the first layer that has a trainable parameter: nothing below it
// needs gradients, and that layer skips computing its input gradient.
func (m *Sequential) Backward(dy *Tensor) error {
	if m.outShape == nil {
		return errors.New("nn: Backward called before Forward")
	}
	if n, _ := shapeSize(dy.Shape); !slices.Equal(dy.Shape, m.outShape) || n != len(dy.Data) {
		return fmt.Errorf("nn: model %q: gradient shape %v does not match output %v", m.name, dy.Shape, m.outShape)
	}
	stop := len(m.plan)
	for i, l := range m.plan {
		if trainable(l) {
			stop = i
			break
		}
	}
	for i := len(m.plan) - 1; i >= stop; i-- {
		dy = m.plan[i].Backward(dy, i > stop)
	}
	return nil
}

func trainable(l Layer) bool {
	for _, p := range l.Params() {
		if !p.Frozen {
			return true
		}
	}
	return false
}

// Params returns every parameter, frozen or not, in layer order.
func (m *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range m.layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Trainable returns the parameters that are not frozen, in layer order.
func (m *Sequential) Trainable() []*Param {
	var ps []*Param
	for _, p := range m.Params() {
		if !p.Frozen {
			ps = append(ps, p)
		}
	}
	return ps
}

// Freeze marks every parameter whose name starts with one of the prefixes
// ("conv1." or "conv" or "fc2.bias") as frozen. A prefix that matches
// nothing is an error, since it is almost always a typo.
func (m *Sequential) Freeze(prefixes ...string) error { return m.setFrozen(true, prefixes) }

// Unfreeze undoes Freeze for the matching parameters.
func (m *Sequential) Unfreeze(prefixes ...string) error { return m.setFrozen(false, prefixes) }

func (m *Sequential) setFrozen(frozen bool, prefixes []string) error {
	ps := m.Params()
	for _, pre := range prefixes {
		hit := false
		for _, p := range ps {
			if strings.HasPrefix(p.Name, pre) {
				p.Frozen = frozen
				hit = true
			}
		}
		if !hit {
			return fmt.Errorf("nn: model %q: no parameter name starts with %q", m.name, pre)
		}
	}
	return nil
}

// Head returns the model's last layer that can be a classifier head (a
// Dense layer, with or without a LoRA adapter), or nil.
func (m *Sequential) Head() Head {
	if i := m.headIndex(); i >= 0 {
		return m.layers[i].(Head)
	}
	return nil
}

func (m *Sequential) headIndex() int {
	for i := len(m.layers) - 1; i >= 0; i-- {
		if _, ok := m.layers[i].(Head); ok {
			return i
		}
	}
	return -1
}

// ReplaceHead swaps the head (see Head) for a freshly initialised plain one
// with the same name and input size and `classes` outputs (fine-tuning to a
// new label set). seed picks the new initialisation.
func (m *Sequential) ReplaceHead(classes int, seed uint64) error {
	if classes <= 0 {
		return fmt.Errorf("nn: model %q: head needs a positive class count, got %d", m.name, classes)
	}
	i := m.headIndex()
	if i < 0 {
		return fmt.Errorf("nn: model %q has no dense layer to replace", m.name)
	}
	rng := rand.New(rand.NewPCG(seed, headStream))
	old := m.layers[i]
	m.layers[i] = old.(Head).NewHead(classes, rng)
	if err := m.check(); err != nil {
		m.layers[i] = old
		_ = m.check()
		return fmt.Errorf("nn: replacing head: %w", err)
	}
	m.outShape = nil
	return nil
}

// State returns parameters and buffers (running statistics) under their
// stable names, in layer order. Data aliases the model.
func (m *Sequential) State() []Named {
	var out []Named
	for _, l := range m.layers {
		for _, p := range l.Params() {
			out = append(out, Named{Name: p.Name, Shape: slices.Clone(p.Shape), Data: p.Data})
		}
		if b, ok := l.(Buffered); ok {
			out = append(out, b.Buffers()...)
		}
	}
	return out
}

// LoadState copies values into the model. Every parameter and buffer must be
// present with the right shape, and nothing else may be.
func (m *Sequential) LoadState(ts []Named) error {
	byName := make(map[string]Named, len(ts))
	for _, t := range ts {
		if _, dup := byName[t.Name]; dup {
			return fmt.Errorf("nn: loading state: tensor %q given twice", t.Name)
		}
		byName[t.Name] = t
	}
	want := m.State()
	var errs []error
	used := 0
	for _, w := range want {
		t, ok := byName[w.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("missing tensor %q", w.Name))
			continue
		}
		used++
		if !slices.Equal(t.Shape, w.Shape) || len(t.Data) != len(w.Data) {
			errs = append(errs, fmt.Errorf("tensor %q has shape %v (%d values), model wants %v", w.Name, t.Shape, len(t.Data), w.Shape))
		}
	}
	if used != len(byName) {
		expected := make(map[string]bool, len(want))
		for _, w := range want {
			expected[w.Name] = true
		}
		for name := range byName {
			if !expected[name] {
				errs = append(errs, fmt.Errorf("unexpected tensor %q", name))
			}
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return fmt.Errorf("nn: loading state into model %q: %w", m.name, errors.Join(errs...))
	}
	for _, w := range want {
		copy(w.Data, byName[w.Name].Data)
	}
	return nil
}

// RNGState returns the random-generator state of every layer that has one,
// keyed by layer name.
func (m *Sequential) RNGState() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, l := range m.layers {
		if r, ok := l.(Random); ok {
			b, err := r.RNGState()
			if err != nil {
				return nil, fmt.Errorf("nn: %s: %w", l.Name(), err)
			}
			out[l.Name()] = b
		}
	}
	return out, nil
}

// SetRNGState restores states returned by RNGState. Every random layer must
// have an entry, and every entry a layer.
func (m *Sequential) SetRNGState(states map[string][]byte) error {
	seen := 0
	for _, l := range m.layers {
		r, ok := l.(Random)
		if !ok {
			continue
		}
		b, ok := states[l.Name()]
		if !ok {
			return fmt.Errorf("nn: model %q: no RNG state for layer %q", m.name, l.Name())
		}
		if err := r.SetRNGState(b); err != nil {
			return err
		}
		seen++
	}
	if seen != len(states) {
		for name := range states {
			if l := m.layer(name); l == nil {
				return fmt.Errorf("nn: model %q: RNG state for unknown layer %q", m.name, name)
			}
		}
		return fmt.Errorf("nn: model %q: RNG state given for layers without a generator", m.name)
	}
	return nil
}

func (m *Sequential) layer(name string) Layer {
	for _, l := range m.layers {
		if l.Name() == name {
			return l
		}
	}
	return nil
}

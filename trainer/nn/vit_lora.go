package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// blockSubs are the dense sublayers of a transformer block that can take a
// LoRA adapter, in the order their adapters are listed and seeded.
var blockSubs = []string{"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"}

// blockDefaultSubs are the sublayers adapted when none are named: the
// attention projections, as in the LoRA paper and PEFT's usual ViT recipe.
var blockDefaultSubs = blockSubs[:2]

// blockLoRA records the adapters of a Block: which sublayers, rank, alpha.
type blockLoRA struct {
	subs  []string // in blockSubs order; empty: none
	rank  int
	alpha float64
}

func (l blockLoRA) spec(s LayerSpec) LayerSpec {
	if len(l.subs) > 0 {
		s.LoRARank, s.LoRAAlpha, s.LoRALayers = l.rank, l.alpha, slices.Clone(l.subs)
	}
	return s
}

// sub returns a pointer to the field holding sublayer name.
func (b *Block) sub(name string) *Layer {
	switch name {
	case "attn.qkv":
		return &b.attn.qkv
	case "attn.proj":
		return &b.attn.proj
	case "mlp.fc1":
		return &b.fc1
	case "mlp.fc2":
		return &b.fc2
	}
	return nil
}

// loraSubRNG is the adapter generator of sublayer k of the layer at index
// i: a stream of its own, apart from every top-level layer's.
func loraSubRNG(seed uint64, i, k int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(splitmix64(loraStream+uint64(i))+uint64(k)+1)))
}

// addLoRA puts rank-r adapters scaled by alpha/r on the named sublayers
// (blockSubs names) and freezes their base weights. Nothing changes on an
// error.
func (b *Block) addLoRA(subs []string, rank int, alpha float64, seed uint64, index int) error {
	if len(subs) == 0 {
		return fmt.Errorf("nn: %s: no sublayers named for LoRA adapters (have %v)", b.name, blockSubs)
	}
	if rank < 1 {
		return fmt.Errorf("nn: %s: LoRA rank must be ≥ 1, got %d", b.name, rank)
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return fmt.Errorf("nn: %s: LoRA alpha must be positive and finite, got %g", b.name, alpha)
	}
	if len(b.lora.subs) > 0 {
		return fmt.Errorf("nn: %s: the block already has LoRA adapters on %v", b.name, b.lora.subs)
	}
	for i, s := range subs {
		f := b.sub(s)
		if f == nil {
			return fmt.Errorf("nn: %s has no sublayer %q for a LoRA adapter (have %v)", b.name, s, blockSubs)
		}
		if slices.Contains(subs[:i], s) {
			return fmt.Errorf("nn: %s: sublayer %q named twice for LoRA", b.name, s)
		}
		if _, ok := (*f).(*Dense); !ok {
			return fmt.Errorf("nn: %s.%s already has a LoRA adapter", b.name, s)
		}
	}
	var names []string
	for k, s := range blockSubs {
		if !slices.Contains(subs, s) {
			continue
		}
		f := b.sub(s)
		l, err := NewLoRA((*f).(*Dense), rank, alpha, loraSubRNG(seed, index, k))
		if err != nil {
			return err // not reached: rank and alpha are checked above
		}
		*f = l
		names = append(names, s)
	}
	b.lora = blockLoRA{subs: names, rank: rank, alpha: alpha}
	b.rebuildParams()
	return nil
}

// rebuildParams collects the parameters again after sublayers changed.
func (b *Block) rebuildParams() {
	a := b.attn
	a.params = append(append([]*Param(nil), a.qkv.Params()...), a.proj.Params()...)
	b.params = nil
	for _, l := range []Layer{b.norm1, b.attn, b.norm2, b.fc1, b.fc2} {
		b.params = append(b.params, l.Params()...)
	}
}

// adapters returns the block's LoRA sublayers in blockSubs order.
func (b *Block) adapters() []*LoRA {
	var out []*LoRA
	for _, s := range blockSubs {
		if l, ok := (*b.sub(s)).(*LoRA); ok {
			out = append(out, l)
		}
	}
	return out
}

// loraTargets returns the full names of the sublayers that can take an
// adapter now (plain dense ones).
func (b *Block) loraTargets(subs []string) []string {
	var out []string
	for _, s := range subs {
		if _, ok := (*b.sub(s)).(*Dense); ok {
			out = append(out, b.name+"."+s)
		}
	}
	return out
}

// mergeLoRA replaces every adapted sublayer by its merged dense layer and
// returns their full names.
func (b *Block) mergeLoRA() []string {
	var names []string
	for _, s := range blockSubs {
		f := b.sub(s)
		if l, ok := (*f).(*LoRA); ok {
			*f = l.Merged()
			names = append(names, b.name+"."+s)
		}
	}
	if len(names) > 0 {
		b.lora = blockLoRA{}
		b.rebuildParams()
	}
	return names
}

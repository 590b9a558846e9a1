package trainer

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// FinetuneOptions say how a pretrained model is adapted to new data.
type FinetuneOptions struct {
	// Freeze lists layer names or prefixes to keep fixed; "features" means
	// every layer but the head (the last dense layer).
	Freeze []string
	// LRHead and LRBody override the base learning rate for the head and
	// for the rest (0: the base rate).
	LRHead, LRBody float64
	// Renormalize accepts shards whose normalization differs from the
	// checkpoint's (the model then sees differently scaled pixels). Shards
	// of another dataset than the checkpoint's (no source file in common)
	// need no flag: they are always trained on with their own normalization.
	Renormalize bool
	// NewHead re-initialises the head even when the shards' classes are the
	// checkpoint's (it is replaced anyway when they differ).
	NewHead bool
	// LoRARank > 0 trains low-rank adapters instead of the weights (see
	// nn.LoRA): every base parameter is frozen, adapters of this rank go on
	// LoRALayers (nil: every dense layer but the head), and the head trains
	// in full, as PEFT's modules_to_save does for a classifier. The adapters
	// count as body for LRBody.
	LoRARank int
	// LoRAAlpha scales the adapters by LoRAAlpha/LoRARank (0: LoRARank,
	// a scale of 1).
	LoRAAlpha  float64
	LoRALayers []string
}

// Finetune loads the checkpoint at p and prepares a session that trains it
// on ds: it checks the input shape and normalization (a checkpoint of
// another dataset takes ds's normalization, reported through logf), replaces
// the head when the class set differs or opts.NewHead asks (reported), adds LoRA adapters when
// opts.LoRARank is set, freezes what opts.Freeze names and gives head and
// body their own learning rates.
//
// A checkpoint that already has adapters keeps them, with their base
// frozen; it cannot take new ones (merge it first with MergeLoRA).
func Finetune(p string, ds *data.Dataset, cfg Config, opts FinetuneOptions, logf func(string, ...any)) (*Session, error) {
	if opts.LoRARank > 0 && slices.Contains(opts.Freeze, "features") {
		return nil, errors.New("freezing features with LoRA would freeze the adapters too: LoRA already freezes every base weight but the head's")
	}
	c, model, err := checkpoint.LoadModel(p)
	if err != nil {
		return nil, err
	}
	for _, name := range c.Meta.Frozen { // a new run decides afresh what is frozen
		if err := model.Unfreeze(name); err != nil {
			return nil, err
		}
	}
	for _, a := range model.Adapters() { // but an adapter's base stays fixed
		a.Base().W.Frozen, a.Base().B.Frozen = true, true
	}
	n := 1
	for _, d := range model.InputShape() {
		n *= d
	}
	if n != ds.Elems() {
		return nil, fmt.Errorf("checkpoint %s takes input %v but the shards hold %dx%dx%d images", p, model.InputShape(),
			ds.Manifest.Image.Channels, ds.Manifest.Image.Height, ds.Manifest.Image.Width)
	}
	if err := CheckImage(c.Meta, ds); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	// The session normalizes with the shards' own statistics, whatever the
	// checkpoint's were. Between versions of the same data a difference is a
	// mistake, refused unless asked for; a checkpoint of another dataset
	// (no source file in common) learns the new data as that data is
	// normalized, which is said.
	m := ds.Manifest
	if nm := c.Meta.Normalization; nm != nil && !nm.Same(m.Normalize.Mean, m.Normalize.Std) {
		old := fmt.Sprintf("mean %s std %s", manifest.Values(nm.Mean).Decimals(6), manifest.Values(nm.Std).Decimals(6))
		now := fmt.Sprintf("mean %s std %s", manifest.Values(m.Normalize.Mean).Decimals(6), manifest.Values(m.Normalize.Std).Decimals(6))
		switch {
		case otherData(c.Meta, m):
			logf("transfer: the checkpoint was trained on %s, the shards are %s, another dataset (no source file in common): training on the shards' normalization, %s (the checkpoint's: %s)",
				datasetName(c.Meta), m.Dataset, now, old)
		case opts.Renormalize:
			logf("--renormalize: training on the shards' normalization, %s (the checkpoint's: %s)", now, old)
		case len(c.Meta.Sources) == 0:
			return nil, fmt.Errorf("checkpoint %s was trained on pixels normalized with %s, the shards use %s, and it does not record its source files, so whether the shards are another dataset is not known (pass --renormalize to train on the shards' normalization)",
				p, old, now)
		default:
			return nil, fmt.Errorf("checkpoint %s was trained on pixels normalized with %s, the shards (built from its source files) use %s (prep them with the same normalize settings, or pass --renormalize)",
				p, old, now)
		}
	}
	head := headName(model)
	replaced := false
	if !slices.Equal(c.Meta.ClassNames, m.Classes) || opts.NewHead {
		if err := model.ReplaceHead(len(m.Classes), cfg.Seed); err != nil {
			return nil, err
		}
		if opts.NewHead && slices.Equal(c.Meta.ClassNames, m.Classes) {
			logf("re-initialising the head %s, as asked: %d classes %v, the checkpoint's", head, len(m.Classes), m.Classes)
		} else {
			logf("replacing the head %s: checkpoint classes %v, shards classes %v", head, c.Meta.ClassNames, m.Classes)
		}
		replaced = true
	}
	if opts.LoRARank != 0 || opts.LoRAAlpha != 0 || len(opts.LoRALayers) > 0 {
		if err := addLoRA(model, head, replaced, opts, cfg.Seed, logf); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", p, err)
		}
	}
	for _, f := range opts.Freeze {
		switch f {
		case "", "none":
		case "features":
			for _, l := range model.Layers() {
				if l.Name() != head {
					// The layer's own parameters, by object rather than by
					// name prefix: fc1 must not match fc10, and a ViT's
					// cls_token and pos_embed do not start with a layer name.
					for _, p := range l.Params() {
						p.Frozen = true
					}
				}
			}
		default:
			if err := model.Freeze(f); err != nil {
				return nil, err
			}
		}
	}
	var frozen []string
	for _, p := range model.Params() {
		if p.Frozen {
			frozen = append(frozen, p.Name)
		}
	}
	if len(frozen) > 0 {
		logf("frozen: %s", strings.Join(frozen, ", "))
	}
	base := cfg.Optimizer.LR
	var rules []optim.Rule
	if opts.LRHead > 0 {
		rules = append(rules, optim.Rule{Prefix: head + ".", LRScale: opts.LRHead / base})
	}
	if opts.LRBody > 0 {
		rules = append(rules, optim.Rule{Prefix: "", LRScale: opts.LRBody / base})
	}
	cfg.Model = c.Meta.Arch.Name
	return NewSession(cfg, ds, model, rules)
}

// otherData reports whether the checkpoint was trained on another dataset
// than m: one built from none of m's source files. A checkpoint that does
// not record its sources is not known to be.
func otherData(meta checkpoint.Meta, m *manifest.Manifest) bool {
	if len(meta.Sources) == 0 {
		return false
	}
	for _, d := range SourceDigests(m) {
		if slices.Contains(meta.Sources, d) {
			return false
		}
	}
	return true
}

// datasetName names the checkpoint's dataset for a message.
func datasetName(meta checkpoint.Meta) string {
	if meta.Dataset != "" {
		return meta.Dataset
	}
	return "version " + manifest.Short(meta.DatasetVersion)
}

// headName is the name of the model's head (its last dense layer, adapted
// or not), or "" when it has none.
func headName(m *nn.Sequential) string {
	if h := m.Head(); h != nil {
		return h.Name()
	}
	return ""
}

// addLoRA freezes every parameter but the head's and puts adapters on the
// dense layers opts names (default: all but the head).
func addLoRA(model *nn.Sequential, head string, replaced bool, opts FinetuneOptions, seed uint64, logf func(string, ...any)) error {
	if opts.LoRARank < 1 {
		return fmt.Errorf("LoRA rank must be ≥ 1, got %d", opts.LoRARank)
	}
	if a := model.Adapters(); len(a) > 0 {
		return fmt.Errorf("layer %s already has a LoRA adapter (merge the run first: trainer finetune --merge)", a[0].Name())
	}
	alpha := opts.LoRAAlpha
	if alpha == 0 {
		alpha = float64(opts.LoRARank)
	}
	targets := opts.LoRALayers
	if len(targets) == 0 {
		for _, name := range model.LoRATargets() {
			if name != head {
				targets = append(targets, name)
			}
		}
		if len(targets) == 0 {
			return fmt.Errorf("the model has no dense layer but the head %s to put a LoRA adapter on", head)
		}
	}
	if replaced && slices.Contains(targets, head) {
		return fmt.Errorf("the head %s was replaced for the new classes: it trains in full and takes no LoRA adapter", head)
	}
	if err := model.Freeze(""); err != nil {
		return err
	}
	if !slices.Contains(targets, head) {
		if err := model.Unfreeze(head + "."); err != nil {
			return err
		}
	}
	if err := model.AddLoRA(targets, opts.LoRARank, alpha, seed); err != nil {
		return err
	}
	n := 0
	for _, p := range model.Trainable() {
		n += len(p.Data)
	}
	var adapted []string // the resolved names: a suffix names a sublayer in every block
	for _, a := range model.Adapters() {
		adapted = append(adapted, a.Name())
	}
	logf("LoRA rank %d alpha %g on %s; the head %s trains in full; %d trainable values", opts.LoRARank, alpha, strings.Join(adapted, ", "), head, n)
	return nil
}

// ExportPEFT writes the LoRA adapters of the checkpoint at p into dir in
// PEFT's layout (adapter_config.json and adapter_model.safetensors, see
// checkpoint.WritePEFT), with the head, which a LoRA run trains in full, as
// PEFT's modules_to_save, so that peft.PeftModel.from_pretrained on the
// timm model gives this run's predictions.
func ExportPEFT(p, dir string) error {
	c, model, err := checkpoint.LoadModel(p)
	if err != nil {
		return err
	}
	var save []string
	if h := model.Head(); h != nil {
		if _, adapted := h.(*nn.LoRA); !adapted {
			save = append(save, h.Name())
		}
	}
	return checkpoint.WritePEFT(dir, c, save)
}

// MergeLoRA folds the LoRA adapters of the checkpoint at p into their dense
// layers (W += alpha/r·B·A) and rewrites p as a plain checkpoint: the same
// outputs, no adapter layers, loadable like any checkpoint of the base
// architecture. The adapters are kept in checkpoint.MergedLoRAPath(p); the
// optimizer state, which belonged to the adapters, is removed. It returns the merged layers.
func MergeLoRA(p string) ([]string, error) {
	c, model, err := checkpoint.LoadModel(p)
	if err != nil {
		return nil, err
	}
	merged := model.MergeLoRA()
	if len(merged) == 0 {
		return nil, fmt.Errorf("checkpoint %s has no LoRA adapters to merge", p)
	}
	// The adapters stay beside the plain checkpoint under a name of no
	// generation, which the save's clean-up keeps; the optimizer state goes
	// with the adapted generation. A copy, so that the adapted checkpoint
	// stays whole until the merged one replaces it.
	if c.Meta.LoRAFile != nil {
		b, err := os.ReadFile(checkpoint.LoRAPath(p))
		if err != nil {
			return nil, err
		}
		if err := durable.WriteFile(checkpoint.MergedLoRAPath(p), b, 0o644); err != nil {
			return nil, err
		}
	}
	meta := c.Meta
	meta.Optimizer, meta.OptimizerFile, meta.LoRAFile = nil, nil, nil
	mc, err := checkpoint.Capture(model, nil, meta)
	if err != nil {
		return nil, err
	}
	if err := checkpoint.Save(p, mc); err != nil {
		return nil, err
	}
	return merged, nil
}

package trainer

import (
	"fmt"
	"math"
	"slices"
	"strings"

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
	// checkpoint's (the model then sees differently scaled pixels).
	Renormalize bool
}

// Finetune loads the checkpoint at p and prepares a session that trains it
// on ds: it checks the input shape and normalization, replaces the head when
// the class set differs (reported through logf), freezes what opts.Freeze
// names and gives head and body their own learning rates.
func Finetune(p string, ds *data.Dataset, cfg Config, opts FinetuneOptions, logf func(string, ...any)) (*Session, error) {
	c, err := checkpoint.Load(p)
	if err != nil {
		return nil, err
	}
	model, err := c.Restore()
	if err != nil {
		return nil, err
	}
	for _, name := range c.Meta.Frozen { // a new run decides afresh what is frozen
		if err := model.Unfreeze(name); err != nil {
			return nil, err
		}
	}
	n := 1
	for _, d := range model.InputShape() {
		n *= d
	}
	if n != ds.Elems() {
		return nil, fmt.Errorf("checkpoint %s takes input %v but the shards hold %dx%dx%d images", p, model.InputShape(),
			ds.Manifest.Image.Channels, ds.Manifest.Image.Height, ds.Manifest.Image.Width)
	}
	if nm := c.Meta.Normalization; nm != nil && len(nm.Mean) == 1 && !opts.Renormalize {
		dn := ds.Manifest.Normalize
		if math.Abs(nm.Mean[0]-dn.Mean) > 1e-6 || math.Abs(nm.Std[0]-dn.Std) > 1e-6 {
			return nil, fmt.Errorf("checkpoint %s was trained on pixels normalized with mean %.6f std %.6f, the shards use mean %.6f std %.6f (prep them with the same normalize settings, or pass --renormalize)",
				p, nm.Mean[0], nm.Std[0], dn.Mean, dn.Std)
		}
	}
	head := headName(model)
	if !slices.Equal(c.Meta.ClassNames, ds.Manifest.Classes) {
		if err := model.ReplaceHead(len(ds.Manifest.Classes), cfg.Seed); err != nil {
			return nil, err
		}
		logf("replacing the head %s: checkpoint classes %v, shards classes %v", head, c.Meta.ClassNames, ds.Manifest.Classes)
	}
	for _, f := range opts.Freeze {
		switch f {
		case "", "none":
		case "features":
			for _, l := range model.Layers() {
				if l.Name() != head && len(l.Params()) > 0 {
					if err := model.Freeze(l.Name()); err != nil {
						return nil, err
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

// headName is the name of the model's last dense layer.
func headName(m *nn.Sequential) string {
	layers := m.Layers()
	for i := len(layers) - 1; i >= 0; i-- {
		if _, ok := layers[i].(*nn.Dense); ok {
			return layers[i].Name()
		}
	}
	return ""
}

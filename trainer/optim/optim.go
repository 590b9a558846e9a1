// Package optim updates model parameters from their gradients: SGD (with
// momentum and Nesterov), Adam and AdamW, L2 or decoupled weight decay,
// clipping by global gradient norm, learning-rate schedules and parameter
// groups with their own learning-rate scale and weight decay.
//
// Updates follow PyTorch's formulas so that hyper-parameters carry over.
// State is exported as named float32 slices plus a step count, which is what
// a checkpoint stores.
package optim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/shardsmith/shardsmith/trainer/kernels"
	"github.com/shardsmith/shardsmith/trainer/nn"
)

// Algorithm names an update rule.
type Algorithm string

const (
	SGD   Algorithm = "sgd"
	Adam  Algorithm = "adam"
	AdamW Algorithm = "adamw"
)

// Config holds the hyper-parameters shared by all groups.
type Config struct {
	Algorithm Algorithm `json:"algorithm" yaml:"algorithm"`
	LR        float64   `json:"lr" yaml:"lr"` // base rate; the schedule's factor multiplies it
	// SGD
	Momentum float64 `json:"momentum,omitempty" yaml:"momentum,omitempty"`
	Nesterov bool    `json:"nesterov,omitempty" yaml:"nesterov,omitempty"`
	// Adam and AdamW; zero means the PyTorch defaults 0.9, 0.999, 1e-8.
	Beta1 float64 `json:"beta1,omitempty" yaml:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty" yaml:"beta2,omitempty"`
	Eps   float64 `json:"eps,omitempty" yaml:"eps,omitempty"`
	// WeightDecay is added to the gradient as an L2 term (SGD, Adam) or
	// applied to the weights directly (AdamW, decoupled).
	WeightDecay float64 `json:"weight_decay,omitempty" yaml:"weight_decay,omitempty"`
	// ClipNorm, when positive, scales all gradients so that their global L2
	// norm is at most ClipNorm (clip_grad_norm_).
	ClipNorm float64 `json:"clip_norm,omitempty" yaml:"clip_norm,omitempty"`
}

// Group is a set of parameters with their own learning-rate scale (for
// example a higher rate for a new head than for a pretrained body) and,
// optionally, their own weight decay.
type Group struct {
	Name        string
	Params      []*nn.Param
	LRScale     float64  // multiplies the learning rate; 0 means 1
	WeightDecay *float64 // overrides Config.WeightDecay when set
}

// Rule assigns parameters whose name starts with Prefix to a group.
type Rule struct {
	Prefix      string
	LRScale     float64
	WeightDecay *float64
}

// GroupParams splits params into one group per rule (first matching rule
// wins, group named after the prefix) plus a "default" group for the rest.
// Empty groups are dropped.
func GroupParams(params []*nn.Param, rules ...Rule) []Group {
	groups := make([]Group, len(rules)+1)
	for i, r := range rules {
		groups[i] = Group{Name: r.Prefix, LRScale: r.LRScale, WeightDecay: r.WeightDecay}
	}
	groups[len(rules)].Name = "default"
	for _, p := range params {
		i := slices.IndexFunc(rules, func(r Rule) bool { return strings.HasPrefix(p.Name, r.Prefix) })
		if i < 0 {
			i = len(rules)
		}
		groups[i].Params = append(groups[i].Params, p)
	}
	return slices.DeleteFunc(groups, func(g Group) bool { return len(g.Params) == 0 })
}

// slot names of the exported state, as in PyTorch's optimizer state_dict.
const (
	slotMomentum = "momentum_buffer"
	slotExpAvg   = "exp_avg"
	slotExpAvgSq = "exp_avg_sq"
)

// segment is one parameter with its update settings and state.
type segment struct {
	p      *nn.Param
	lrMul  float64
	decay  float64
	m, v   []float32 // momentum buffer (SGD) or first/second moments (Adam)
	offset int       // start in the concatenation of all parameters
}

// Optimizer applies one update per Step.
type Optimizer struct {
	cfg   Config
	sched Schedule
	segs  []segment
	total int
	step  int64

	// per-step values shared with the workers
	lr, clip float64
	blocks   []float64 // partial squared norms, one per normBlock

	// method values built once, so that a step hands the pool no new closure
	updateFn, normFn func(lo, hi int)
}

// normBlock is the unit of the gradient-norm reduction: each block is summed
// by one goroutine and blocks are added in order, so the norm does not depend
// on the number of workers.
const normBlock = 1 << 14

// New returns an optimizer over the given groups. sched nil means constant.
// Parameter names must be unique.
func New(cfg Config, sched Schedule, groups ...Group) (*Optimizer, error) {
	switch cfg.Algorithm {
	case SGD, Adam, AdamW:
	default:
		return nil, fmt.Errorf("optim: unknown algorithm %q (want sgd, adam or adamw)", cfg.Algorithm)
	}
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	if !(cfg.LR >= 0) || cfg.Momentum < 0 || cfg.Momentum >= 1 || cfg.Beta1 < 0 || cfg.Beta1 >= 1 ||
		cfg.Beta2 < 0 || cfg.Beta2 >= 1 || cfg.Eps <= 0 || cfg.WeightDecay < 0 || cfg.ClipNorm < 0 {
		return nil, fmt.Errorf("optim: invalid hyper-parameters %+v", cfg)
	}
	if cfg.Nesterov && (cfg.Algorithm != SGD || cfg.Momentum == 0) {
		return nil, errors.New("optim: Nesterov needs SGD with momentum")
	}
	if sched == nil {
		sched = Constant{}
	}
	o := &Optimizer{cfg: cfg, sched: sched}
	seen := map[string]bool{}
	for _, g := range groups {
		mul := g.LRScale
		if mul == 0 {
			mul = 1
		}
		decay := cfg.WeightDecay
		if g.WeightDecay != nil {
			decay = *g.WeightDecay
		}
		if mul < 0 || decay < 0 {
			return nil, fmt.Errorf("optim: group %q: negative lr scale or weight decay", g.Name)
		}
		for _, p := range g.Params {
			if seen[p.Name] {
				return nil, fmt.Errorf("optim: parameter %q appears twice", p.Name)
			}
			if len(p.Grad) != len(p.Data) {
				return nil, fmt.Errorf("optim: parameter %q has %d values but %d gradients", p.Name, len(p.Data), len(p.Grad))
			}
			seen[p.Name] = true
			s := segment{p: p, lrMul: mul, decay: decay, offset: o.total}
			switch {
			case cfg.Algorithm == SGD && cfg.Momentum > 0:
				s.m = make([]float32, len(p.Data))
			case cfg.Algorithm != SGD:
				s.m = make([]float32, len(p.Data))
				s.v = make([]float32, len(p.Data))
			}
			o.segs = append(o.segs, s)
			o.total += len(p.Data)
		}
	}
	o.blocks = make([]float64, (o.total+normBlock-1)/normBlock)
	o.updateFn, o.normFn = o.updateRange, o.normRange
	return o, nil
}

// Config returns the hyper-parameters with defaults filled in.
func (o *Optimizer) Config() Config { return o.cfg }

// StepCount returns the number of updates applied so far.
func (o *Optimizer) StepCount() int64 { return o.step }

// LR returns the base learning rate the next Step will use (before group
// scales).
func (o *Optimizer) LR() float64 { return o.cfg.LR * o.sched.Factor(o.step) }

// SetSchedule replaces the schedule (nil: constant); the step count is kept.
func (o *Optimizer) SetSchedule(s Schedule) {
	if s == nil {
		s = Constant{}
	}
	o.sched = s
}

// StepInfo reports what a Step did.
type StepInfo struct {
	LR       float64 // base learning rate used
	GradNorm float64 // global gradient norm before clipping (0 unless clipping)
	Clipped  bool
}

// Step updates every parameter that is not frozen from its gradient. With
// clipping, the gradients are scaled inside the update; Param.Grad is left
// as it was.
func (o *Optimizer) Step() StepInfo {
	info := StepInfo{LR: o.LR()}
	o.lr, o.clip = info.LR, 1
	if o.cfg.ClipNorm > 0 {
		info.GradNorm = o.GradNorm()
		if info.GradNorm > o.cfg.ClipNorm {
			o.clip = o.cfg.ClipNorm / (info.GradNorm + 1e-6)
			info.Clipped = true
		}
	}
	o.step++
	parallel(o.total, o.updateFn)
	return info
}

// GradNorm returns the global L2 norm of the gradients of all parameters
// that are not frozen.
func (o *Optimizer) GradNorm() float64 {
	parallel(len(o.blocks), o.normFn)
	var s float64
	for _, b := range o.blocks {
		s += b
	}
	return math.Sqrt(s)
}

func (o *Optimizer) normRange(lo, hi int) {
	for b := lo; b < hi; b++ {
		var s float64
		o.forSpan(b*normBlock, min(o.total, (b+1)*normBlock), func(seg *segment, i, j int) {
			if seg.p.Frozen {
				return
			}
			for _, g := range seg.p.Grad[i:j] {
				s += float64(g) * float64(g)
			}
		})
		o.blocks[b] = s
	}
}

// forSpan calls f for the part [i, j) of every parameter that overlaps the
// global range [lo, hi).
func (o *Optimizer) forSpan(lo, hi int, f func(s *segment, i, j int)) {
	k, _ := slices.BinarySearchFunc(o.segs, lo, func(s segment, x int) int {
		if s.offset+len(s.p.Data) <= x {
			return -1
		}
		if s.offset > x {
			return 1
		}
		return 0
	})
	for ; k < len(o.segs) && o.segs[k].offset < hi; k++ {
		s := &o.segs[k]
		i := max(lo, s.offset) - s.offset
		j := min(hi, s.offset+len(s.p.Data)) - s.offset
		if i < j {
			f(s, i, j)
		}
	}
}

func (o *Optimizer) updateRange(lo, hi int) {
	o.forSpan(lo, hi, func(s *segment, i, j int) {
		if s.p.Frozen {
			return
		}
		switch o.cfg.Algorithm {
		case SGD:
			o.sgd(s, i, j)
		default:
			o.adam(s, i, j)
		}
	})
}

func (o *Optimizer) sgd(s *segment, i, j int) {
	lr := float32(o.lr * s.lrMul)
	wd, clip, mom := float32(s.decay), float32(o.clip), float32(o.cfg.Momentum)
	p, g := s.p.Data[i:j], s.p.Grad[i:j]
	g = g[:len(p)]
	if s.m == nil {
		for k := range p {
			p[k] -= lr * (g[k]*clip + wd*p[k])
		}
		return
	}
	buf := s.m[i:j]
	buf = buf[:len(p)]
	for k := range p {
		d := g[k]*clip + wd*p[k]
		b := mom*buf[k] + d
		buf[k] = b
		if o.cfg.Nesterov {
			d += mom * b
		} else {
			d = b
		}
		p[k] -= lr * d
	}
}

func (o *Optimizer) adam(s *segment, i, j int) {
	t := float64(o.step)
	b1, b2 := o.cfg.Beta1, o.cfg.Beta2
	lr := o.lr * s.lrMul
	stepSize := float32(lr / (1 - math.Pow(b1, t)))
	sqrtBC2 := float32(math.Sqrt(1 - math.Pow(b2, t)))
	eps, clip := float32(o.cfg.Eps), float32(o.clip)
	fb1, fb2 := float32(b1), float32(b2)
	l2, shrink := float32(s.decay), float32(1)
	if o.cfg.Algorithm == AdamW {
		l2, shrink = 0, float32(1-lr*s.decay)
	}
	p, g, m, v := s.p.Data[i:j], s.p.Grad[i:j], s.m[i:j], s.v[i:j]
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	if clip == 1 && l2 == 0 {
		// Common case: the vector kernel, with the bias corrections
		// folded into the rate and epsilon.
		if shrink != 1 {
			kernels.Scal(shrink, p)
		}
		kernels.AdamStep(p, g, m, v, stepSize*sqrtBC2, fb1, fb2, eps*sqrtBC2)
		return
	}
	for k := range p {
		w := p[k] * shrink
		d := g[k]*clip + l2*p[k]
		mk := fb1*m[k] + (1-fb1)*d
		vk := fb2*v[k] + (1-fb2)*d*d
		m[k], v[k] = mk, vk
		denom := float32(math.Sqrt(float64(vk)))/sqrtBC2 + eps
		p[k] = w - stepSize*mk/denom
	}
}

// parallel runs fn over [0, n) in at most GOMAXPROCS contiguous ranges of
// at least normBlock values, on the kernels' worker pool.
func parallel(n int, fn func(lo, hi int)) { kernels.ParallelFor(n, normBlock, fn) }

// State is an optimizer's resumable state: the step count and, per
// parameter, its buffers under "<param>.<slot>" with PyTorch's slot names
// (momentum_buffer, exp_avg, exp_avg_sq).
type State struct {
	Algorithm Algorithm
	Step      int64
	Tensors   map[string][]float32
}

// State returns a copy of the optimizer state.
func (o *Optimizer) State() State {
	st := State{Algorithm: o.cfg.Algorithm, Step: o.step, Tensors: map[string][]float32{}}
	for _, s := range o.segs {
		for slot, buf := range o.slots(&s) {
			st.Tensors[s.p.Name+"."+slot] = slices.Clone(buf)
		}
	}
	return st
}

func (o *Optimizer) slots(s *segment) map[string][]float32 {
	switch {
	case o.cfg.Algorithm == SGD && s.m != nil:
		return map[string][]float32{slotMomentum: s.m}
	case o.cfg.Algorithm != SGD:
		return map[string][]float32{slotExpAvg: s.m, slotExpAvgSq: s.v}
	}
	return nil
}

// LoadState restores a state taken from an optimizer with the same
// algorithm over parameters of the same names and sizes.
func (o *Optimizer) LoadState(st State) error {
	if st.Algorithm != o.cfg.Algorithm {
		return fmt.Errorf("optim: state is for %q, optimizer is %q", st.Algorithm, o.cfg.Algorithm)
	}
	if st.Step < 0 {
		return fmt.Errorf("optim: negative step count %d in state", st.Step)
	}
	var errs []error
	used := 0
	for _, s := range o.segs {
		for slot, buf := range o.slots(&s) {
			name := s.p.Name + "." + slot
			v, ok := st.Tensors[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("missing %q", name))
			case len(v) != len(buf):
				errs = append(errs, fmt.Errorf("%q has %d values, parameter has %d", name, len(v), len(buf)))
			default:
				used++
			}
		}
	}
	if used != len(st.Tensors) {
		for name := range st.Tensors {
			if !o.hasSlot(name) {
				errs = append(errs, fmt.Errorf("unexpected %q", name))
			}
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return fmt.Errorf("optim: loading state: %w", errors.Join(errs...))
	}
	for _, s := range o.segs {
		for slot, buf := range o.slots(&s) {
			copy(buf, st.Tensors[s.p.Name+"."+slot])
		}
	}
	o.step = st.Step
	return nil
}

func (o *Optimizer) hasSlot(name string) bool {
	for _, s := range o.segs {
		for slot := range o.slots(&s) {
			if s.p.Name+"."+slot == name {
				return true
			}
		}
	}
	return false
}

// NoDecay reports whether p is exempt from weight decay under timm's rule
// (param_groups_weight_decay with a ViT's no_weight_decay()): biases and
// norm scales, the one-dimensional parameters, and the class token and
// position embedding. Decaying them pulls the norms' gains and the
// embeddings towards zero without regularising any product of weights.
func NoDecay(p *nn.Param) bool {
	return len(p.Shape) <= 1 || p.Name == "cls_token" || p.Name == "pos_embed"
}

// SplitDecay moves the parameters of each group for which exempt is true
// into a group of their own named "<group>.no_decay", with the same
// learning-rate scale and no weight decay. Empty groups are dropped.
func SplitDecay(groups []Group, exempt func(*nn.Param) bool) []Group {
	zero := 0.0
	var out []Group
	for _, g := range groups {
		keep, free := g, Group{Name: g.Name + ".no_decay", LRScale: g.LRScale, WeightDecay: &zero}
		keep.Params = nil
		for _, p := range g.Params {
			if exempt(p) {
				free.Params = append(free.Params, p)
			} else {
				keep.Params = append(keep.Params, p)
			}
		}
		for _, h := range []Group{keep, free} {
			if len(h.Params) > 0 {
				out = append(out, h)
			}
		}
	}
	return out
}

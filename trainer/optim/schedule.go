package optim

import (
	"fmt"
	"math"
)

// Schedule gives the factor by which the base learning rate is multiplied at
// a step (counted from 0, one step per optimizer update).
type Schedule interface {
	Factor(step int64) float64
}

// Constant keeps the learning rate fixed.
type Constant struct{}

func (Constant) Factor(int64) float64 { return 1 }

// StepDecay multiplies the rate by Gamma every StepSize steps (PyTorch's
// StepLR). For "every N epochs" use StepSize = N·steps per epoch.
type StepDecay struct {
	StepSize int64
	Gamma    float64
}

func (s StepDecay) Factor(step int64) float64 {
	if s.StepSize <= 0 {
		return 1
	}
	return math.Pow(s.Gamma, float64(step/s.StepSize))
}

// Cosine anneals the factor from 1 to MinFactor over Total steps along half
// a cosine and stays at MinFactor afterwards (CosineAnnealingLR with
// eta_min = MinFactor·base).
type Cosine struct {
	Total     int64
	MinFactor float64
}

func (c Cosine) Factor(step int64) float64 {
	if c.Total <= 0 || step >= c.Total {
		if c.Total <= 0 {
			return 1
		}
		return c.MinFactor
	}
	t := float64(step) / float64(c.Total)
	return c.MinFactor + (1-c.MinFactor)*(1+math.Cos(math.Pi*t))/2
}

// Warmup ramps the factor linearly from Start (at step 0) to 1 (at step
// Steps), then hands over to Then, whose own step count starts at 0 there
// (PyTorch's LinearLR followed by SequentialLR). A nil Then means constant.
type Warmup struct {
	Steps int64
	Start float64
	Then  Schedule
}

func (w Warmup) Factor(step int64) float64 {
	if step < w.Steps {
		return w.Start + (1-w.Start)*float64(step)/float64(w.Steps)
	}
	if w.Then == nil {
		return 1
	}
	return w.Then.Factor(step - w.Steps)
}

// ScheduleConfig is the JSON/YAML form of a schedule.
type ScheduleConfig struct {
	Kind        string  `json:"kind" yaml:"kind"` // constant (default), step, cosine
	StepSize    int64   `json:"step_size,omitempty" yaml:"step_size,omitempty"`
	Gamma       float64 `json:"gamma,omitempty" yaml:"gamma,omitempty"`
	TotalSteps  int64   `json:"total_steps,omitempty" yaml:"total_steps,omitempty"` // cosine, counted after warm-up
	MinFactor   float64 `json:"min_factor,omitempty" yaml:"min_factor,omitempty"`
	WarmupSteps int64   `json:"warmup_steps,omitempty" yaml:"warmup_steps,omitempty"`
	WarmupStart float64 `json:"warmup_start,omitempty" yaml:"warmup_start,omitempty"`
}

// Schedule builds the configured schedule.
func (c ScheduleConfig) Schedule() (Schedule, error) {
	var s Schedule
	switch c.Kind {
	case "", "constant":
		s = Constant{}
	case "step":
		if c.StepSize <= 0 || c.Gamma <= 0 {
			return nil, fmt.Errorf("optim: step schedule needs step_size > 0 and gamma > 0, got %d and %v", c.StepSize, c.Gamma)
		}
		s = StepDecay{StepSize: c.StepSize, Gamma: c.Gamma}
	case "cosine":
		if c.TotalSteps <= 0 || c.MinFactor < 0 || c.MinFactor > 1 {
			return nil, fmt.Errorf("optim: cosine schedule needs total_steps > 0 and min_factor in [0, 1], got %d and %v", c.TotalSteps, c.MinFactor)
		}
		s = Cosine{Total: c.TotalSteps, MinFactor: c.MinFactor}
	default:
		return nil, fmt.Errorf("optim: unknown schedule kind %q (want constant, step or cosine)", c.Kind)
	}
	if c.WarmupSteps < 0 || c.WarmupStart < 0 || c.WarmupStart > 1 {
		return nil, fmt.Errorf("optim: warm-up needs warmup_steps >= 0 and warmup_start in [0, 1], got %d and %v", c.WarmupSteps, c.WarmupStart)
	}
	if c.WarmupSteps > 0 {
		s = Warmup{Steps: c.WarmupSteps, Start: c.WarmupStart, Then: s}
	}
	return s, nil
}

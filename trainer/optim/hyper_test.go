package optim

import (
	"math"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// The ranges of the hyper-parameters, at their edges: a learning rate of 0
// (a frozen run, or the first step of a warm-up) is valid; a momentum or a
// beta of 1 (a moving average that never forgets) is not.
func TestHyperParameterEdges(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Algorithm: SGD, LR: 0}, true},
		{Config{Algorithm: SGD, LR: 0.1, Momentum: 0.999}, true},
		{Config{Algorithm: SGD, LR: 0.1, Momentum: 1}, false},
		{Config{Algorithm: Adam, LR: 0.1, Beta1: 0.999999}, true},
		{Config{Algorithm: Adam, LR: 0.1, Beta1: 1}, false},
		{Config{Algorithm: Adam, LR: 0.1, Beta2: 0.999999}, true},
		{Config{Algorithm: AdamW, LR: 0.1, Beta2: 1}, false},
		{Config{Algorithm: Adam, LR: -0.1}, false},
		{Config{Algorithm: Adam, LR: 0.1, WeightDecay: 0, ClipNorm: 0}, true},
	} {
		p := param("w", 1, 2)
		_, err := New(tc.cfg, nil, Group{Params: []*nn.Param{p}})
		if (err == nil) != tc.ok {
			t.Errorf("%+v: err = %v, want ok = %v", tc.cfg, err, tc.ok)
		}
	}
	// With a rate of 0 nothing moves.
	p := param("w", 1, 2)
	p.Grad[0], p.Grad[1] = 3, -4
	o, err := New(Config{Algorithm: Adam, LR: 0}, nil, Group{Params: []*nn.Param{p}})
	if err != nil {
		t.Fatal(err)
	}
	o.Step()
	if p.Data[0] != 1 || p.Data[1] != 2 {
		t.Fatalf("lr 0 moved the parameters to %v", p.Data)
	}
}

// Clipping follows clip_grad_norm_: the factor is max_norm/(norm+1e-6),
// which matters when the norms are small, and a gradient whose norm is
// exactly the bound is left alone (and not reported clipped).
func TestClipFactorEpsilonAndBound(t *testing.T) {
	p := param("w", 0, 0)
	p.Grad[0] = 2e-6
	o, err := New(Config{Algorithm: SGD, LR: 1, ClipNorm: 1e-6}, nil, Group{Params: []*nn.Param{p}})
	if err != nil {
		t.Fatal(err)
	}
	info := o.Step()
	want := -2e-6 * (1e-6 / (2e-6 + 1e-6)) // a third of the gradient
	if !info.Clipped || !(math.Abs(float64(p.Data[0])-want) <= 1e-12) {
		t.Fatalf("clipped %v, p = %g, want %g", info.Clipped, p.Data[0], want)
	}
	q := param("w", 0, 0)
	q.Grad[0], q.Grad[1] = 3, 4
	o, _ = New(Config{Algorithm: SGD, LR: 1, ClipNorm: 5}, nil, Group{Params: []*nn.Param{q}})
	if info := o.Step(); info.Clipped || info.GradNorm != 5 || q.Data[0] != -3 || q.Data[1] != -4 {
		t.Fatalf("norm at the bound: %+v, p = %v", info, q.Data)
	}
}

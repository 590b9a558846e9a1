package optim

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// torchRecord is testdata/torch_optim.json, written by testdata/torch_optim.py
// with PyTorch 1.13: the parameters after each of four steps of fixed
// gradients, for three parameter groups with different learning-rate scales
// and weight decays.
type torchRecord struct {
	Init  map[string][]float32
	Grads []map[string][]float32
	Cases []struct {
		Name, Algorithm   string
		Momentum          float64
		Nesterov          bool
		Beta1, Beta2, Eps float64
		ClipNorm          float64 `json:"clip_norm"`
		After             []map[string][]float64
	}
}

func TestMatchesPyTorchWithParameterGroups(t *testing.T) {
	b, err := os.ReadFile("testdata/torch_optim.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec torchRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	var top struct {
		LR          float64 `json:"lr"`
		WeightDecay float64 `json:"weight_decay"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if len(rec.Cases) < 9 || len(rec.Grads) != 4 {
		t.Fatalf("testdata has %d cases and %d steps", len(rec.Cases), len(rec.Grads))
	}
	names := []string{"body.w", "body.b", "head.w"}
	for _, c := range rec.Cases {
		params := map[string]*nn.Param{}
		var list []*nn.Param
		for _, n := range names {
			params[n] = param(n, rec.Init[n]...)
			list = append(list, params[n])
		}
		zero, bias := 0.0, 0.2
		groups := GroupParams(list,
			Rule{Prefix: "head.", LRScale: 10, WeightDecay: &zero},
			Rule{Prefix: "body.b", LRScale: 0.5, WeightDecay: &bias})
		cfg := Config{Algorithm: Algorithm(c.Algorithm), LR: top.LR, WeightDecay: top.WeightDecay,
			Momentum: c.Momentum, Nesterov: c.Nesterov, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, ClipNorm: c.ClipNorm}
		o, err := New(cfg, nil, groups...)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		for step, g := range rec.Grads {
			for _, n := range names {
				copy(params[n].Grad, g[n])
			}
			o.Step()
			for _, n := range names {
				for i, want := range c.After[step][n] {
					got := float64(params[n].Data[i])
					if !(math.Abs(got-want) <= 2e-6*(1+math.Abs(want))) { // NaN fails too
						t.Errorf("%s, step %d: %s[%d] = %.8f, PyTorch %.8f", c.Name, step+1, n, i, got, want)
					}
				}
			}
		}
	}
}

package optim

import (
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

func TestSplitDecay(t *testing.T) {
	mk := func(name string, shape ...int) *nn.Param {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return &nn.Param{Name: name, Shape: shape, Data: make([]float32, n), Grad: make([]float32, n)}
	}
	w, b := mk("blocks.0.mlp.fc1.weight", 4, 2), mk("blocks.0.mlp.fc1.bias", 4)
	g, cls, pos := mk("blocks.0.norm1.weight", 2), mk("cls_token", 1, 1, 2), mk("pos_embed", 1, 3, 2)
	hw := mk("head.weight", 3, 2)
	groups := SplitDecay(GroupParams([]*nn.Param{w, b, g, cls, pos, hw}, Rule{Prefix: "head.", LRScale: 10}), NoDecay)
	if len(groups) != 3 {
		t.Fatalf("%d groups, want head, default and default.no_decay: %+v", len(groups), groups)
	}
	if groups[0].Name != "head." || len(groups[0].Params) != 1 || groups[0].LRScale != 10 {
		t.Errorf("head group %+v", groups[0])
	}
	if groups[1].Name != "default" || len(groups[1].Params) != 1 || groups[1].Params[0] != w || groups[1].WeightDecay != nil {
		t.Errorf("decayed group %+v", groups[1])
	}
	nd := groups[2]
	if nd.Name != "default.no_decay" || nd.WeightDecay == nil || *nd.WeightDecay != 0 || len(nd.Params) != 4 {
		t.Errorf("no-decay group %+v", nd)
	}

	// AdamW leaves an exempt parameter untouched when its gradient is zero,
	// and shrinks a decayed one.
	w.Data[0], b.Data[0] = 1, 1
	opt, err := New(Config{Algorithm: AdamW, LR: 0.1, WeightDecay: 0.5}, nil, groups...)
	if err != nil {
		t.Fatal(err)
	}
	opt.Step()
	if b.Data[0] != 1 {
		t.Errorf("exempt bias decayed to %v", b.Data[0])
	}
	if w.Data[0] >= 1 {
		t.Errorf("decayed weight stays at %v", w.Data[0])
	}
}

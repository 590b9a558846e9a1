package trainer

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

func vitConfig(epochs int) Config {
	return Config{Model: "vit", ViT: &nn.ViTConfig{Patch: 4, Dim: 16, Depth: 2, Heads: 2, MLPRatio: 2, DropPath: 0.2},
		Epochs: epochs, BatchSize: 32, Seed: 7, Optimizer: optim.Config{Algorithm: optim.AdamW, LR: 3e-3}}
}

// A ViT run learns, records its hyper-parameters in the checkpoint, and
// resumes bit for bit (drop path draws from per-block generators that must
// travel with the checkpoint).
func TestViTTrainsAndResumes(t *testing.T) {
	ds := dataset(t)
	straight, err := NewSession(vitConfig(3), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, straight)
	if h := straight.History; h[2].TrainLoss >= h[0].TrainLoss {
		t.Errorf("train loss did not fall: %+v", h)
	}

	ck := savedAfterOneEpoch(t, vitConfig(3), ds)
	raw, err := os.ReadFile(ck + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Arch  nn.Spec `json:"arch"`
		Extra struct {
			Session struct {
				Config Config `json:"config"`
			} `json:"session"`
		} `json:"extra"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if got := meta.Extra.Session.Config.ViT; got == nil || *got != *vitConfig(3).ViT {
		t.Errorf("checkpoint.json records ViT config %+v, want %+v", got, vitConfig(3).ViT)
	}
	if got, ok := nn.ViTConfigOf(meta.Arch); !ok || got != *vitConfig(3).ViT {
		t.Errorf("checkpoint.json architecture gives %+v, want %+v", got, vitConfig(3).ViT)
	}
	resumed, err := Resume(ck, ds)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, resumed)
	if !sameWeights(weights(straight), weights(resumed)) {
		t.Fatal("resumed ViT run ended with different weights")
	}
}

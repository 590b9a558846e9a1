package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// savedConfig reads the training configuration a run's checkpoint records.
func savedConfig(t *testing.T, run string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(run, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Extra struct {
			Session struct {
				Config map[string]any
			}
		}
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	return meta.Extra.Session.Config
}

// A new run that names no schedule trains with its model's recipe; flags
// given override their part, and --schedule constant restores the old
// defaults.
func TestRecipeDefaults(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	shards := filepath.Join(out, "tiny")
	dir := t.TempDir()
	vit := []string{"--model", "vit", "--patch", "4", "--dim", "16", "--depth", "1", "--heads", "2"}
	for _, tc := range []struct {
		name string
		args []string
		want map[string]any // config keys; "optimizer.x" inside the optimizer
	}{
		{"mlp", []string{"--hidden", "16"}, map[string]any{"schedule": "cosine", "optimizer.algorithm": "adam", "optimizer.lr": 2e-3,
			"warmup_epochs": nil, "decay_exempt": true, "optimizer.weight_decay": nil, "batch_size": 128.0}},
		{"mlp-batch", []string{"--hidden", "16", "--batch-size", "32"}, map[string]any{"schedule": "cosine", "batch_size": 32.0}},
		{"mlp-lr", []string{"--hidden", "16", "--lr", "5e-3"}, map[string]any{"schedule": "cosine", "optimizer.algorithm": "adam", "optimizer.lr": 5e-3}},
		{"mlp-constant", []string{"--hidden", "16", "--schedule", "constant"}, map[string]any{"schedule": "constant", "optimizer.algorithm": "adam",
			"optimizer.lr": 1e-3, "warmup_epochs": nil}},
		{"cnn", []string{"--model", "cnn"}, map[string]any{"schedule": "cosine", "optimizer.algorithm": "adam", "optimizer.lr": 2e-3,
			"warmup_epochs": nil, "batch_size": 128.0}},
		{"vit", vit, map[string]any{"schedule": "cosine", "optimizer.algorithm": "adamw", "optimizer.lr": 1e-3,
			"optimizer.weight_decay": 0.05, "optimizer.clip_norm": 1.0, "warmup_epochs": 0.1, "batch_size": 16.0}},
		// The recipe's batch size stays when the optimizer is replaced and
		// goes when --batch-size or --schedule is given.
		{"vit-sgd", append([]string{"--optimizer", "sgd", "--label-smoothing", "0.1"}, vit...), map[string]any{"schedule": "cosine",
			"optimizer.algorithm": "sgd", "optimizer.lr": 1e-3, "optimizer.weight_decay": nil, "warmup_epochs": 0.1, "label_smoothing": 0.1,
			"batch_size": 16.0}},
		{"vit-batch", append([]string{"--batch-size", "64"}, vit...), map[string]any{"schedule": "cosine", "optimizer.algorithm": "adamw",
			"optimizer.lr": 1e-3, "batch_size": 64.0}},
		// --beta2 replaces the recipe's second-moment decay and keeps the rest.
		{"vit-beta2", append([]string{"--beta2", "0.95"}, vit...), map[string]any{"schedule": "cosine", "optimizer.algorithm": "adamw",
			"optimizer.lr": 1e-3, "optimizer.beta2": 0.95, "optimizer.weight_decay": 0.05}},
		{"mlp-beta2", []string{"--hidden", "16", "--beta2", "0.9"}, map[string]any{"optimizer.algorithm": "adam", "optimizer.beta2": 0.9}},
		{"vit-constant", append([]string{"--schedule", "constant"}, vit...), map[string]any{"schedule": "constant", "optimizer.algorithm": "adam",
			"optimizer.lr": 1e-3, "optimizer.clip_norm": nil, "warmup_epochs": nil, "batch_size": 128.0}},
	} {
		run := filepath.Join(dir, tc.name)
		args := append([]string{"--shards", shards, "--epochs", "2", "--out", run, "--quiet"}, tc.args...)
		if code, _, stderr := runTrainer(t, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
		}
		cfg := savedConfig(t, run)
		opt, _ := cfg["optimizer"].(map[string]any)
		for k, want := range tc.want {
			var got any
			if sub, ok := strings.CutPrefix(k, "optimizer."); ok {
				got = opt[sub]
			} else {
				got = cfg[k]
			}
			if got != want {
				t.Errorf("%s: config %s = %v, want %v", tc.name, k, got, want)
			}
		}
	}
}

// The PyTorch twin of the ViT benchmark (bench/train/pytorch_mnist.py) trains
// with the ViT's recipe: its batch size and rate are the recipe table's.
func TestPyTorchTwinRecipe(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "bench", "train", "pytorch_mnist.py"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VIT_BATCH, VIT_LR = (\d+), ([0-9.e-]+)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("pytorch_mnist.py: no VIT_BATCH, VIT_LR = … line")
	}
	batch, _ := strconv.Atoi(string(m[1]))
	lr, err := strconv.ParseFloat(string(m[2]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if r := recipes["vit"]; batch != r.batch || lr != r.lr {
		t.Errorf("pytorch_mnist.py trains the ViT at batch %d, lr %g; the recipe is batch %d, lr %g", batch, lr, r.batch, r.lr)
	}
}

// The PyTorch twin's ViT (bench/train/pytorch_mnist.py) defaults to the
// shape of nn.DefaultViT, so bench/train/run.sh times the network trainer
// builds by default. TestPyTorchTwinIsOurViT (interop) checks the same with
// torch at hand; this check needs only the source.
func TestPyTorchTwinShape(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "bench", "train", "pytorch_mnist.py"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`def __init__\(self, img=28, patch=(\d+), chans=1, classes=10, dim=(\d+), depth=(\d+), heads=(\d+), mlp_ratio=([0-9.]+)\):`).FindSubmatch(src)
	if m == nil {
		t.Fatal("pytorch_mnist.py: no ViT __init__(self, img=28, patch=…, …, mlp_ratio=…) line")
	}
	var got [4]int
	for i := range got {
		got[i], _ = strconv.Atoi(string(m[i+1]))
	}
	ratio, err := strconv.ParseFloat(string(m[5]), 64)
	if err != nil {
		t.Fatal(err)
	}
	d := nn.DefaultViT
	if want := [4]int{d.Patch, d.Dim, d.Depth, d.Heads}; got != want || ratio != d.MLPRatio {
		t.Errorf("pytorch_mnist.py's ViT is patch, dim, depth, heads %v, mlp_ratio %g; nn.DefaultViT is %v, %g", got, ratio, want, d.MLPRatio)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/checkpoint"
)

// finetune --lora-rank on a ViT adapts the attention projections (and the
// MLP when named), writes the adapters in PEFT's layout, and --merge gives
// a plain checkpoint that evaluates like the adapted one.
func TestViTLoRAFinetunePEFTAndMerge(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	shards := filepath.Join(out, "tiny")
	dir := t.TempDir()
	base, lora, merged := filepath.Join(dir, "base"), filepath.Join(dir, "lora"), filepath.Join(dir, "merged")
	vit := []string{"--model", "vit", "--patch", "4", "--dim", "16", "--depth", "2", "--heads", "2", "--mlp-ratio", "1.5"}
	if code, _, stderr := runTrainer(t, append([]string{"--shards", shards, "--epochs", "1", "--batch-size", "16", "--lr", "3e-3", "--out", base, "--quiet"}, vit...)...); code != 0 {
		t.Fatalf("pretrain: exit %d: %s", code, stderr)
	}
	ft := []string{"finetune", "--from", base, "--shards", shards, "--epochs", "1", "--batch-size", "16", "--lora-rank", "4", "--lora-alpha", "8"}
	code, _, stderr := runTrainer(t, append(ft, "--out", lora)...)
	if code != 0 || !strings.Contains(stderr, "LoRA rank 4 alpha 8 on blocks.0.attn.qkv, blocks.0.attn.proj, blocks.1.attn.qkv, blocks.1.attn.proj; the head head trains in full") {
		t.Fatalf("LoRA fine-tune: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(lora, checkpoint.PEFTConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg checkpoint.PEFTConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.PEFTType != "LORA" || cfg.R != 4 || cfg.LoRAAlpha != 8 ||
		!slices.Equal(cfg.TargetModules, []string{"attn.qkv", "attn.proj"}) || !slices.Equal(cfg.ModulesToSave, []string{"head"}) {
		t.Errorf("adapter_config.json: %s", raw)
	}
	st, err := checkpoint.ReadSafetensors(filepath.Join(lora, checkpoint.PEFTWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Info("base_model.model.blocks.1.attn.proj.lora_B.weight"); !ok {
		t.Errorf("adapter_model.safetensors lacks base_model.model.blocks.1.attn.proj.lora_B.weight")
	}
	evalJSON := func(run string) string {
		code, stdout, stderr := runTrainer(t, "eval", "--checkpoint", run, "--shards", shards, "--json")
		if code != 0 {
			t.Fatalf("eval %s: exit %d: %s", run, code, stderr)
		}
		return stdout
	}
	adapted := evalJSON(lora)

	// The same run with --merge and the MLP adapted too.
	code, _, stderr = runTrainer(t, append(ft, "--out", merged, "--merge")...)
	if code != 0 || !strings.Contains(stderr, "merged the LoRA adapters of blocks.0.attn.qkv, blocks.0.attn.proj") {
		t.Fatalf("--merge: exit %d: %s", code, stderr)
	}
	// Folding B·A into W rounds differently from applying it: the same
	// predictions, the loss equal to float32 rounding.
	var a, m struct {
		Loss      float64
		Confusion [][]int
	}
	got := evalJSON(merged)
	if json.Unmarshal([]byte(adapted), &a) != nil || json.Unmarshal([]byte(got), &m) != nil ||
		math.Abs(a.Loss-m.Loss) > 1e-6*a.Loss || fmt.Sprint(a.Confusion) != fmt.Sprint(m.Confusion) {
		t.Errorf("merged checkpoint evaluates to\n%s\nthe adapted one to\n%s", got, adapted)
	}
	raw, _ = os.ReadFile(filepath.Join(merged, "checkpoint.json"))
	if strings.Contains(string(raw), "lora_") {
		t.Error("merged checkpoint.json still describes adapters")
	}

	mlp := filepath.Join(dir, "mlp")
	code, _, stderr = runTrainer(t, append(ft, "--out", mlp, "--lora-layers", "attn.qkv,attn.proj,mlp.fc1,mlp.fc2")...)
	if code != 0 || !strings.Contains(stderr, "blocks.1.mlp.fc2; the head head trains in full") {
		t.Fatalf("--lora-layers with the MLP: exit %d: %s", code, stderr)
	}
	raw, _ = os.ReadFile(filepath.Join(mlp, checkpoint.PEFTConfigFile))
	if err := json.Unmarshal(raw, &cfg); err != nil || !slices.Equal(cfg.TargetModules, []string{"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"}) {
		t.Errorf("target_modules with the MLP: %v %s", err, raw)
	}
}

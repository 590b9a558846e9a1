package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/checkpoint"
)

func TestFinetuneLoRAEvalResumeMerge(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	shards := filepath.Join(out, "tiny")
	dir := t.TempDir()
	base, lora, merged := filepath.Join(dir, "base"), filepath.Join(dir, "lora"), filepath.Join(dir, "merged")
	if code, _, stderr := runTrainer(t, "--shards", shards, "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--lr", "3e-3", "--out", base, "--quiet"); code != 0 {
		t.Fatalf("pretrain: exit %d: %s", code, stderr)
	}
	ft := []string{"finetune", "--from", base, "--shards", shards, "--epochs", "2", "--batch-size", "16", "--lora-rank", "4", "--lora-alpha", "8"}

	code, _, stderr := runTrainer(t, append(ft, "--out", lora)...)
	if code != 0 || !strings.Contains(stderr, "LoRA rank 4 alpha 8 on fc1; the head fc2 trains in full") {
		t.Fatalf("LoRA fine-tune: exit %d: %s", code, stderr)
	}
	_, optFile, _ := checkpoint.Paths(filepath.Join(lora, "checkpoint"))
	for _, f := range []string{checkpoint.LoRAPath(filepath.Join(lora, "checkpoint")), optFile} {
		// Two epochs, two saves: the files of the second generation.
		if _, err := os.Stat(f); err != nil || !strings.Contains(filepath.Base(f), ".g2.") {
			t.Fatalf("%s: %v", f, err)
		}
	}
	code, stdout, stderr := runTrainer(t, "eval", "--checkpoint", lora, "--shards", shards, "--json")
	if code != 0 {
		t.Fatalf("eval of a LoRA run: exit %d: %s", code, stderr)
	}
	var ev struct{ Loss, Accuracy float64 }
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil || ev.Accuracy < 0.8 {
		t.Fatalf("eval: %v %s", err, stdout)
	}
	if code, _, stderr := runTrainer(t, "--shards", shards, "--resume", lora, "--epochs", "3", "--quiet"); code != 0 {
		t.Fatalf("resume of a LoRA run: exit %d: %s", code, stderr)
	}

	code, stdout, stderr = runTrainer(t, append(ft, "--out", merged, "--merge", "--json")...)
	if code != 0 || !strings.Contains(stderr, "merged the LoRA adapters of fc1") {
		t.Fatalf("--merge: exit %d: %s", code, stderr)
	}
	var rep struct {
		TestAccuracy float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json with --merge: %v\n%s", err, stdout)
	}
	if _, err := os.Stat(filepath.Join(merged, "checkpoint.lora.safetensors")); err != nil {
		t.Errorf("adapter file not kept: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(merged, "checkpoint*.optim.safetensors")); len(m) != 0 {
		t.Errorf("stale optimizer state left after merge: %v", m)
	}
	sidecar, _ := os.ReadFile(filepath.Join(merged, "checkpoint.json"))
	if strings.Contains(string(sidecar), "lora") {
		t.Errorf("merged sidecar mentions LoRA")
	}
	code, stdout, stderr = runTrainer(t, "eval", "--checkpoint", merged, "--shards", shards, "--json")
	if code != 0 {
		t.Fatalf("eval of the merged run: exit %d: %s", code, stderr)
	}
	var mev struct{ Accuracy float64 }
	if err := json.Unmarshal([]byte(stdout), &mev); err != nil || mev.Accuracy != rep.TestAccuracy {
		t.Errorf("merged eval accuracy %v (%v), the run reported %v", mev.Accuracy, err, rep.TestAccuracy)
	}

	for _, args := range [][]string{
		{"--merge"}, {"--lora-alpha", "4"}, {"--lora-layers", "fc1"}, {"--lora-rank", "-1"},
	} {
		a := append([]string{"finetune", "--from", base, "--shards", shards, "--out", filepath.Join(dir, "bad")}, args...)
		if code, _, stderr := runTrainer(t, a...); code != 2 || !strings.Contains(stderr, "need --lora-rank") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
	if code, _, stderr := runTrainer(t, append(ft, "--freeze", "features", "--out", filepath.Join(dir, "bad"))...); code != 1 || !strings.Contains(stderr, "would freeze the adapters") {
		t.Errorf("--freeze features with LoRA: exit %d: %s", code, stderr)
	}
}

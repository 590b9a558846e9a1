package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
)

// dataset builds a small learnable dataset under out and returns out.
func dataset(t *testing.T, out, name string) string {
	t.Helper()
	tinybuild.Build(t, out, name, tinyset.Spec{Train: 300, Test: 100, Side: 8, Classes: 3, Seed: 2, Learnable: true},
		"classes: [x, y, z]\nsplit: {seed: 1, val_fraction: 0.2}\nshards: {rows: 128}\n")
	return out
}

func runTrainer(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var so, se bytes.Buffer
	code := run(args, &so, &se)
	return code, so.String(), se.String()
}

func TestTrainEvalResume(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runTrainer(t, "--shards", out, "--model", "mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--lr", "3e-3", "--out", runDir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	for _, k := range []string{"test_accuracy", "epochs", "seconds_per_epoch", "images_per_second", "dataset_version", "checkpoint"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("--json lacks %q", k)
		}
	}
	if rep["epochs"].(float64) != 2 || rep["test_accuracy"].(float64) < 0.8 {
		t.Fatalf("report %v", rep)
	}
	metrics, _ := os.ReadFile(filepath.Join(runDir, "metrics.jsonl"))
	if n := strings.Count(string(metrics), "\n"); n != 2 {
		t.Fatalf("metrics.jsonl has %d lines, want 2", n)
	}
	for _, f := range []string{"curves.png", "checkpoint.json", "checkpoint.g2.safetensors"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr = runTrainer(t, "eval", "--checkpoint", runDir, "--shards", filepath.Join(out, "tiny"))
	if code != 0 || !strings.Contains(stdout, "test accuracy") || !strings.Contains(stdout, "confusion matrix") {
		t.Fatalf("eval: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--resume", runDir, "--epochs", "3", "--quiet")
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	metrics, _ = os.ReadFile(filepath.Join(runDir, "metrics.jsonl"))
	if n := strings.Count(string(metrics), "\n"); n != 3 {
		t.Fatalf("after resume metrics.jsonl has %d lines, want 3", n)
	}
}

func TestUsageAndAmbiguousShards(t *testing.T) {
	if code, _, _ := runTrainer(t); code != 2 {
		t.Fatalf("no --shards: exit %d", code)
	}
	if code, _, stderr := runTrainer(t, "--help"); code != 0 || !strings.Contains(stderr, "--shards") {
		t.Fatalf("--help: exit %d", code)
	}
	root := t.TempDir()
	dataset(t, root, "a")
	dataset(t, root, "b")
	code, _, stderr := runTrainer(t, "--shards", root, "--epochs", "1")
	if code != 1 || !strings.Contains(stderr, "2 datasets") {
		t.Fatalf("ambiguous root: exit %d: %s", code, stderr)
	}
	code, _, stderr = runTrainer(t, "--shards", root+"/a", "--schedule", "step")
	if code != 2 || !strings.Contains(stderr, "--lr-step-epochs 0: the step schedule needs --lr-step-epochs ≥ 1") {
		t.Fatalf("step schedule without --lr-step-epochs: exit %d: %s", code, stderr)
	}
	code, _, stderr = runTrainer(t, "--shards", root+"/a", "--model", "resnet")
	if code != 1 || !strings.Contains(stderr, "resnet") {
		t.Fatalf("unknown model: exit %d: %s", code, stderr)
	}
}

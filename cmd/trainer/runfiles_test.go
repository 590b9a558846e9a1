package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A trainer killed between the last epoch's save and the writing of its
// run files leaves metrics.jsonl and curves.png an epoch behind the
// checkpoint. Resuming to the same total has no epoch left to train; it
// must still bring the run files up to the checkpoint (found by the chaos
// test in reliability/).
func TestResumeRewritesRunFilesBehindTheCheckpoint(t *testing.T) {
	shards := filepath.Join(dataset(t, t.TempDir(), "tiny"), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runTrainer(t, "--shards", shards, "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	metrics, curves := filepath.Join(runDir, "metrics.jsonl"), filepath.Join(runDir, "curves.png")
	full, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	first := full[:bytes.IndexByte(full, '\n')+1]
	if len(first) == 0 || len(first) == len(full) {
		t.Fatalf("metrics.jsonl of 2 epochs:\n%s", full)
	}
	// What the kill leaves: the run files of epoch 1 beside the checkpoint of epoch 2.
	if err := os.WriteFile(metrics, first, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(curves); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runTrainer(t, "--shards", shards, "--resume", runDir, "--epochs", "2", "--quiet"); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, full) {
		t.Fatalf("after the resume metrics.jsonl is\n%s\nwant the checkpoint's 2 epochs\n%s", got, full)
	}
	if _, err := os.Stat(curves); err != nil {
		t.Fatalf("after the resume: %v", err)
	}
}

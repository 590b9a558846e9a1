package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

// One epoch trained from shards on an object store gives the weights of the
// same epoch trained from local disk, and the shard cache holds the shards.
func TestTrainFromStore(t *testing.T) {
	srv := storetest.Start(t)
	local := dataset(t, t.TempDir(), "tiny")
	remote := dataset(t, srv.URL("datasets"), "tiny")
	cache := t.TempDir()
	args := []string{"--model", "mlp", "--hidden", "16", "--epochs", "1", "--batch-size", "16", "--lr", "3e-3", "--json", "--quiet"}
	train := func(shards, runDir string, extra ...string) map[string]any {
		t.Helper()
		code, stdout, stderr := runTrainer(t, append(append([]string{"--shards", shards, "--out", runDir}, args...), extra...)...)
		if code != 0 {
			t.Fatalf("--shards %s: exit %d: %s", shards, code, stderr)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	lrun, rrun := filepath.Join(t.TempDir(), "l"), filepath.Join(t.TempDir(), "r")
	lrep := train(local, lrun)
	rrep := train(remote, rrun, "--shard-cache", cache, "--shard-cache-mb", "64")
	if lrep["test_accuracy"] != rrep["test_accuracy"] || lrep["dataset_version"] != rrep["dataset_version"] {
		t.Errorf("local %v, store %v", lrep, rrep)
	}
	lw, _ := os.ReadFile(filepath.Join(lrun, "checkpoint.g1.safetensors"))
	rw, _ := os.ReadFile(filepath.Join(rrun, "checkpoint.g1.safetensors"))
	if len(lw) == 0 || string(lw) != string(rw) {
		t.Error("the weights trained from the store differ from those trained from local disk")
	}
	if e, _ := os.ReadDir(cache); len(e) == 0 {
		t.Error("nothing in the shard cache")
	}
	// eval reads the store too.
	if code, stdout, stderr := runTrainer(t, "eval", "--checkpoint", rrun, "--shards", remote+"/tiny/latest"); code != 0 || !strings.Contains(stdout, "test accuracy") {
		t.Errorf("eval from the store: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestTrainerRefusesUnsupportedSchemes(t *testing.T) {
	local := dataset(t, t.TempDir(), "tiny")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shards", "gs://bucket/mnist"}, `unsupported location scheme "gs"`},
		{[]string{"--shards", "s3:bucket/mnist"}, `looks like a URL without "//"`},
		{[]string{"--shards", local, "--out", "s3://bucket/runs/x"}, "--out s3://bucket/runs/x: only a local path"},
		{[]string{"--shards", local, "--shard-cache", "s3://b/c"}, "--shard-cache s3://b/c: only a local path"},
		{[]string{"eval", "--checkpoint", "gs://b/run", "--shards", local}, `unsupported location scheme "gs"`},
	} {
		code, _, stderr := runTrainer(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("trainer %s: exit %d, %q; want %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

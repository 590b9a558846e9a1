package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
)

// trainer eval --json reports how long the evaluation pass took and its rate,
// consistently with the number of images it counted.
func TestEvalJSONTiming(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runTrainer(t, "--shards", out, "--model", "mlp", "--hidden", "8", "--epochs", "1", "--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runTrainer(t, "eval", "--checkpoint", runDir, "--shards", filepath.Join(out, "tiny"), "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var ev struct {
		Seconds         float64 `json:"seconds"`
		ImagesPerSecond float64 `json:"images_per_second"`
		Examples        int     `json:"examples"`
	}
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, stdout)
	}
	if ev.Seconds <= 0 || ev.ImagesPerSecond <= 0 {
		t.Fatalf("eval --json timing: seconds %g, images/s %g\n%s", ev.Seconds, ev.ImagesPerSecond, stdout)
	}
	if ev.Examples != 100 {
		t.Fatalf("eval --json total %d, want the 100 test images\n%s", ev.Examples, stdout)
	}
	if got := float64(ev.Examples) / ev.Seconds; math.Abs(got-ev.ImagesPerSecond) > 1e-6*got {
		t.Fatalf("images_per_second %g != total/seconds %g", ev.ImagesPerSecond, got)
	}
}

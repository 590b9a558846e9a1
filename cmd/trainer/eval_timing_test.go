package main

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// trainer eval --json reports how long the evaluation pass took and its rate,
// consistently with the number of images it counted; --cpuprofile profiles it.
func TestEvalJSONTiming(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runTrainer(t, "--shards", out, "--model", "mlp", "--hidden", "8", "--epochs", "1", "--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	prof := filepath.Join(t.TempDir(), "eval.prof")
	code, stdout, stderr := runTrainer(t, "eval", "--checkpoint", runDir, "--shards", filepath.Join(out, "tiny"), "--json", "--cpuprofile", prof)
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
	// --cpuprofile wrote a complete profile of the pass: a gzip stream that
	// reads to its end.
	f, err := os.Open(prof)
	if err != nil {
		t.Fatalf("--cpuprofile: %v", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("--cpuprofile %s is not a gzip profile: %v", prof, err)
	}
	if n, err := io.Copy(io.Discard, z); err != nil || n == 0 {
		t.Fatalf("--cpuprofile %s: %d bytes, %v", prof, n, err)
	}
}

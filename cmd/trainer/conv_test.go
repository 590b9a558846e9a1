package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --conv winograd trains a CNN, is reported and recorded in checkpoint.json,
// and a resume keeps it (refusing another algorithm); bad values are usage
// errors.
func TestConvFlag(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runTrainer(t, "--shards", out, "--model", "cnn", "--epochs", "1", "--batch-size", "16",
		"--conv", "winograd", "--out", runDir, "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Conv         string  `json:"conv"`
		TestAccuracy float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Conv != "winograd" || rep.TestAccuracy < 0.5 {
		t.Fatalf("--json: %v %+v\n%s", err, rep, stdout)
	}
	meta, err := os.ReadFile(filepath.Join(runDir, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ck struct {
		Extra struct {
			Session struct {
				Config struct {
					Conv string `json:"conv"`
				} `json:"config"`
			} `json:"session"`
		} `json:"extra"`
	}
	if err := json.Unmarshal(meta, &ck); err != nil || ck.Extra.Session.Config.Conv != "winograd" {
		t.Fatalf("checkpoint.json does not record winograd: %v\n%s", err, meta)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--resume", runDir, "--epochs", "2", "--conv", "direct", "--quiet")
	if code != 2 || !strings.Contains(stderr, "--conv winograd") {
		t.Fatalf("resume with another algorithm: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = runTrainer(t, "--shards", out, "--resume", runDir, "--epochs", "2", "--json", "--quiet")
	if code != 0 || !strings.Contains(stdout, `"conv":"winograd"`) {
		t.Fatalf("resume: exit %d: %s\n%s", code, stderr, stdout)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--conv", "fft")
	if code != 2 || !strings.Contains(stderr, "want direct or winograd") {
		t.Fatalf("--conv fft: exit %d: %s", code, stderr)
	}
}

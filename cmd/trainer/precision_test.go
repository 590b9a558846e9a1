package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --precision bf16 trains, is reported and recorded in checkpoint.json, and a
// resume keeps it (refusing another precision); bad values are usage errors.
func TestPrecisionFlag(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runTrainer(t, "--shards", out, "--model", "mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--lr", "3e-3",
		"--precision", "bf16", "--out", runDir, "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Precision    string  `json:"precision"`
		TestAccuracy float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Precision != "bf16" || rep.TestAccuracy < 0.8 {
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
					Precision string `json:"precision"`
				} `json:"config"`
			} `json:"session"`
		} `json:"extra"`
	}
	if err := json.Unmarshal(meta, &ck); err != nil || ck.Extra.Session.Config.Precision != "bf16" {
		t.Fatalf("checkpoint.json does not record bf16: %v\n%s", err, meta)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--resume", runDir, "--epochs", "3", "--precision", "fp32", "--quiet")
	if code != 2 || !strings.Contains(stderr, "--precision bf16") {
		t.Fatalf("resume with another precision: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = runTrainer(t, "--shards", out, "--resume", runDir, "--epochs", "3", "--json", "--quiet")
	if code != 0 || !strings.Contains(stdout, `"precision":"bf16"`) {
		t.Fatalf("resume: exit %d: %s\n%s", code, stderr, stdout)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--precision", "fp16")
	if code != 2 || !strings.Contains(stderr, "want fp32 or bf16") {
		t.Fatalf("--precision fp16: exit %d: %s", code, stderr)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--model", "vit", "--patch", "4", "--precision", "bf16", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "v"), "--quiet")
	if code == 0 || !strings.Contains(stderr, "no bf16 products") {
		t.Fatalf("vit with bf16: exit %d: %s", code, stderr)
	}
}

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
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
	if code != 2 || !strings.Contains(stderr, "want fp32, bf16 or int8") {
		t.Fatalf("--precision fp16: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = runTrainer(t, "--shards", out, "--model", "vit", "--patch", "4", "--precision", "bf16", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "v"), "--json", "--quiet")
	if code != 0 || !strings.Contains(stdout, `"precision":"bf16"`) {
		t.Fatalf("vit with bf16: exit %d: %s\n%s", code, stderr, stdout)
	}
}

// trainer eval --precision bf16 evaluates an fp32 checkpoint (an MLP's, a
// ViT's) with bf16 products: reported as such, on the same images, with a
// loss close to the fp32 pass's but not equal; a bad value is refused.
func TestEvalPrecisionFlag(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runTrainer(t, "--shards", out, "--model", "mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--lr", "3e-3",
		"--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	eval := func(args ...string) evalReport {
		t.Helper()
		return evalJSON(t, runDir, filepath.Join(out, "tiny"), args...)
	}
	fp, bf := eval(), eval("--precision", "bf16")
	if fp.Precision != "fp32" || bf.Precision != "bf16" || fp.Examples != 100 || bf.Examples != 100 {
		t.Fatalf("fp32 %+v, bf16 %+v", fp, bf)
	}
	if fp.Loss == bf.Loss {
		t.Fatalf("bf16 products gave the fp32 loss bit for bit (%g): were they used?", fp.Loss)
	}
	if math.Abs(fp.Accuracy-bf.Accuracy) > 0.03 || math.Abs(fp.Loss-bf.Loss) > 0.05*fp.Loss {
		t.Fatalf("bf16 eval far from fp32: %+v against %+v", bf, fp)
	}
	code, _, stderr := runTrainer(t, "eval", "--checkpoint", runDir, "--shards", filepath.Join(out, "tiny"), "--precision", "fp16")
	if code != 2 || !strings.Contains(stderr, "want fp32, bf16 or int8") {
		t.Fatalf("eval --precision fp16: exit %d: %s", code, stderr)
	}
	vit := filepath.Join(t.TempDir(), "vit")
	if code, _, stderr := runTrainer(t, "--shards", out, "--model", "vit", "--patch", "4", "--epochs", "1", "--out", vit, "--quiet"); code != 0 {
		t.Fatalf("train vit: exit %d: %s", code, stderr)
	}
	runDir = vit
	vfp, vbf := eval(), eval("--precision", "bf16")
	if vbf.Precision != "bf16" || vbf.Examples != 100 || vfp.Loss == vbf.Loss || math.Abs(vfp.Loss-vbf.Loss) > 0.05*vfp.Loss {
		t.Fatalf("vit eval: bf16 %+v against fp32 %+v", vbf, vfp)
	}
}

// trainer eval --precision int8 evaluates an MLP on a uint8 version through
// its raw bytes: reported as int8, on the same images, close to fp32 but not
// the same pass. A model that does not begin with a dense layer, a float32
// version and training in int8 are refused with the reason.
func TestEvalInt8Flag(t *testing.T) {
	out := t.TempDir()
	tinybuild.Build(t, out, "u8", tinyset.Spec{Train: 300, Test: 100, Side: 8, Classes: 3, Seed: 2, Learnable: true},
		"classes: [x, y, z]\nsplit: {seed: 1, val_fraction: 0.2}\nshards: {rows: 128}\nnormalize: {mode: none}\n")
	shards := filepath.Join(out, "u8")
	runDir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runTrainer(t, "--shards", shards, "--model", "mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--lr", "3e-3",
		"--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	fp, q := evalJSON(t, runDir, shards), evalJSON(t, runDir, shards, "--precision", "int8")
	if q.Precision != "int8" || q.Examples != 100 || q.Loss == fp.Loss ||
		math.Abs(fp.Accuracy-q.Accuracy) > 0.03 || math.Abs(fp.Loss-q.Loss) > 0.05*fp.Loss {
		t.Fatalf("int8 eval %+v against fp32 %+v", q, fp)
	}
	f32 := dataset(t, t.TempDir(), "tiny")
	if code, _, stderr := runTrainer(t, "eval", "--checkpoint", runDir, "--shards", filepath.Join(f32, "tiny"), "--precision", "int8"); code != 1 || !strings.Contains(stderr, "uint8") {
		t.Errorf("int8 eval of a float32 version: exit %d: %s", code, stderr)
	}
	cnn := filepath.Join(t.TempDir(), "cnn")
	if code, _, stderr := runTrainer(t, "--shards", shards, "--model", "cnn", "--epochs", "1", "--out", cnn, "--quiet"); code != 0 {
		t.Fatalf("train cnn: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runTrainer(t, "eval", "--checkpoint", cnn, "--shards", shards, "--precision", "int8"); code != 1 || !strings.Contains(stderr, "first layer is dense") {
		t.Errorf("int8 eval of a CNN: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runTrainer(t, "--shards", shards, "--precision", "int8"); code != 2 || !strings.Contains(stderr, "for evaluation") {
		t.Errorf("train --precision int8: exit %d: %s", code, stderr)
	}
}

// evalReport is what the precision tests read of trainer eval --json.
type evalReport struct {
	Precision string  `json:"precision"`
	Accuracy  float64 `json:"accuracy"`
	Examples  int     `json:"examples"`
	Loss      float64 `json:"loss"`
}

// evalJSON runs trainer eval --json of runDir on shards with args.
func evalJSON(t *testing.T, runDir, shards string, args ...string) evalReport {
	t.Helper()
	code, stdout, stderr := runTrainer(t, append([]string{"eval", "--checkpoint", runDir, "--shards", shards, "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
	}
	var r evalReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("eval %v --json: %v\n%s", args, err, stdout)
	}
	return r
}

// TestSlowBF16 checks when the bf16 warning is given: always on the Go
// kernels, on VDPBF16PS when the measured rate is below fp32's, never on
// AMX (whose rate is not measured at all).
func TestSlowBF16(t *testing.T) {
	rate := func(r float64) func() float64 { return func() float64 { return r } }
	noCall := func() float64 { t.Fatal("AMX's rate was measured"); return 0 }
	for i, c := range []struct {
		impl  string
		ratio func() float64
		want  string // a part of the warning; "" for none
	}{
		{"go", rate(2), "pure-Go kernels"},
		{"avx512bf16", rate(0.54), "at 0.54x the fp32 products' rate"},
		{"avx512bf16", rate(0.999), "at 1.00x"},
		{"avx512bf16", rate(1), ""},
		{"avx512bf16", rate(1.4), ""},
		{"amxbf16", noCall, ""},
	} {
		got := slowBF16(c.impl, "avx512", c.ratio)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("case %d: slowBF16(%q, …) = %q, want one containing %q", i, c.impl, got, c.want)
		}
	}
}

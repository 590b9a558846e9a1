package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trainer --model vit trains with its flags, records them in
// checkpoint.json, evaluates, resumes, fine-tunes, and refuses ViT flags
// that disagree with the checkpoint or do not apply.
func TestViTFlagsCheckpointResume(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	shards := filepath.Join(out, "tiny")
	dir := t.TempDir()
	runDir := filepath.Join(dir, "vit")
	vit := []string{"--model", "vit", "--patch", "4", "--dim", "16", "--depth", "2", "--heads", "2", "--mlp-ratio", "1.5", "--drop-path", "0.1"}
	code, _, stderr := runTrainer(t, append([]string{"--shards", out, "--epochs", "1", "--batch-size", "16", "--lr", "3e-3", "--out", runDir, "--quiet"}, vit...)...)
	if code != 0 {
		t.Fatalf("vit run: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(runDir, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Arch struct {
			Name   string
			Layers []struct {
				Type   string
				Heads  int
				Hidden int
			}
		}
		Extra struct {
			Session struct {
				Config struct {
					ViT map[string]float64 `json:"vit"`
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"patch": 4, "dim": 16, "depth": 2, "heads": 2, "mlp_ratio": 1.5, "drop_path": 0.1}
	for k, v := range want {
		if meta.Extra.Session.Config.ViT[k] != v {
			t.Errorf("checkpoint.json config vit.%s = %v, want %v (all: %v)", k, meta.Extra.Session.Config.ViT[k], v, meta.Extra.Session.Config.ViT)
		}
	}
	blocks := 0
	for _, l := range meta.Arch.Layers {
		if l.Type == "vit_block" {
			blocks++
			if l.Heads != 2 || l.Hidden != 24 {
				t.Errorf("block recorded with %d heads and MLP width %d, want 2 and 24", l.Heads, l.Hidden)
			}
		}
	}
	if meta.Arch.Name != "vit" || blocks != 2 {
		t.Errorf("architecture %q with %d blocks", meta.Arch.Name, blocks)
	}

	if code, stdout, stderr := runTrainer(t, "eval", "--checkpoint", runDir, "--shards", shards); code != 0 || !strings.Contains(stdout, "test accuracy") {
		t.Fatalf("eval: exit %d\n%s\n%s", code, stdout, stderr)
	}

	resume := []string{"--shards", shards, "--resume", runDir, "--epochs", "2", "--quiet"}
	for _, tc := range []struct{ flag, value, saved string }{
		{"patch", "2", "4"}, {"dim", "32", "16"}, {"depth", "3", "2"}, {"heads", "4", "2"},
		{"mlp-ratio", "2", "1.5"}, {"drop-path", "0", "0.1"},
	} {
		code, _, stderr := runTrainer(t, append(resume, "--"+tc.flag, tc.value)...)
		w := "--" + tc.flag + " " + tc.value + ": the checkpoint in " + runDir + " was trained with --" + tc.flag + " " + tc.saved
		if code != 2 || !strings.Contains(stderr, w) {
			t.Errorf("resume --%s %s: exit %d, want 2 and %q in:\n%s", tc.flag, tc.value, code, w, stderr)
		}
	}
	if code, _, stderr := runTrainer(t, append(resume, vit...)...); code != 0 {
		t.Fatalf("resume with the checkpoint's own ViT flags: exit %d: %s", code, stderr)
	}

	ft := []string{"finetune", "--from", runDir, "--shards", shards, "--epochs", "1", "--quiet"}
	code, _, stderr = runTrainer(t, append(ft, "--heads", "4", "--out", filepath.Join(dir, "ft-refused"))...)
	if w := "--heads 4: the --from checkpoint " + runDir + " holds --heads 2"; code != 2 || !strings.Contains(stderr, w) ||
		!strings.Contains(stderr, "(vit, patch 4, dim 16, depth 2, heads 2, mlp-ratio 1.5)") {
		t.Errorf("finetune --heads 4: exit %d, want 2 and %q in:\n%s", code, w, stderr)
	}
	if code, _, stderr := runTrainer(t, append(ft, "--freeze", "features", "--out", filepath.Join(dir, "ft"))...); code != 0 {
		t.Fatalf("finetune --freeze features: exit %d: %s", code, stderr)
	}
	raw, _ = os.ReadFile(filepath.Join(dir, "ft", "checkpoint.json"))
	for _, name := range []string{`"cls_token"`, `"pos_embed"`, `"blocks.1.attn.qkv.weight"`, `"norm.bias"`} {
		if !strings.Contains(string(raw), name) {
			t.Errorf("--freeze features left %s trainable (checkpoint.json frozen list lacks it)", name)
		}
	}
	if strings.Contains(string(raw), `"head.weight"`) {
		t.Error("--freeze features froze the head")
	}
}

func TestViTFlagsRefusedWhereTheyCannotApply(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "mlp", "--heads", "2"}, "--heads 2: shape a Vision Transformer and apply to --model vit only, not --model mlp"},
		{[]string{"--model", "cnn", "--dim", "8", "--drop-path", "0.1"}, "--dim 8 --drop-path 0.1: shape a Vision Transformer"},
		{[]string{"--model", "vit", "--hidden", "32", "--batchnorm"}, "--batchnorm=true --hidden 32: the ViT has no such setting"},
		{[]string{"--model", "vit", "--dim", "10", "--heads", "4"}, "--dim 10 --heads 4: the token width must be a multiple of the head count"},
		{[]string{"--model", "vit", "--dim", "4", "--mlp-ratio", "0.1"}, "--mlp-ratio 0.1: at --dim 4 the MLP would have no features"},
	} {
		runDir := filepath.Join(t.TempDir(), "run")
		code, _, stderr := runTrainer(t, append([]string{"--shards", out, "--epochs", "1", "--out", runDir, "--quiet"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s", tc.args, code, tc.want, stderr)
		}
		if _, err := os.Stat(runDir); err == nil {
			t.Errorf("%v: a refused run created its directory", tc.args)
		}
	}
	// A patch that does not divide the images is caught when the model is built.
	code, _, stderr := runTrainer(t, "--shards", out, "--epochs", "1", "--model", "vit", "--patch", "3", "--quiet", "--out", filepath.Join(t.TempDir(), "run"))
	if code != 1 || !strings.Contains(stderr, "patch 3 does not divide the 8x8 input") {
		t.Errorf("--patch 3 on 8x8 images: exit %d:\n%s", code, stderr)
	}
}

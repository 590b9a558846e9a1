package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A resume or fine-tune refuses every flag it cannot honour, saying what the
// checkpoint holds and how to start a new run, and leaves the run as it was.
func TestResumeRefusesFlagsItCannotHonour(t *testing.T) {
	shards := filepath.Join(dataset(t, t.TempDir(), "tiny"), "tiny")
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	// --schedule constant: the run predates recipes, so the cosine below
	// asks for something else.
	if code, _, stderr := runTrainer(t, "--shards", shards, "--hidden", "16", "--epochs", "1", "--batch-size", "16", "--lr", "3e-3", "--schedule", "constant", "--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("base run: exit %d: %s", code, stderr)
	}
	sidecar := filepath.Join(runDir, "checkpoint.json")
	before, err := os.ReadFile(sidecar)
	if err != nil {
		t.Fatal(err)
	}
	resume := []string{"--shards", shards, "--resume", runDir, "--epochs", "2", "--quiet"}
	for _, tc := range []struct {
		flag, value, saved string
	}{
		{"model", "cnn", "mlp"},
		{"hidden", "32", "16"},
		{"batchnorm", "true", "false"},
		{"batch-size", "32", "16"},
		{"optimizer", "sgd", "adam"},
		{"lr", "0.1", "0.003"},
		{"momentum", "0.9", "0"},
		{"nesterov", "true", "false"},
		{"weight-decay", "0.01", "0"},
		{"clip-norm", "1", "0"},
		{"beta2", "0.99", "0"},
		{"schedule", "cosine", "constant"},
		{"lr-step-epochs", "2", "0"},
		{"gamma", "0.5", "0.1"},
		{"warmup-epochs", "1", "0"},
		{"label-smoothing", "0.1", "0"},
		{"patience", "3", "0"},
		{"seed", "7", "1"},
		{"shuffle-window", "100", "0"},
	} {
		given, saved := arg(tc.flag, tc.value), arg(tc.flag, tc.saved)
		code, _, stderr := runTrainer(t, append(resume, "--"+tc.flag+"="+tc.value)...)
		for _, want := range []string{
			given + ": the checkpoint in " + runDir + " was trained with " + saved,
			"start a new run: trainer --shards " + shards + " " + given + " --out runs/NEW",
			"only --epochs (the new total), --shards",
		} {
			if code != 2 || !strings.Contains(stderr, want) {
				t.Errorf("--%s %s: exit %d, want 2 and %q in:\n%s", tc.flag, tc.value, code, want, stderr)
			}
		}
	}
	code, _, stderr := runTrainer(t, append(resume, "--out", filepath.Join(dir, "elsewhere"))...)
	if code != 2 || !strings.Contains(stderr, "continues that run in its own directory") || !strings.Contains(stderr, "--out "+filepath.Join(dir, "elsewhere")) {
		t.Errorf("--out elsewhere: exit %d:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Error("a refused resume created the --out directory")
	}
	after, _ := os.ReadFile(sidecar)
	if string(after) != string(before) {
		t.Fatal("a refused resume changed the checkpoint")
	}

	// The same values as the checkpoint's, and the flags resume honours, are accepted.
	code, _, stderr = runTrainer(t, append(resume, "--hidden", "16", "--batch-size", "16", "--lr", "3e-3", "--out", runDir, "--json")...)
	if code != 0 {
		t.Fatalf("resume with the checkpoint's own values: exit %d: %s", code, stderr)
	}

	// Fine-tuning keeps --from's architecture and does not resume.
	ft := []string{"finetune", "--from", runDir, "--shards", shards, "--epochs", "1", "--quiet", "--out", filepath.Join(dir, "ft")}
	for _, tc := range []struct{ flag, value, saved string }{
		{"model", "cnn", "mlp"}, {"hidden", "32", "16"}, {"batchnorm", "true", "false"},
	} {
		code, _, stderr := runTrainer(t, append(ft, "--"+tc.flag+"="+tc.value)...)
		for _, want := range []string{
			arg(tc.flag, tc.value) + ": the --from checkpoint " + runDir + " holds " + arg(tc.flag, tc.saved),
			"fine-tuning keeps the architecture of --from (mlp, hidden 16)",
			"--out runs/NEW",
		} {
			if code != 2 || !strings.Contains(stderr, want) {
				t.Errorf("finetune --%s %s: exit %d, want 2 and %q in:\n%s", tc.flag, tc.value, code, want, stderr)
			}
		}
	}
	code, _, stderr = runTrainer(t, append(ft, "--resume", runDir)...)
	if code != 2 || !strings.Contains(stderr, "--resume "+runDir+": fine-tuning starts a new run from --from") || !strings.Contains(stderr, "trainer --shards "+shards+" --resume "+runDir) {
		t.Errorf("finetune --resume: exit %d:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "ft")); err == nil {
		t.Error("a refused fine-tune created its run directory")
	}
	if code, _, stderr := runTrainer(t, append(ft, "--hidden", "16")...); code != 0 {
		t.Errorf("finetune --hidden 16 (the checkpoint's): exit %d: %s", code, stderr)
	}
}

// arg is how the messages write a flag: --name=v for the boolean flags.
func arg(name, v string) string {
	if name == "batchnorm" || name == "nesterov" {
		return "--" + name + "=" + v
	}
	return "--" + name + " " + v
}

func TestHelpListsWhatResumeHonours(t *testing.T) {
	_, _, stderr := runTrainer(t, "--help")
	for _, want := range []string{"--resume RUN continues RUN exactly as it was saved", "Only --epochs (the new total), --shards", "--json, --quiet and --cpuprofile apply"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	_, _, stderr = runTrainer(t, "finetune", "--help")
	if !strings.Contains(stderr, "--resume does not apply") || !strings.Contains(stderr, "--model, --hidden and --batchnorm are") {
		t.Errorf("finetune --help does not say which flags do not apply:\n%s", stderr)
	}
}

// A resume without --epochs finishes the run's own budget: a finished run
// stays finished, rather than training on to the flag's default.
func TestResumeWithoutEpochsKeepsTheRunsBudget(t *testing.T) {
	shards := filepath.Join(dataset(t, t.TempDir(), "tiny"), "tiny")
	runDir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runTrainer(t, "--shards", shards, "--hidden", "16", "--epochs", "1", "--batch-size", "16", "--out", runDir, "--quiet"); code != 0 {
		t.Fatalf("base run: exit %d: %s", code, stderr)
	}
	epochOf := func() int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(runDir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(strings.TrimSpace(string(b)), "\n") + 1
	}
	if code, _, stderr := runTrainer(t, "--shards", shards, "--resume", runDir, "--quiet"); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if n := epochOf(); n != 1 {
		t.Fatalf("a resume without --epochs trained to %d epochs, want the run's 1", n)
	}
	if code, _, stderr := runTrainer(t, "--shards", shards, "--resume", runDir, "--epochs", "2", "--quiet"); code != 0 {
		t.Fatalf("resume --epochs 2: exit %d: %s", code, stderr)
	}
	if n := epochOf(); n != 2 {
		t.Fatalf("resume --epochs 2 trained to %d epochs, want 2", n)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
	"github.com/shardsmith/shardsmith/trainer/sweep"
)

// childEnv makes the test binary act as the trainer: the sweep runs each
// trial by re-executing its own executable.
const childEnv = "SHARDSMITH_TRAINER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The sweep command runs its trials in processes of their own, stops the
// trials that cannot learn, reports them sorted by val accuracy, and leaves
// run directories that trainer eval and --resume accept.
func TestSweepCommand(t *testing.T) {
	t.Setenv(childEnv, "1")
	out := dataset(t, t.TempDir(), "tiny")
	dir := filepath.Join(t.TempDir(), "sweep")
	args := []string{"sweep", "--shards", out, "--model", "mlp", "--hidden", "16", "--epochs", "2", "--batch-size", "16",
		"--grid", "lr=1e-9,3e-3", "--grid", "seed=1,2", "--eta", "2", "--parallel", "2", "--out", dir, "--quiet"}
	code, stdout, stderr := runTrainer(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		sweep.Record
		Plot string `json:"plot"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if len(rep.Trials) != 4 || rep.Test == nil || rep.Test.Accuracy < 0.8 {
		t.Fatalf("report: %+v", rep.Record)
	}
	for i, tr := range rep.Trials {
		if i > 0 && tr.ValAcc > rep.Trials[i-1].ValAcc {
			t.Errorf("not sorted by val accuracy: %v after %v", tr.ValAcc, rep.Trials[i-1].ValAcc)
		}
		slow := strings.Contains(strings.Join(tr.Args, " "), "--lr=1e-9")
		if slow != (tr.Status == sweep.Stopped) || slow && tr.Epochs != 1 {
			t.Errorf("trial %d %q: %s after %d epochs", tr.ID, tr.Args, tr.Status, tr.Epochs)
		}
		if !strings.HasPrefix(strings.Join(tr.Args, " "), "--batch-size=16 --epochs=2 --hidden=16 --model=mlp") {
			t.Errorf("trial %d args %q lack the shared flags", tr.ID, tr.Args)
		}
	}
	if _, err := os.Stat(rep.Plot); err != nil {
		t.Fatal(err)
	}
	// A rerun prints the report without training: the table, the choice.
	code, stdout, stderr = runTrainer(t, args...)
	if code != 0 || !strings.Contains(stdout, "chosen on val: *") || !strings.Contains(stdout, "read once") || !strings.Contains(stdout, "val acc") {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Each trial is an ordinary run directory.
	stopped := ""
	for _, tr := range rep.Trials {
		if tr.Status == sweep.Stopped {
			stopped = filepath.Join(dir, tr.Dir)
		}
	}
	code, stdout, stderr = runTrainer(t, "eval", "--checkpoint", stopped, "--shards", out, "--split", "val")
	if code != 0 || !strings.Contains(stdout, "val accuracy") {
		t.Fatalf("eval of a trial: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runTrainer(t, "--shards", out, "--resume", stopped, "--epochs", "2", "--quiet")
	if code != 0 {
		t.Fatalf("--resume of a stopped trial: exit %d: %s", code, stderr)
	}
	metrics, _ := os.ReadFile(filepath.Join(stopped, "metrics.jsonl"))
	if n := strings.Count(string(metrics), "\n"); n != 2 {
		t.Fatalf("the resumed trial has %d epochs, want the budget, 2", n)
	}
}

func TestSweepRefuses(t *testing.T) {
	root := t.TempDir()
	out := dataset(t, root, "tiny")
	noVal := filepath.Join(root, "noval")
	tinybuild.Build(t, noVal, "noval", tinyset.Spec{Train: 60, Test: 20, Side: 8, Classes: 3, Seed: 2}, "classes: [x, y, z]\n")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", "mlp"}, 2, "nothing to sweep"},
		{[]string{"--grid", "epochs=1,2"}, 2, "--epochs is every trial's budget"},
		{[]string{"--grid", "out=a,b"}, 2, "--out is the sweep's own"},
		{[]string{"--grid", "learning-rate=1,2"}, 2, "learning-rate is not a trainer flag"},
		{[]string{"--grid", "lr=1e-3,abc"}, 2, `--grid lr=1e-3,abc: lr=abc: invalid value "abc" for flag -lr`},
		{[]string{"--random", "lr=loguniform(-1,1)"}, 2, "loguniform needs LO > 0"},
		{[]string{"--random", "batch-size=uniform(0,64)"}, 2, `invalid value "0" for flag -batch-size`},
		{[]string{"--grid", "lr=1e-3,2e-3", "--lr", "1e-3"}, 2, "--lr 1e-3 is both given and swept"},
		{[]string{"--grid", "lr=1e-3", "--random", "lr=uniform(1,2)"}, 2, "lr is swept twice"},
		{[]string{"--grid", "schedule=step,cosine"}, 2, "the step schedule needs --lr-step-epochs"},
	} {
		code, _, stderr := runTrainer(t, append([]string{"sweep", "--shards", out, "--out", filepath.Join(root, "s")}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, want %d saying %q:\n%s", c.args, code, c.code, c.want, stderr)
		}
	}
	code, _, stderr := runTrainer(t, "sweep", "--shards", noVal, "--grid", "lr=1e-3,2e-3", "--out", filepath.Join(root, "s2"))
	if code != 1 || !strings.Contains(stderr, "no val split") {
		t.Fatalf("dataset without val: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "s")); !os.IsNotExist(err) {
		t.Fatalf("a refused sweep left its directory behind: %v", err)
	}
	if code, _, stderr := runTrainer(t, "sweep", "--help"); code != 0 || !strings.Contains(stderr, "successive halving") || !strings.Contains(stderr, "-grid") ||
		strings.Contains(stderr, "panic") || !strings.Contains(stderr, "(default 0.001)") {
		t.Fatalf("--help: exit %d\n%s", code, stderr)
	}
}

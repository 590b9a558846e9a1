//go:build unix

package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var runDirs = addSection(105, "Checkpoint saves and run directories",
	"`trainer` killed in the middle of a save, stopped before its first, and started twice on one run directory. "+
		"The trainer writing into a run directory holds its `.lock` (flock; the kernel drops it when the process dies).",
	func() int { return 3 })

// sidecar is what the cases read of checkpoint.json.
type sidecar struct {
	Epoch      int   `json:"epoch"`
	Generation int64 `json:"generation"`
	Weights    struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	} `json:"weights"`
}

func readSidecar(run string) (*sidecar, error) {
	b, err := os.ReadFile(filepath.Join(run, "checkpoint.json"))
	if err != nil {
		return nil, err
	}
	var s sidecar
	return &s, json.Unmarshal(b, &s)
}

var reGenFile = regexp.MustCompile(`^checkpoint\.g([0-9]+)\.`)

// newerGeneration reports whether run holds renamed files of a generation
// newer than the one checkpoint.json names: a save between its renames.
func newerGeneration(run string) bool {
	s, err := readSidecar(run)
	if err != nil || s.Generation < 1 {
		return false
	}
	ents, _ := os.ReadDir(run)
	for _, e := range ents {
		if m := reGenFile.FindStringSubmatch(e.Name()); m != nil {
			if g, _ := strconv.ParseInt(m[1], 10, 64); g > s.Generation {
				return true
			}
		}
	}
	return false
}

// TestKilledBetweenRenames kills the trainer (SIGKILL, stopped first to
// check the moment) when the files of a new generation are renamed into
// place but checkpoint.json still names the previous one. The previous
// checkpoint must load, and resuming must end with the weights of an
// uninterrupted run and remove the orphaned files.
func TestKilledBetweenRenames(t *testing.T) {
	trainSetup(t)
	e := newEnv(t)
	run := filepath.Join(e.data, "run")
	e.name(run, "$RUN")
	e.name(trainDir, "$DATA")
	var r result
	ok := false
	for attempt := 0; attempt < 20 && !ok; attempt++ {
		os.RemoveAll(run)
		r, ok = e.signalIf(syscall.SIGKILL, func(string) bool { return newerGeneration(run) }, func() bool { return newerGeneration(run) },
			trainerBin, trainArgs(run, 10000)...)
	}
	if !ok {
		t.Fatal("never caught the trainer between the renames of a save in 20 runs")
	}
	wantCode(t, r, 137)
	kept, err := readSidecar(run)
	if err != nil {
		t.Fatal(err)
	}
	if !newerGeneration(run) {
		t.Fatal("after the kill no file of a newer generation is left: not killed mid-save")
	}
	ev := e.run(trainerBin, "eval", "--checkpoint", run, "--shards", trainShards)
	wantCode(t, ev, 0)
	epochs := kept.Epoch + 1
	res := e.run(trainerBin, "--shards", trainShards, "--resume", run, "--epochs", strconv.Itoa(epochs), "--quiet")
	wantCode(t, res, 0)
	resumed, err := readSidecar(run)
	if err != nil {
		t.Fatal(err)
	}
	straight := filepath.Join(e.data, "straight")
	if r := e.run(trainerBin, trainArgs(straight, epochs)...); r.code != 0 {
		t.Fatalf("uninterrupted run: %s", r.stderr)
	}
	want, err := readSidecar(straight)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Epoch != epochs || resumed.Weights.SHA256 != want.Weights.SHA256 {
		t.Fatalf("resumed to epoch %d with weights %s; the uninterrupted run of %d epochs has %s", resumed.Epoch, resumed.Weights.SHA256, epochs, want.Weights.SHA256)
	}
	ents, _ := os.ReadDir(run)
	for _, ent := range ents {
		if m := reGenFile.FindStringSubmatch(ent.Name()); m != nil && m[1] != strconv.FormatInt(resumed.Generation, 10) {
			t.Fatalf("after the resume %s is left (checkpoint.json names generation %d)", ent.Name(), resumed.Generation)
		}
	}
	runDirs.record(t, 0, Row{Case: "SIGKILL between two renames of a save",
		Injected: "SIGKILL to `trainer --epochs 10000` when a new generation's files are renamed into place but `checkpoint.json` still names the previous one",
		Exit:     r.code, Sees: "(killed: no message)",
		Disk: "`checkpoint.json` names the last whole checkpoint, the half-saved generation lies beside it; `trainer eval` loads it, " +
			"`--resume` ends with the same weights (SHA-256) as an uninterrupted run and removes the orphaned files"})
}

// TestSecondTrainerRefused starts a second trainer on a run directory a
// first one is training into.
func TestSecondTrainerRefused(t *testing.T) {
	trainSetup(t)
	e := newEnv(t)
	run := filepath.Join(e.data, "run")
	e.name(run, "$RUN")
	e.name(trainDir, "$DATA")
	var second, resume result
	first := e.signalWhen(syscall.SIGINT, func(string) bool {
		if _, err := os.Stat(filepath.Join(run, "checkpoint.json")); err != nil {
			return false
		}
		second = e.run(trainerBin, trainArgs(run, 1)...)
		resume = e.run(trainerBin, "--shards", trainShards, "--resume", run, "--epochs", "10000", "--quiet")
		return true
	}, trainerBin, trainArgs(run, 10000)...)
	wantCode(t, first, 130)
	wantCode(t, second, 1)
	wantCode(t, resume, 1)
	msg := finalError(second.stderr, "trainer: ")
	for _, m := range []string{msg, finalError(resume.stderr, "trainer: ")} {
		if !strings.Contains(m, "run directory "+run+" is in use by another trainer") {
			t.Fatalf("message %q does not name the run directory", m)
		}
	}
	kept, err := readSidecar(run)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(readFile(t, filepath.Join(run, "metrics.jsonl"))), "\n"); lines != kept.Epoch {
		t.Fatalf("checkpoint of epoch %d, metrics.jsonl has %d lines", kept.Epoch, lines)
	}
	if ev := e.run(trainerBin, "eval", "--checkpoint", run, "--shards", trainShards); ev.code != 0 {
		t.Fatalf("eval after the refused second trainer: %s", ev.stderr)
	}
	runDirs.record(t, 1, Row{Case: "a second trainer on one run directory", Injected: "`trainer --out $RUN` and `trainer --resume $RUN` while another trainer trains into `$RUN`",
		Exit: second.code, Sees: e.scrub(msg),
		Disk: "refused at once, nothing written; the first trainer's checkpoint and `metrics.jsonl` agree, and `trainer eval` loads it"})
}

// TestInterruptBeforeFirstSave sends SIGINT before the first epoch ends: the
// trainer says that no checkpoint exists, and --resume says so too.
func TestInterruptBeforeFirstSave(t *testing.T) {
	trainSetup(t)
	e := newEnv(t)
	run := filepath.Join(e.data, "run")
	e.name(run, "$RUN")
	e.name(trainDir, "$DATA")
	noCheckpoint := func() bool {
		_, err := os.Stat(filepath.Join(run, "checkpoint.json"))
		return os.IsNotExist(err)
	}
	var r result
	ok := false
	for attempt := 0; attempt < 10 && !ok; attempt++ {
		os.RemoveAll(run)
		// Wide layers make the first epoch long enough to interrupt.
		args := []string{"--shards", trainShards, "--model", "mlp", "--hidden", "2048,2048", "--batch-size", "8", "--epochs", "1", "--out", run}
		r, ok = e.signalIf(syscall.SIGINT, func(se string) bool { return strings.Contains(se, "trainer: mlp on") }, noCheckpoint, trainerBin, args...)
	}
	if !ok {
		t.Fatal("the first epoch always ended before the interrupt")
	}
	wantCode(t, r, 130)
	msg := finalError(r.stderr, "trainer: interrupted")
	if !strings.Contains(msg, run+" holds no checkpoint") || !noCheckpoint() {
		t.Fatalf("message %q", msg)
	}
	start := time.Now()
	res := e.run(trainerBin, "--shards", trainShards, "--resume", run, "--epochs", "1", "--quiet")
	wantCode(t, res, 1)
	rmsg := finalError(res.stderr, "trainer: ")
	if !strings.Contains(rmsg, "resume "+run+": no checkpoint there") || time.Since(start) > 20*time.Second {
		t.Fatalf("resume: %q", rmsg)
	}
	runDirs.record(t, 2, Row{Case: "interrupt before the first checkpoint", Injected: "SIGINT during the first epoch, then `trainer --resume $RUN`",
		Exit: r.code, Sees: e.scrub(msg) + " — then: " + e.scrub(rmsg),
		Disk: "no checkpoint in `$RUN`; the resume is refused with that reason"})
}

//go:build unix

package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// The trainer cases share one dataset version of a learnable set, built by
// prep once and only read afterwards, and one trained run to damage.
var (
	trainOnce           sync.Once
	trainDir, trainErr  string
	trainShards, runDir string // version directory; a run of 2 epochs
	run1Dir             string // the same run after its first epoch
)

func trainSetup(t *testing.T) {
	t.Helper()
	trainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reliability-train-")
		if err != nil {
			trainErr = err.Error()
			return
		}
		trainDir = dir
		set, err := tinyset.Write(dir, tinyset.Spec{Train: 2000, Test: 300, Side: 8, Classes: 3, Seed: 5, Learnable: true})
		if err != nil {
			trainErr = err.Error()
			return
		}
		cfg := filepath.Join(dir, "tiny.yaml")
		if err := os.WriteFile(cfg, []byte(set.Config("tiny", "classes: [a, b, c]\nsplit: {seed: 1, val_fraction: 0.2}\nshards: {rows: 512}\n")), 0o644); err != nil {
			trainErr = err.Error()
			return
		}
		e := &env{t: t}
		out := filepath.Join(dir, "out")
		r := e.run(prepBin, "run", cfg, "--out", out, "--cache", filepath.Join(dir, "cache"), "--quiet")
		if r.code != 0 {
			trainErr = r.stderr
			return
		}
		trainShards = filepath.Join(out, "tiny", strings.TrimSpace(r.stdout))
		run1Dir, runDir = filepath.Join(dir, "run1"), filepath.Join(dir, "run2")
		if r := e.run(trainerBin, trainArgs(run1Dir, 1)...); r.code != 0 {
			trainErr = r.stderr
			return
		}
		copyDir(t, run1Dir, runDir)
		if r := e.run(trainerBin, "--shards", trainShards, "--resume", runDir, "--epochs", "2", "--quiet"); r.code != 0 {
			trainErr = r.stderr
		}
	})
	if trainErr != "" {
		t.Fatalf("training set-up: %s", trainErr)
	}
}

// trainArgs trains at a constant rate: the cases compare runs of different
// totals (killed at epoch k of 10000, resumed to k+1, against k+1 straight),
// which a cosine decay over the total would make differ by design.
func trainArgs(run string, epochs int) []string {
	return []string{"--shards", trainShards, "--model", "mlp", "--hidden", "32", "--batch-size", "32", "--epochs", strconv.Itoa(epochs),
		"--schedule", "constant", "--out", run, "--quiet"}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if !ent.Type().IsRegular() {
			continue
		}
		writeFile(t, filepath.Join(to, ent.Name()), readFile(t, filepath.Join(from, ent.Name())))
	}
}

var training = addSection(100, "Training",
	"`trainer` on a small learnable dataset version. The run directory keeps the checkpoint of the last complete epoch: "+
		"each save writes its files as a new generation (`checkpoint.gN.*`) and switches to it by replacing `checkpoint.json` atomically; "+
		"every checkpoint file is checked against the sizes and SHA-256 in `checkpoint.json` before it is used.",
	func() int { return len(trainInterrupts) + len(checkpointCases) })

var trainInterrupts = []struct {
	name string
	sig  syscall.Signal
}{
	{"SIGINT during training", syscall.SIGINT},
	{"SIGTERM during training", syscall.SIGTERM},
}

func TestTrainingInterrupted(t *testing.T) {
	trainSetup(t)
	for i, c := range trainInterrupts {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			run := filepath.Join(e.data, "run")
			e.name(run, "$RUN")
			e.name(trainDir, "$DATA")
			metrics := filepath.Join(run, "metrics.jsonl")
			r := e.signalWhen(c.sig, func(string) bool {
				b, _ := os.ReadFile(metrics)
				return strings.Count(string(b), "\n") >= 2
			}, trainerBin, trainArgs(run, 10000)...)
			if r.code != 130 && r.code != 143 {
				wantCode(t, r, 130)
			}
			msg := finalError(r.stderr, "trainer: ")
			var meta struct {
				Epoch int `json:"epoch"`
			}
			if err := json.Unmarshal(readFile(t, filepath.Join(run, "checkpoint.json")), &meta); err != nil {
				t.Fatal(err)
			}
			lines := strings.Count(string(readFile(t, metrics)), "\n")
			if meta.Epoch < 2 || meta.Epoch != lines {
				t.Fatalf("checkpoint of epoch %d, metrics.jsonl has %d lines", meta.Epoch, lines)
			}
			ev := e.run(trainerBin, "eval", "--checkpoint", run, "--shards", trainShards)
			wantCode(t, ev, 0)
			if !strings.Contains(ev.stdout, "test accuracy") {
				t.Fatalf("eval:\n%s", ev.stdout)
			}
			res := e.run(trainerBin, "--shards", trainShards, "--resume", run, "--epochs", strconv.Itoa(meta.Epoch+1), "--quiet")
			wantCode(t, res, 0)
			if n := strings.Count(string(readFile(t, metrics)), "\n"); n != meta.Epoch+1 {
				t.Fatalf("after --resume metrics.jsonl has %d lines, want %d", n, meta.Epoch+1)
			}
			training.record(t, i, Row{Case: c.name, Injected: strings.Fields(c.name)[0] + " to `trainer --epochs 10000` once `metrics.jsonl` has 2 lines",
				Exit: r.code, Sees: e.scrub(msg),
				Disk: "`$RUN` holds the checkpoint of the last complete epoch (its epoch matches `metrics.jsonl`); `trainer eval --checkpoint $RUN` loads it and `--resume` continues from it"})
		})
	}
}

type checkpointCase struct {
	name, injected string
	damage         func(t *testing.T, run string)
	resume         bool // run --resume instead of eval
	want           string
}

var checkpointCases = []checkpointCase{
	{"flipped byte in the weights", "one byte of the weights file `checkpoint.g1.safetensors` flipped; `trainer eval`", func(t *testing.T, run string) {
		flip(t, filepath.Join(run, "checkpoint.g1.safetensors"), 0.7)
	}, false, "checkpoint.g1.safetensors does not match"},
	{"truncated weights", "`checkpoint.g1.safetensors` cut to half its length; `trainer eval`", func(t *testing.T, run string) {
		p := filepath.Join(run, "checkpoint.g1.safetensors")
		b := readFile(t, p)
		writeFile(t, p, b[:len(b)/2])
	}, false, "checkpoint.g1.safetensors does not match"},
	{"missing weights", "`checkpoint.g1.safetensors` deleted; `trainer eval`", func(t *testing.T, run string) {
		if err := os.Remove(filepath.Join(run, "checkpoint.g1.safetensors")); err != nil {
			t.Fatal(err)
		}
	}, false, "checkpoint.g1.safetensors"},
	{"damaged sidecar", "`checkpoint.json` cut to half its length; `trainer eval`", func(t *testing.T, run string) {
		p := filepath.Join(run, "checkpoint.json")
		b := readFile(t, p)
		writeFile(t, p, b[:len(b)/2])
	}, false, "checkpoint.json"},
	{"weights of another epoch", "the weights of epoch 2 copied over `checkpoint.g1.safetensors`, which the `checkpoint.json` of epoch 1 names; `trainer eval`", func(t *testing.T, run string) {
		writeFile(t, filepath.Join(run, "checkpoint.g1.safetensors"), readFile(t, filepath.Join(runDir, "checkpoint.g2.safetensors")))
	}, false, "checkpoint.g1.safetensors does not match"},
	{"damaged optimizer state on resume", "one byte of `checkpoint.g1.optim.safetensors` flipped; `trainer --resume`", func(t *testing.T, run string) {
		flip(t, filepath.Join(run, "checkpoint.g1.optim.safetensors"), 0.5)
	}, true, "checkpoint.g1.optim.safetensors does not match"},
}

// flip flips the byte at fraction f of the file's length.
func flip(t *testing.T, p string, f float64) {
	t.Helper()
	b := readFile(t, p)
	i := int(f * float64(len(b)))
	if i < 9 {
		i = 9 // inside the safetensors JSON header, after its length
	}
	b[i] ^= 0x20
	writeFile(t, p, b)
}

func TestDamagedCheckpoints(t *testing.T) {
	trainSetup(t)
	for i, c := range checkpointCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			run := filepath.Join(e.data, "run")
			e.name(run, "$RUN")
			e.name(trainDir, "$DATA")
			copyDir(t, run1Dir, run)
			c.damage(t, run)
			args := []string{"eval", "--checkpoint", run, "--shards", trainShards}
			if c.resume {
				args = []string{"--shards", trainShards, "--resume", run, "--epochs", "3", "--quiet"}
			}
			r := e.run(trainerBin, args...)
			wantCode(t, r, 1)
			msg := finalError(r.stderr, "trainer: ")
			if !strings.Contains(msg, c.want) {
				t.Fatalf("message %q lacks %q", msg, c.want)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("panic:\n%s", r.stderr)
			}
			disk := "the run directory is left as it was"
			if c.resume {
				if n := strings.Count(string(readFile(t, filepath.Join(run, "metrics.jsonl"))), "\n"); n != 1 {
					t.Fatalf("the refused resume changed metrics.jsonl (%d lines)", n)
				}
				disk += "; nothing trained"
			}
			training.record(t, len(trainInterrupts)+i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: e.scrub(msg), Disk: disk})
		})
	}
}

func cleanupTraining() {
	if trainDir != "" {
		os.RemoveAll(trainDir)
	}
}

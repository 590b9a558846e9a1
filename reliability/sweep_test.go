//go:build unix

package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var sweeps = addSection(107, "Sweeps",
	"`trainer sweep` on the training cases' dataset, interrupted while its trials train (each in a process of its own), then rerun with the same command. "+
		"A checkpoint's generation counts its saves, so a trial whose generation equals its epoch trained no epoch twice.",
	func() int { return len(sweepInterrupts) })

var sweepInterrupts = []struct {
	name string
	sig  syscall.Signal
}{
	{"SIGINT during a sweep", syscall.SIGINT},
	{"SIGTERM during a sweep", syscall.SIGTERM},
}

// sweepTrials reads what sweep.json records of each trial.
type sweepTrial struct {
	ID     int    `json:"id"`
	Dir    string `json:"dir"`
	Status string `json:"status"`
	Epochs int    `json:"epochs"`
}

func readSweep(t *testing.T, dir string) (trials []sweepTrial, chosen int) {
	t.Helper()
	var rec struct {
		Trials []sweepTrial `json:"trials"`
		Chosen int          `json:"chosen"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "sweep.json")), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Trials, rec.Chosen
}

// savedOnce checks that every trial's checkpoint was saved once per epoch.
func savedOnce(t *testing.T, dir string, trials []sweepTrial) (epochs int) {
	t.Helper()
	for _, tr := range trials {
		run := filepath.Join(dir, tr.Dir)
		if _, err := os.Stat(filepath.Join(run, "checkpoint.json")); os.IsNotExist(err) {
			continue
		}
		s, err := readSidecar(run)
		if err != nil {
			t.Fatal(err)
		}
		if int64(s.Epoch) != s.Generation {
			t.Fatalf("trial %d: checkpoint of epoch %d is generation %d: an epoch was saved twice", tr.ID, s.Epoch, s.Generation)
		}
		epochs += s.Epoch
	}
	return epochs
}

func TestSweepInterrupted(t *testing.T) {
	trainSetup(t)
	for i, c := range sweepInterrupts {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			dir := filepath.Join(e.data, "sweep")
			e.name(dir, "$SWEEP")
			args := []string{"sweep", "--shards", trainShards, "--model", "mlp", "--hidden", "32", "--batch-size", "32",
				"--epochs", "6", "--grid", "lr=1e-3,3e-3,1e-2,3e-2", "--grid", "seed=1,2", "--eta", "2", "--out", dir}
			r := e.signalWhen(c.sig, func(stderr string) bool {
				return strings.Contains(stderr, "sweep: trial 1 ")
			}, trainerBin, args...)
			if r.code != 130 && r.code != 143 {
				wantCode(t, r, 130)
			}
			msg := finalError(r.stderr, "trainer: ")
			if !strings.Contains(msg, "rerun the same command to continue the sweep") {
				t.Fatalf("interrupted sweep says: %s", msg)
			}
			trials, chosen := readSweep(t, dir)
			before := savedOnce(t, dir, trials)
			if before < 2 || chosen != -1 {
				t.Fatalf("after the interrupt: %d epochs saved, chosen %d", before, chosen)
			}
			res := e.run(trainerBin, append(args, "--quiet")...)
			wantCode(t, res, 0)
			if !strings.Contains(res.stdout, "chosen on val") {
				t.Fatalf("rerun:\n%s", res.stdout)
			}
			trials, chosen = readSweep(t, dir)
			after := savedOnce(t, dir, trials)
			// 8 trials through rungs 1, 2, 4, 6 with eta 2: 8 + 4·1 + 2·2 + 1·2.
			if after != 18 || chosen < 0 {
				t.Fatalf("after the rerun: %d epochs saved, want 18; chosen %d", after, chosen)
			}
			sweeps.record(t, i, Row{Case: c.name, Injected: strings.Fields(c.name)[0] + " to `trainer sweep` (8 trials, 6 epochs, halving) once its second trial has trained",
				Exit: r.code, Sees: e.scrub(msg),
				Disk: "`$SWEEP/sweep.json` and every trial's checkpoint of its last complete epoch; the same command rerun continues the sweep and ends it (18 epochs in all, each trial's checkpoint generation equal to its epoch: none trained twice)"})
		})
	}
}

package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// tinyData builds a small learnable dataset (with a val split unless
// noVal) and opens it.
func tinyData(t *testing.T, noVal bool) *data.Dataset {
	t.Helper()
	out := t.TempDir()
	extra := "classes: [x, y, z]\nsplit: {seed: 1, val_fraction: 0.2}\nshards: {rows: 128}\n"
	if noVal {
		extra = "classes: [x, y, z]\nshards: {rows: 128}\n"
	}
	tinybuild.Build(t, out, "tiny", tinyset.Spec{Train: 300, Test: 100, Side: 8, Classes: 3, Seed: 2, Learnable: true}, extra)
	ds, err := data.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// configure is a small stand-in for cmd/trainer's flag set: a 16-unit MLP
// with the flags the tests sweep.
func configure(args []string) (trainer.Config, error) {
	fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c := trainer.Config{Model: "mlp", Hidden: []int{16}, BatchSize: 16, Schedule: "constant",
		Optimizer: optim.Config{Algorithm: optim.Adam}}
	fs.IntVar(&c.Epochs, "epochs", 2, "")
	fs.Float64Var(&c.Optimizer.LR, "lr", 3e-3, "")
	fs.Float64Var(&c.Optimizer.WeightDecay, "weight-decay", 0, "")
	fs.Uint64Var(&c.Seed, "seed", 1, "")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, nil
}

// reads counts the passes over each split through data's read hook.
type reads struct {
	mu sync.Mutex
	n  map[string]int
	on func(split string, n int) // called after counting, with the count
}

func countReads(t *testing.T) *reads {
	r := &reads{n: map[string]int{}}
	t.Cleanup(data.SetReadHook(func(_, split string) {
		r.mu.Lock()
		r.n[split]++
		n, on := r.n[split], r.on
		r.mu.Unlock()
		if on != nil {
			on(split, n)
		}
	}))
	return r
}

func (r *reads) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = map[string]int{}
	return n
}

func byID(rec *Record) map[int]TrialRecord {
	m := map[int]TrialRecord{}
	for _, t := range rec.Trials {
		m[t.ID] = t
	}
	return m
}

// A space where half the trials cannot learn (lr 1e-9): halving stops
// exactly those at the first rung, the others train the whole budget, the
// chosen trial is a good one, and the test split is read once.
func TestHalvingStopsWorseTrials(t *testing.T) {
	ds := tinyData(t, false)
	r := countReads(t)
	sp := mustSpace(t, []string{"lr=1e-9,3e-3", "seed=1,2"}, nil)
	dir := t.TempDir()
	rec, err := Run(context.Background(), dir, ds, sp, []string{"--epochs=3"}, configure,
		WithHalving(1, 2), WithParallel(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Trials) != 4 {
		t.Fatalf("%d trials, want the 4 grid points", len(rec.Trials))
	}
	for _, tr := range rec.Trials {
		lr := valueOf(tr.Values, "lr")
		switch {
		case lr == "1e-9" && (tr.Status != Stopped || tr.Epochs != 1):
			t.Errorf("trial %d (lr 1e-9): %s after %d epochs, want stopped after 1", tr.ID, tr.Status, tr.Epochs)
		case lr == "3e-3" && tr.Epochs < 2:
			t.Errorf("trial %d (lr 3e-3): %s after %d epochs, want promoted past the first rung", tr.ID, tr.Status, tr.Epochs)
		}
	}
	done := 0
	for _, tr := range rec.Trials {
		if tr.Status == Done {
			done++
			if tr.Epochs != 3 || valueOf(tr.Values, "lr") != "3e-3" {
				t.Errorf("trial %d done after %d epochs with lr %s", tr.ID, tr.Epochs, valueOf(tr.Values, "lr"))
			}
		}
	}
	if done != 1 {
		t.Errorf("%d trials trained the budget; with eta 2, 4 → 2 → 1 should", done)
	}
	chosen := byID(rec)[rec.Chosen]
	if valueOf(chosen.Values, "lr") != "3e-3" || chosen.Status != Done || rec.Trials[0].ID != rec.Chosen {
		t.Fatalf("chose trial %d %+v; want the best val trial with lr 3e-3, ranked first", rec.Chosen, chosen)
	}
	if rec.Test == nil || rec.Test.Trial != rec.Chosen || rec.Test.Accuracy < 0.8 {
		t.Fatalf("test result %+v", rec.Test)
	}
	n := r.take()
	if n["test"] != 1 {
		t.Fatalf("the test split was read %d times, want once", n["test"])
	}
	// Epochs trained: 4 at rung 1, 2 at rung 2, 1 at rung 3; val after each.
	if n["train"] != 7 || n["val"] != 7 {
		t.Fatalf("train passes %d, val passes %d; want 7 each", n["train"], n["val"])
	}
	// The record on disk is the sweep; each trial is an ordinary run.
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Record
	if err := json.Unmarshal(b, &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk.Chosen != rec.Chosen || onDisk.Seed != 1 || len(onDisk.Space.Params) != 2 || len(onDisk.Trials) != 4 {
		t.Fatalf("sweep.json: %+v", onDisk)
	}
	for _, tr := range onDisk.Trials {
		for _, f := range []string{TrialFile, trainer.CheckpointBase + ".json", trainer.MetricsFile, trainer.CurvesFile} {
			if _, err := os.Stat(filepath.Join(dir, tr.Dir, f)); err != nil {
				t.Errorf("trial %d: %v", tr.ID, err)
			}
		}
	}
	f, err := os.Open(filepath.Join(dir, PlotFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 300 {
		t.Fatalf("sweep.png is %v: want a panel per parameter and the curves", b)
	}
}

// An interrupted sweep, rerun, continues: no epoch is trained twice (each
// train pass is counted), the decisions and results are those of a sweep
// that was never interrupted, and a rerun of the finished sweep trains
// nothing and does not read the test split again.
func TestResumeContinuesWithoutRepeats(t *testing.T) {
	ds := tinyData(t, false)
	sp := mustSpace(t, []string{"lr=1e-9,3e-3"}, []string{"weight-decay=loguniform(1e-5,1e-3)"})
	base := []string{"--epochs=3"}
	opts := []Option{WithHalving(1, 2), WithTrials(4), WithSeed(3)}
	r := countReads(t)

	whole, err := Run(context.Background(), t.TempDir(), ds, sp, base, configure, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.take(); n["train"] != 7 || n["test"] != 1 {
		t.Fatalf("uninterrupted sweep: %v, want 7 train passes and 1 test", n)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Interrupt as the 6th epoch starts: 5 epochs completed (rung 1's
	// four, one of rung 2's), the 6th cut short.
	r.on = func(split string, n int) {
		if split == "train" && n == 6 {
			cancel()
		}
	}
	if _, err := Run(ctx, dir, ds, sp, base, configure, opts...); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sweep: %v, want context.Canceled", err)
	}
	r.on = nil
	if n := r.take(); n["train"] != 6 || n["test"] != 0 {
		t.Fatalf("interrupted sweep: %v, want 6 train passes (5 whole) and no test", n)
	}
	rec, err := Run(context.Background(), dir, ds, sp, base, configure, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.take(); n["train"] != 2 || n["test"] != 1 {
		t.Fatalf("rerun: %v, want the 2 epochs not yet trained and 1 test", n)
	}
	want := byID(whole)
	for _, tr := range rec.Trials {
		w := want[tr.ID]
		if tr.Status != w.Status || tr.Epochs != w.Epochs || tr.ValLoss != w.ValLoss || tr.ValAcc != w.ValAcc {
			t.Errorf("trial %d resumed: %s %d epochs val %v/%v; uninterrupted: %s %d epochs val %v/%v",
				tr.ID, tr.Status, tr.Epochs, tr.ValLoss, tr.ValAcc, w.Status, w.Epochs, w.ValLoss, w.ValAcc)
		}
		if len(tr.History) != tr.Epochs {
			t.Errorf("trial %d: %d epochs in its history, %d recorded", tr.ID, len(tr.History), tr.Epochs)
		}
	}
	if rec.Chosen != whole.Chosen || rec.Test.Accuracy != whole.Test.Accuracy {
		t.Fatalf("resumed sweep chose %d (test %v), uninterrupted %d (test %v)", rec.Chosen, rec.Test.Accuracy, whole.Chosen, whole.Test.Accuracy)
	}
	if _, err := Run(context.Background(), dir, ds, sp, base, configure, opts...); err != nil {
		t.Fatal(err)
	}
	if n := r.take(); len(n) != 0 {
		t.Fatalf("rerun of a finished sweep read %v, want nothing", n)
	}
	// Another sweep is refused in this directory.
	_, err = Run(context.Background(), dir, ds, sp, base, configure, WithHalving(1, 2), WithTrials(4), WithSeed(4))
	if err == nil || !strings.Contains(err.Error(), "--seed 3, not 4") {
		t.Fatalf("another seed in the same directory: %v", err)
	}
}

func TestRefusesDatasetWithoutVal(t *testing.T) {
	ds := tinyData(t, true)
	r := countReads(t)
	_, err := Run(context.Background(), t.TempDir(), ds, mustSpace(t, []string{"lr=1e-3,2e-3"}, nil), nil, configure)
	if !errors.Is(err, ErrNoVal) || !strings.Contains(err.Error(), "no val split") {
		t.Fatalf("no val split: %v", err)
	}
	if n := r.take(); len(n) != 0 {
		t.Fatalf("a refused sweep read %v", n)
	}
}

// A trial that fails (its loss diverges) is recorded as failed, and the
// sweep chooses among the others.
func TestFailedTrialIsRecorded(t *testing.T) {
	ds := tinyData(t, false)
	sp := mustSpace(t, []string{"lr=3e-3,1e30"}, nil)
	rec, err := Run(context.Background(), t.TempDir(), ds, sp, []string{"--epochs=1"}, configure)
	if err != nil {
		t.Fatal(err)
	}
	m := byID(rec)
	if m[1].Status != Failed || !strings.Contains(m[1].Error, "loss is") {
		t.Fatalf("trial with lr 1e30: %+v", m[1])
	}
	if rec.Chosen != 0 || m[0].Status != Done {
		t.Fatalf("chose %d; trial 0 %+v", rec.Chosen, m[0])
	}
}

// A trial stopped from outside (its process killed) stops the sweep
// without recording a failure; a rerun trains it.
func TestInterruptedTrialIsNotAFailure(t *testing.T) {
	ds := tinyData(t, false)
	sp := mustSpace(t, []string{"lr=3e-3,1e-3"}, nil)
	dir := t.TempDir()
	inproc := InProcess(ds, configure)
	killed := func(ctx context.Context, tr Trial, until int) (Outcome, error) {
		if tr.ID == 1 {
			return Outcome{}, fmt.Errorf("%w: signal: killed", ErrTrialInterrupted)
		}
		return inproc(ctx, tr, until)
	}
	_, err := Run(context.Background(), dir, ds, sp, []string{"--epochs=1"}, configure, WithExecutor(killed))
	if !errors.Is(err, ErrTrialInterrupted) || !strings.Contains(err.Error(), "rerun the sweep") {
		t.Fatalf("killed trial: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if st := rec.Trials[1].Status; st != Pending {
		t.Fatalf("the killed trial is %s in sweep.json, want pending", st)
	}
	got, err := Run(context.Background(), dir, ds, sp, []string{"--epochs=1"}, configure)
	if err != nil {
		t.Fatal(err)
	}
	if m := byID(got); m[1].Status != Done || m[0].Status != Done {
		t.Fatalf("after the rerun: %+v", got.Trials)
	}
}

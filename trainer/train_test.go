package trainer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// dataset builds a small learnable dataset (8×8 images, 4 classes) with prep.
func dataset(t *testing.T) *data.Dataset {
	t.Helper()
	return datasetWith(t, "split: {seed: 1, val_fraction: 0.25}\n")
}

// datasetWith builds the learnable set with the given split/normalize YAML.
func datasetWith(t *testing.T, extra string) *data.Dataset {
	t.Helper()
	out := t.TempDir()
	tinybuild.Build(t, out, "tiny", tinyset.Spec{Train: 480, Test: 160, Side: 8, Classes: 4, Seed: 3, Learnable: true},
		"classes: [a, b, c, d]\nshards: {rows: 100, batch_rows: 32}\n"+extra)
	ds, err := data.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func mlpConfig(epochs int) Config {
	return Config{Model: "mlp", Hidden: []int{32}, Epochs: epochs, BatchSize: 16, Seed: 7,
		Optimizer: optim.Config{Algorithm: optim.Adam, LR: 3e-3}}
}

func cnnConfig(epochs int) Config {
	return Config{Model: "cnn", Epochs: epochs, BatchSize: 32, Seed: 7, Optimizer: optim.Config{Algorithm: optim.Adam, LR: 1e-3}}
}

func trainAll(t *testing.T, s *Session) {
	t.Helper()
	for s.Epoch < s.Config.Epochs {
		if _, err := s.TrainEpoch(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
}

// savedAfterOneEpoch trains a new session of cfg for one epoch and saves
// it, returning the checkpoint's path: how the resume tests interrupt a run.
func savedAfterOneEpoch(t *testing.T, cfg Config, ds *data.Dataset) string {
	t.Helper()
	s, err := NewSession(cfg, ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrainEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := s.Save(ck); err != nil {
		t.Fatal(err)
	}
	return ck
}

func weights(s *Session) [][]float32 {
	var w [][]float32
	for _, p := range s.Model.Params() {
		w = append(w, slices.Clone(p.Data))
	}
	return w
}

func sameWeights(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestTrainingLearnsTheClasses(t *testing.T) {
	ds := dataset(t)
	s, err := NewSession(mlpConfig(6), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, s)
	conf, _, err := s.Evaluate(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if conf.Accuracy() < 0.9 || conf.Total() != 160 {
		t.Fatalf("test accuracy %.3f on %d images after 6 epochs; history %+v", conf.Accuracy(), conf.Total(), s.History)
	}
	if h := s.History; len(h) != 6 || h[5].TrainLoss >= h[0].TrainLoss || h[5].ValAcc < 0.9 {
		t.Fatalf("history %+v", h)
	}
}

func TestSameSeedSameWeights(t *testing.T) {
	ds := dataset(t)
	var ws [][][]float32
	for seed := uint64(7); seed <= 8; seed++ {
		for rep := 0; rep < 2; rep++ {
			cfg := cnnConfig(1)
			cfg.Seed = seed
			s, err := NewSession(cfg, ds, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			trainAll(t, s)
			ws = append(ws, weights(s))
		}
	}
	if !sameWeights(ws[0], ws[1]) || !sameWeights(ws[2], ws[3]) {
		t.Fatal("same seed gave different weights")
	}
	if sameWeights(ws[0], ws[2]) {
		t.Fatal("different seeds gave the same weights")
	}
}

// An interrupted run resumed from its checkpoint ends with the same weights
// as an uninterrupted one (the CNN has dropout, so RNG state must travel).
func TestResumeMatchesUninterrupted(t *testing.T) {
	ds := dataset(t)
	straight, err := NewSession(cnnConfig(3), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, straight)

	ck := savedAfterOneEpoch(t, cnnConfig(3), ds)
	resumed, err := Resume(ck, ds)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Epoch != 1 || len(resumed.History) != 1 {
		t.Fatalf("resumed at epoch %d with %d history entries", resumed.Epoch, len(resumed.History))
	}
	trainAll(t, resumed)
	if !sameWeights(weights(straight), weights(resumed)) {
		t.Fatal("resumed run ended with different weights")
	}
	if straight.History[2] != resumed.History[2] {
		// Seconds and images/s differ; compare the losses.
		a, b := straight.History[2], resumed.History[2]
		if a.TrainLoss != b.TrainLoss || a.ValLoss != b.ValLoss || a.ValAcc != b.ValAcc {
			t.Fatalf("epoch 3 metrics differ: %+v vs %+v", a, b)
		}
	}
}

func TestEarlyStopping(t *testing.T) {
	ds := dataset(t)
	cfg := mlpConfig(10)
	cfg.Optimizer.LR = 0 // nothing changes, so val loss never improves after epoch 1
	cfg.Patience = 2
	s, err := NewSession(cfg, ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stopErr error
	for s.Epoch < cfg.Epochs && stopErr == nil {
		_, stopErr = s.TrainEpoch(context.Background(), nil)
	}
	if !errors.Is(stopErr, ErrEarlyStop) || s.Epoch != 3 {
		t.Fatalf("stopped with %v after %d epochs, want early stop after 3", stopErr, s.Epoch)
	}
}

func TestRunFilesAndShapeChecks(t *testing.T) {
	ds := dataset(t)
	s, err := NewSession(mlpConfig(1), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, s)
	dir := t.TempDir()
	if err := s.WriteRunFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{MetricsFile, CurvesFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	other := mlpConfig(1)
	other.Model = "resnet"
	if _, err := NewSession(other, ds, nil, nil); err == nil {
		t.Fatal("unknown model accepted")
	}
}

package trainer

import (
	"context"
	"math"
	"path/filepath"
	"testing"
)

// A cosine run resumed with a larger --epochs total decays over the new
// total from where it stands, instead of training at the old schedule's
// final rate of zero; with its own total it still matches an
// uninterrupted run (TestResumeMatchesUninterrupted covers constant).
func TestSetEpochsStretchesCosine(t *testing.T) {
	ds := dataset(t)
	cfg := mlpConfig(1)
	cfg.Schedule = "cosine"
	s, err := NewSession(cfg, ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrainEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if lr := s.Opt.LR(); lr != 0 {
		t.Fatalf("after its only epoch the cosine rate is %v, want 0", lr)
	}
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := s.Save(ck); err != nil {
		t.Fatal(err)
	}
	r, err := Resume(ck, ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetEpochs(2); err != nil {
		t.Fatal(err)
	}
	// Half-way through a two-epoch cosine: half the base rate.
	if lr, want := r.Opt.LR(), cfg.Optimizer.LR/2; math.Abs(lr-want) > 1e-12 {
		t.Errorf("resumed to 2 epochs at rate %v, want %v", lr, want)
	}
	if r.Config.Epochs != 2 {
		t.Errorf("Config.Epochs = %d", r.Config.Epochs)
	}
	if err := r.SetEpochs(0); err == nil {
		t.Error("SetEpochs(0) accepted")
	}
}

package trainer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// TestResumeAfterFailedSave: a save that fails after any of its files (a
// full disk between two files, a kill between two renames) leaves the
// previous epoch's checkpoint, and resuming from it ends with the weights
// of an uninterrupted run.
func TestResumeAfterFailedSave(t *testing.T) {
	ds := dataset(t)
	straight, err := NewSession(cnnConfig(3), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, straight)

	cases := []struct {
		op durable.Op
		n  int // fail the n-th such step of the save
	}{
		{durable.OpCreate, 2}, // after the weights, before the optimizer state
		{durable.OpCreate, 3}, // after both data files, before the sidecar
		{durable.OpRename, 3}, // the sidecar written, not yet renamed into place
		{durable.OpSync, 2},   // the optimizer state cannot be synced
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.op, c.n), func(t *testing.T) {
			s, err := NewSession(cnnConfig(3), ds, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ck := filepath.Join(t.TempDir(), CheckpointBase)
			for epoch := 1; epoch <= 2; epoch++ {
				if _, err := s.TrainEpoch(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
				if epoch == 1 {
					if err := s.Save(ck); err != nil {
						t.Fatal(err)
					}
					continue
				}
				errInjected := errors.New("injected failure")
				seen := 0
				restore := durable.SetTestHook(func(op durable.Op, _ string) error {
					if op == c.op {
						if seen++; seen == c.n {
							return errInjected
						}
					}
					return nil
				})
				err := s.Save(ck)
				restore()
				if !errors.Is(err, errInjected) {
					t.Fatalf("save of epoch 2: %v, want the injected failure", err)
				}
			}
			resumed, err := Resume(ck, ds)
			if err != nil {
				t.Fatalf("resume after the failed save: %v", err)
			}
			if resumed.Epoch != 1 {
				t.Fatalf("resumed at epoch %d, want 1", resumed.Epoch)
			}
			trainAll(t, resumed)
			if !sameWeights(weights(straight), weights(resumed)) {
				t.Fatal("the run resumed after a failed save ended with other weights than an uninterrupted one")
			}
		})
	}
}

func TestResumeWithoutCheckpoint(t *testing.T) {
	ds := dataset(t)
	dir := t.TempDir()
	_, err := Resume(filepath.Join(dir, CheckpointBase), ds)
	if err == nil || !strings.Contains(err.Error(), "resume "+dir+": no checkpoint there") || !strings.Contains(err.Error(), "without --resume") {
		t.Fatalf("err = %v", err)
	}
	if note := CheckpointNote(dir); !strings.Contains(note, dir+" holds no checkpoint") {
		t.Fatalf("note %q", note)
	}
}

func TestCheckpointNote(t *testing.T) {
	ds := dataset(t)
	s, err := NewSession(mlpConfig(1), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, s)
	dir := t.TempDir()
	if err := s.Save(filepath.Join(dir, CheckpointBase)); err != nil {
		t.Fatal(err)
	}
	if note := CheckpointNote(dir); !strings.Contains(note, "epoch 1") || !strings.Contains(note, "--resume "+dir) {
		t.Fatalf("note %q", note)
	}
}

// TestLockRun: a second trainer on a run directory is refused at once,
// naming it, while the first holds it; free again after.
func TestLockRun(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockRun(dir); err == nil || !strings.Contains(err.Error(), "run directory "+dir+" is in use by another trainer") {
		t.Fatalf("second LockRun: %v", err)
	}
	unlock()
	unlock2, err := LockRun(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

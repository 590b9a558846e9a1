package trainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/curves"
)

// Run-directory file names.
const (
	CheckpointBase = "checkpoint" // checkpoint.json and the files it names (package checkpoint)
	LockFile       = ".lock"      // held by the trainer writing into the run directory
	MetricsFile    = "metrics.jsonl"
	CurvesFile     = "curves.png"
)

// CheckpointPath turns a run directory into the base path of its
// checkpoint; any other path (a checkpoint base or .json) is returned as is.
func CheckpointPath(p string) string {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return filepath.Join(p, CheckpointBase)
	}
	return p
}

// WriteRunFiles rewrites metrics.jsonl (one JSON object per epoch) and
// curves.png in dir from the session's history. Both are replaced
// atomically, so after a resume they hold exactly the epochs trained.
func (s *Session) WriteRunFiles(dir string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	pts := make([]curves.Point, len(s.History))
	hasVal := s.Data.Rows(vocab.Val) > 0
	for i, h := range s.History {
		if err := enc.Encode(h); err != nil {
			return err
		}
		pts[i] = curves.Point{Epoch: h.Epoch, TrainLoss: h.TrainLoss, ValLoss: h.ValLoss, TrainAcc: h.TrainAcc, ValAcc: h.ValAcc, HasVal: hasVal}
	}
	if err := durable.WriteFile(filepath.Join(dir, MetricsFile), buf.Bytes(), 0o644); err != nil {
		return err
	}
	return curves.WritePNG(filepath.Join(dir, CurvesFile), s.Config.Model, pts)
}

// LockRun takes the run directory's lock for the trainer that writes into
// it, or refuses at once, naming the directory, while another trainer holds
// it: two trainers saving into one run would interleave their checkpoints.
// The kernel drops the lock when its process dies (internal/durable).
func LockRun(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFile)
	l, err := durable.TryLock(path)
	if errors.Is(err, durable.ErrLocked) {
		return nil, fmt.Errorf("run directory %s is in use by another trainer (it holds %s); wait for that one to finish, or train into another --out", dir, path)
	}
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// CheckpointNote says what an interrupted run leaves in dir: the epoch of
// its checkpoint and how to continue, or that it holds none.
func CheckpointNote(dir string) string {
	m, err := checkpoint.ReadMeta(filepath.Join(dir, CheckpointBase))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("%s holds no checkpoint: one is saved when an epoch ends, and this run stopped before its first did", dir)
		}
		return fmt.Sprintf("the checkpoint in %s is unreadable: %v", dir, err)
	}
	return fmt.Sprintf("the checkpoint of epoch %d, the last completed, is kept in %s (continue with --resume %s)", m.Epoch, dir, dir)
}

package trainer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/trainer/curves"
)

// Run-directory file names.
const (
	CheckpointBase = "checkpoint" // checkpoint.safetensors, checkpoint.optim.safetensors, checkpoint.json
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
	hasVal := s.Data.Rows("val") > 0
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

package trainer

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// sessionState is what a checkpoint carries beyond weights and optimizer
// state, so a resumed session continues exactly where the saved one was.
type sessionState struct {
	Config    Config       `json:"config"`
	History   []EpochStats `json:"history"`
	BestVal   float64      `json:"best_val"`
	SinceBest int          `json:"since_best"`
	// Rules are the learning-rate groups (fine-tuning's head/body rates).
	Rules []optim.Rule `json:"lr_groups,omitempty"`
}

// Save writes a checkpoint of the session at base path p as a new
// generation (see package checkpoint): a failure at any moment leaves the
// previous checkpoint loadable.
func (s *Session) Save(p string) error {
	best := s.bestVal
	if math.IsInf(best, 1) {
		best = math.MaxFloat64
	}
	st, err := json.Marshal(sessionState{Config: s.Config, History: s.History, BestVal: best, SinceBest: s.sinceBest, Rules: s.rules})
	if err != nil {
		return err
	}
	m := s.Data.Manifest
	c, err := checkpoint.Capture(s.Model, s.Opt, checkpoint.Meta{
		Epoch:          s.Epoch,
		Step:           s.Opt.StepCount(),
		DatasetVersion: m.Version,
		Dataset:        m.Dataset,
		Sources:        SourceDigests(m),
		Normalization:  &checkpoint.Normalization{Mean: m.Normalize.Mean, Std: m.Normalize.Std},
		Image:          &checkpoint.ImageShape{Height: m.Image.Height, Width: m.Image.Width, Channels: m.Image.Channels},
		ClassNames:     m.Classes,
		Extra:          map[string]json.RawMessage{"session": st},
	})
	if err != nil {
		return err
	}
	return checkpoint.Save(p, c)
}

// Resume rebuilds a session from the checkpoint at p to continue training
// on ds, which must be the dataset version it was trained on.
func Resume(p string, ds *data.Dataset) (*Session, error) {
	if !checkpoint.Exists(p) {
		return nil, fmt.Errorf("resume %s: %s", filepath.Dir(p), noCheckpoint)
	}
	c, err := checkpoint.Load(p)
	if err != nil {
		return nil, err
	}
	if c.Meta.DatasetVersion != ds.Manifest.Version {
		return nil, fmt.Errorf("resume %s: the checkpoint was trained on dataset version %.12s, --shards is version %.12s",
			p, c.Meta.DatasetVersion, ds.Manifest.Version)
	}
	var st sessionState
	if err := json.Unmarshal(c.Meta.Extra["session"], &st); err != nil {
		return nil, fmt.Errorf("resume %s: no training session in the checkpoint: %w", p, err)
	}
	model, err := c.Restore()
	if err != nil {
		return nil, err
	}
	s, err := NewSession(st.Config, ds, model, st.Rules)
	if err != nil {
		return nil, err
	}
	if err := c.RestoreOptimizer(s.Opt); err != nil {
		return nil, err
	}
	s.Epoch, s.History, s.bestVal, s.sinceBest = c.Meta.Epoch, st.History, st.BestVal, st.SinceBest
	return s, nil
}

// noCheckpoint says why a run directory holds no checkpoint.
const noCheckpoint = "no checkpoint there: a checkpoint is saved when an epoch ends, and this run stopped before its first did; start it again without --resume"

// SourceDigests identifies the data a dataset version was built from: the
// digest each source file's content is known by (content_sha256 for an IDX
// file, else sha256), sorted. Versions built from the same files (subsets,
// relabellings, other normalizations) share them; another dataset shares none.
func SourceDigests(m *manifest.Manifest) []string {
	var d []string
	for _, s := range m.Sources {
		if s.ContentSHA256 != "" {
			d = append(d, s.ContentSHA256)
		} else if s.SHA256 != "" {
			d = append(d, s.SHA256)
		}
	}
	slices.Sort(d)
	return slices.Compact(d)
}

// CheckImage refuses shards whose image shape (height, width, channels) is
// not the one the checkpoint was trained on.
func CheckImage(meta checkpoint.Meta, ds *data.Dataset) error {
	im := ds.Manifest.Image
	return meta.CheckImage(checkpoint.ImageShape{Height: im.Height, Width: im.Width, Channels: im.Channels})
}

package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
)

// Trial is one run of a sweep: its number, its run directory and the
// trainer flags that configure it (the sweep's own flags, then the swept
// values).
type Trial struct {
	ID   int      `json:"id"`
	Dir  string   `json:"dir"`
	Args []string `json:"args"`
}

// Outcome is what training a trial to a rung gave: every epoch trained so
// far, and whether the trial's own --patience stopped it.
type Outcome struct {
	History   []trainer.EpochStats `json:"history"`
	EarlyStop bool                 `json:"early_stop,omitempty"`
}

// Executor trains trial t until it has completed `until` epochs (or its
// patience stops it), continuing from the checkpoint in t.Dir when there is
// one, and never training an epoch the checkpoint already holds. The
// default runs the trial in this process (TrainTrial); cmd/trainer runs each
// trial in a process of its own, with its share of the cores.
type Executor func(ctx context.Context, t Trial, until int) (Outcome, error)

// Configure turns trainer flags into the run they describe, refusing what
// the trainer refuses; it is cmd/trainer's flag set, so that any trainer
// flag can be swept and is validated exactly as trainer validates it.
type Configure func(args []string) (trainer.Config, error)

// InProcess is the Executor that trains trials in this process, on ds.
func InProcess(ds *data.Dataset, configure Configure) Executor {
	return func(ctx context.Context, t Trial, until int) (Outcome, error) {
		cfg, err := configure(t.Args)
		if err != nil {
			return Outcome{}, err
		}
		return TrainTrial(ctx, ds, cfg, t.Dir, until)
	}
}

// TrainTrial trains the run in dir, configured by cfg, until it has `until`
// epochs. dir is an ordinary run directory, written as trainer writes one
// (a checkpoint generation, metrics.jsonl and curves.png after every epoch,
// under the run's lock), so trainer eval, --resume and finetune accept it;
// cfg.Epochs is the sweep's budget, so `trainer --resume dir` finishes a
// trial that halving stopped.
func TrainTrial(ctx context.Context, ds *data.Dataset, cfg trainer.Config, dir string, until int) (Outcome, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Outcome{}, err
	}
	unlock, err := trainer.LockRun(dir)
	if err != nil {
		return Outcome{}, err
	}
	defer unlock()
	ckpt := filepath.Join(dir, trainer.CheckpointBase)
	var s *trainer.Session
	if checkpoint.Exists(ckpt) {
		if s, err = trainer.Resume(ckpt, ds); err != nil {
			return Outcome{}, err
		}
		if !reflect.DeepEqual(s.Config, cfg) {
			return Outcome{}, fmt.Errorf("%s holds a run configured otherwise than this trial (%+v, the trial asks for %+v): it is not this sweep's; move it away or sweep into another --out", dir, s.Config, cfg)
		}
	} else if s, err = trainer.NewSession(cfg, ds, nil, nil); err != nil {
		return Outcome{}, err
	}
	until = min(until, cfg.Epochs)
	for s.Epoch < until {
		if err := ctx.Err(); err != nil {
			return Outcome{}, err
		}
		_, err := s.TrainEpoch(ctx, nil)
		stop := errors.Is(err, trainer.ErrEarlyStop)
		if err != nil && !stop {
			return Outcome{}, err
		}
		if err := s.Save(ckpt); err != nil {
			return Outcome{}, err
		}
		if err := s.WriteRunFiles(dir); err != nil {
			return Outcome{}, err
		}
		if stop {
			return Outcome{History: s.History, EarlyStop: true}, nil
		}
	}
	return Outcome{History: s.History}, nil
}

package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/metrics"
)

// Sweep-directory file names.
const (
	RecordFile = "sweep.json" // the space, the seed, every trial's flags and results
	PlotFile   = "sweep.png"
	TrialFile  = "trial.json" // in each trial's run directory: its flags
	lockFile   = ".lock"
)

// Trial statuses.
const (
	Pending   = "pending"    // not trained to its next rung yet
	Running   = "running"    // promoted, still below the budget
	Stopped   = "stopped"    // halving stopped it at a rung
	Done      = "done"       // trained the whole budget
	EarlyStop = "early-stop" // its own --patience ended it
	Failed    = "failed"     // training failed (a loss that diverged, say)
)

// Halving is the successive-halving schedule: rungs at MinEpochs,
// MinEpochs·Eta, MinEpochs·Eta², … below the budget, then the budget; after
// each rung but the last only the best 1/Eta of the trials (by val loss at
// that rung, at least one) go on.
type Halving struct {
	On        bool `json:"on"`
	MinEpochs int  `json:"min_epochs"`
	Eta       int  `json:"eta"`
}

// Rungs returns the epochs at which trials are compared, for a budget of
// epochs; without halving, the budget alone.
func (h Halving) Rungs(epochs int) []int {
	if !h.On {
		return []int{epochs}
	}
	var r []int
	for e := h.MinEpochs; e < epochs; e *= h.Eta {
		r = append(r, e)
	}
	return append(r, epochs)
}

// TrialRecord is one trial in sweep.json.
type TrialRecord struct {
	Trial
	Values  []Value              `json:"values"`
	Status  string               `json:"status"`
	Error   string               `json:"error,omitempty"`
	Epochs  int                  `json:"epochs"`
	ValLoss float64              `json:"val_loss"`
	ValAcc  float64              `json:"val_accuracy"`
	Seconds float64              `json:"seconds"` // training time over all its epochs
	History []trainer.EpochStats `json:"history,omitempty"`
}

// TestResult is the one evaluation of the test split, for the chosen trial.
type TestResult struct {
	Trial    int            `json:"trial"`
	Loss     float64        `json:"loss"`
	Accuracy float64        `json:"accuracy"`
	Report   metrics.Report `json:"report"`
}

// Record is sweep.json: what identifies the sweep (dataset version, space,
// seed, the flags every trial shares, the number of trials, the halving
// schedule) and the state of every trial. A rerun with the same identity
// continues it; any other is refused.
type Record struct {
	Dataset string        `json:"dataset_version"`
	Space   Space         `json:"space"`
	Seed    uint64        `json:"seed"`
	Base    []string      `json:"base_args"`
	Epochs  int           `json:"epochs"`
	Halving Halving       `json:"halving"`
	Trials  []TrialRecord `json:"trials"`
	// Chosen is the trial selected on val (-1 until the sweep ends).
	Chosen int         `json:"chosen"`
	Test   *TestResult `json:"test,omitempty"`
}

type options struct {
	seed     uint64
	trials   int
	halving  Halving
	parallel int
	exec     Executor
	log      io.Writer
}

// Option configures Run.
type Option func(*options) error

// WithSeed sets the seed the random parameters are drawn from (default 1).
func WithSeed(seed uint64) Option {
	return func(o *options) error { o.seed = seed; return nil }
}

// WithTrials sets the number of trials (default: Space.DefaultTrials).
func WithTrials(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sweep: trials must be ≥ 1, got %d", n)
		}
		o.trials = n
		return nil
	}
}

// WithHalving turns successive halving on, with its first rung at
// minEpochs and a fraction 1/eta promoted at each rung (the default is on,
// 1 and 3, as in Hyperband and ASHA).
func WithHalving(minEpochs, eta int) Option {
	return func(o *options) error {
		if minEpochs < 1 || eta < 2 {
			return fmt.Errorf("sweep: halving needs min epochs ≥ 1 and eta ≥ 2, got %d and %d", minEpochs, eta)
		}
		o.halving = Halving{On: true, MinEpochs: minEpochs, Eta: eta}
		return nil
	}
}

// WithoutHalving trains every trial the whole budget.
func WithoutHalving() Option {
	return func(o *options) error { o.halving = Halving{}; return nil }
}

// WithParallel runs up to n trials at once (default 1).
func WithParallel(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sweep: parallel must be ≥ 1, got %d", n)
		}
		o.parallel = n
		return nil
	}
}

// WithExecutor sets how trials are trained (default InProcess).
func WithExecutor(e Executor) Option {
	return func(o *options) error {
		if e == nil {
			return errors.New("sweep: nil executor")
		}
		o.exec = e
		return nil
	}
}

// WithLog makes the sweep say what it does, one line per trial and rung.
func WithLog(w io.Writer) Option {
	return func(o *options) error {
		if w == nil {
			w = io.Discard
		}
		o.log = w
		return nil
	}
}

// ErrTrialInterrupted marks an executor's error for a trial that was
// stopped from outside (its process killed or signalled) rather than one
// that failed: the sweep stops, records no failure, and a rerun continues
// the trial.
var ErrTrialInterrupted = errors.New("trial interrupted")

// ErrNoVal refuses a dataset without a val split.
var ErrNoVal = errors.New("no val split: a sweep chooses its trial on val, and choosing on test would flatter the winner; rebuild the dataset with a val split (split: {val_fraction: 0.1} in its prep config)")

// Run runs (or continues) the sweep in dir over space on ds: base are the
// trainer flags every trial shares (its --epochs is the budget), configure
// turns flags into a run. It returns the record, with the trials in the
// order of the report (best val accuracy first).
func Run(ctx context.Context, dir string, ds *data.Dataset, space Space, base []string, configure Configure, opts ...Option) (*Record, error) {
	o := options{seed: 1, parallel: 1, halving: Halving{On: true, MinEpochs: 1, Eta: 3}, log: io.Discard}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if ds.Rows("val") == 0 {
		return nil, fmt.Errorf("sweep: %s: %w", ds.Dir, ErrNoVal)
	}
	if o.exec == nil {
		o.exec = InProcess(ds, configure)
	}
	if o.trials == 0 {
		o.trials = space.DefaultTrials()
	}
	cfg, err := configure(base)
	if err != nil {
		return nil, err
	}
	rec := &Record{Dataset: ds.Manifest.Version, Space: space, Seed: o.seed, Base: slices.Clone(base),
		Epochs: cfg.Epochs, Halving: o.halving, Chosen: -1}
	if base == nil {
		rec.Base = []string{}
	}
	for i, vals := range space.Propose(o.seed, o.trials) {
		t := Trial{ID: i, Dir: fmt.Sprintf("trial-%03d", i), Args: append(slices.Clone(rec.Base), Args(vals)...)}
		if _, err := configure(t.Args); err != nil {
			return nil, fmt.Errorf("trial %d (%s): %w", i, t.Args, err)
		}
		rec.Trials = append(rec.Trials, TrialRecord{Trial: t, Values: vals, Status: Pending})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lk, err := durable.TryLock(filepath.Join(dir, lockFile))
	if errors.Is(err, durable.ErrLocked) {
		return nil, fmt.Errorf("sweep directory %s is in use by another sweep; wait for it to finish, or sweep into another --out", dir)
	}
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	if rec, err = continueRecord(dir, rec); err != nil {
		return nil, err
	}
	s := &run{dir: dir, rec: rec, o: o}
	if err := s.save(); err != nil {
		return nil, err
	}
	if err := s.trainRungs(ctx); err != nil {
		return nil, err
	}
	if err := s.chooseAndTest(ctx, ds); err != nil {
		return nil, err
	}
	ranked := Ranked(rec)
	if err := WritePlot(filepath.Join(dir, PlotFile), ranked); err != nil {
		return nil, err
	}
	return ranked, nil
}

// continueRecord returns the record already in dir when it describes the
// same sweep as fresh, fresh when dir holds none, and refuses any other.
func continueRecord(dir string, fresh *Record) (*Record, error) {
	p := filepath.Join(dir, RecordFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fresh, nil
	}
	if err != nil {
		return nil, err
	}
	var old Record
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("%s: %v: not a sweep record; sweep into another --out", p, err)
	}
	var diff []string
	if old.Dataset != fresh.Dataset {
		diff = append(diff, fmt.Sprintf("dataset version %.12s, not %.12s", old.Dataset, fresh.Dataset))
	}
	if !reflect.DeepEqual(old.Space, fresh.Space) {
		diff = append(diff, "another space (--grid/--random)")
	}
	if old.Seed != fresh.Seed {
		diff = append(diff, fmt.Sprintf("--seed %d, not %d", old.Seed, fresh.Seed))
	}
	if !slices.Equal(old.Base, fresh.Base) {
		diff = append(diff, fmt.Sprintf("trainer flags %q, not %q", old.Base, fresh.Base))
	}
	if old.Halving != fresh.Halving {
		diff = append(diff, fmt.Sprintf("halving %+v, not %+v", old.Halving, fresh.Halving))
	}
	if len(old.Trials) != len(fresh.Trials) {
		diff = append(diff, fmt.Sprintf("%d trials, not %d", len(old.Trials), len(fresh.Trials)))
	}
	if len(diff) > 0 {
		return nil, fmt.Errorf("%s was started by another sweep (%s): rerun that sweep's command to continue it, or sweep into another --out", p, strings.Join(diff, "; "))
	}
	return &old, nil
}

// run is one invocation of a sweep.
type run struct {
	dir string
	o   options
	mu  sync.Mutex // guards rec and its file
	rec *Record
}

func (s *run) save() error {
	b, err := json.MarshalIndent(s.rec, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(s.dir, RecordFile), append(b, '\n'), 0o644)
}

// trainRungs trains the trials rung by rung. Whether a trial goes on after
// a rung depends only on the val losses at that rung, so a rerun after an
// interrupt makes the same decisions, and a trial whose checkpoint already
// holds a rung's epochs trains nothing for it.
func (s *run) trainRungs(ctx context.Context) error {
	rec := s.rec
	rungs := rec.Halving.Rungs(rec.Epochs)
	// Every trial goes through the rungs from the first, so that each
	// rung compares the same cohort as when the sweep first ran it; what a
	// trial already trained is taken from the record, not trained again.
	alive := make([]int, len(rec.Trials))
	for i := range alive {
		alive[i] = i
	}
	for k, until := range rungs {
		if len(alive) == 0 {
			break
		}
		fmt.Fprintf(s.o.log, "sweep: rung %d/%d: %d trial(s) to epoch %d\n", k+1, len(rungs), len(alive), until)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.o.parallel)
		for _, i := range alive {
			g.Go(func() error { return s.trainTo(gctx, i, until) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// The rung's cohort is the trials that reached it: a trial that
		// failed or whose patience ended it before the rung is out, one
		// replayed from the record that is done already is in, as it was
		// when it got there.
		var going []int
		for _, i := range alive {
			if len(rec.Trials[i].History) >= until {
				going = append(going, i)
			}
		}
		if k == len(rungs)-1 {
			break
		}
		slices.SortStableFunc(going, func(a, b int) int {
			return cmpFloat(rec.Trials[a].History[until-1].ValLoss, rec.Trials[b].History[until-1].ValLoss)
		})
		keep := max(1, len(going)/rec.Halving.Eta)
		s.mu.Lock()
		for _, i := range going[keep:] {
			if st := rec.Trials[i].Status; st == Failed || st == EarlyStop {
				continue // ended by itself at this rung
			}
			rec.Trials[i].Status = Stopped
			fmt.Fprintf(s.o.log, "sweep: trial %d stopped at epoch %d (val loss %.4f)\n", i, until, rec.Trials[i].ValLoss)
		}
		err := s.save()
		s.mu.Unlock()
		if err != nil {
			return err
		}
		alive = going[:keep]
		slices.Sort(alive)
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// trainTo trains trial i to `until` epochs and records what it gave.
func (s *run) trainTo(ctx context.Context, i, until int) error {
	s.mu.Lock()
	tr := &s.rec.Trials[i]
	t := tr.Trial
	if tr.Status == Failed || tr.Status == EarlyStop {
		s.mu.Unlock()
		return nil
	}
	if len(tr.History) >= until {
		tr.Status = Running
		if len(tr.History) >= s.rec.Epochs {
			tr.Status = Done
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	t.Dir = filepath.Join(s.dir, t.Dir)
	if err := writeTrialFile(t); err != nil {
		return err
	}
	out, err := s.o.exec(ctx, t, until)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrTrialInterrupted) {
		return fmt.Errorf("%w; rerun the sweep to continue it", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		tr.Status, tr.Error = Failed, err.Error()
		fmt.Fprintf(s.o.log, "sweep: trial %d failed: %v\n", i, err)
	default:
		tr.History = out.History
		tr.Epochs = len(out.History)
		tr.Seconds = 0
		for _, h := range out.History {
			tr.Seconds += h.Seconds
		}
		if n := len(out.History); n > 0 {
			tr.ValLoss, tr.ValAcc = out.History[n-1].ValLoss, out.History[n-1].ValAcc
		}
		switch {
		case out.EarlyStop:
			tr.Status = EarlyStop
		case tr.Epochs >= s.rec.Epochs:
			tr.Status = Done
		default:
			tr.Status = Running
		}
		fmt.Fprintf(s.o.log, "sweep: trial %d %s: epoch %d, val loss %.4f, val acc %.4f\n", i, strings.Join(t.Args[len(s.rec.Base):], " "), tr.Epochs, tr.ValLoss, tr.ValAcc)
	}
	return s.save()
}

// writeTrialFile records in the trial's run directory the flags it was
// trained with, so that the directory explains itself.
func writeTrialFile(t Trial) error {
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(struct {
		ID   int      `json:"trial"`
		Args []string `json:"args"`
	}{t.ID, t.Args}, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(t.Dir, TrialFile), append(b, '\n'), 0o644)
}

// ReadTrialFile reads the flags of the trial whose run directory is dir.
func ReadTrialFile(dir string) (Trial, error) {
	b, err := os.ReadFile(filepath.Join(dir, TrialFile))
	if err != nil {
		return Trial{}, err
	}
	var t struct {
		ID   int      `json:"trial"`
		Args []string `json:"args"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return Trial{}, fmt.Errorf("%s: %w", filepath.Join(dir, TrialFile), err)
	}
	return Trial{ID: t.ID, Dir: dir, Args: t.Args}, nil
}

// better reports whether trial a ranks before trial b in the report:
// higher val accuracy, then lower val loss, then lower number.
func better(a, b *TrialRecord) bool {
	switch {
	case a.ValAcc != b.ValAcc:
		return a.ValAcc > b.ValAcc
	case a.ValLoss != b.ValLoss:
		return a.ValLoss < b.ValLoss
	}
	return a.ID < b.ID
}

// finished reports whether t trained the whole budget (or until its own
// patience ended it): only those can be chosen, since a trial that halving
// stopped was compared at fewer epochs.
func finished(t *TrialRecord) bool { return t.Status == Done || t.Status == EarlyStop }

// Ranked returns a copy of rec with its trials in report order.
func Ranked(rec *Record) *Record {
	r := *rec
	r.Trials = slices.Clone(rec.Trials)
	slices.SortStableFunc(r.Trials, func(a, b TrialRecord) int {
		if better(&a, &b) {
			return -1
		}
		if better(&b, &a) {
			return 1
		}
		return 0
	})
	return &r
}

// chooseAndTest chooses the best finished trial on val and evaluates its
// checkpoint on the test split — once: the result is recorded, and a rerun
// of a finished sweep reports it without reading the test split again.
func (s *run) chooseAndTest(ctx context.Context, ds *data.Dataset) error {
	rec := s.rec
	best := -1
	for i := range rec.Trials {
		if finished(&rec.Trials[i]) && (best < 0 || better(&rec.Trials[i], &rec.Trials[best])) {
			best = i
		}
	}
	if best < 0 {
		return fmt.Errorf("sweep: no trial finished (every one failed; see %s)", filepath.Join(s.dir, RecordFile))
	}
	if rec.Chosen == best && (rec.Test != nil || ds.Rows("test") == 0) {
		return nil
	}
	rec.Chosen, rec.Test = best, nil
	if ds.Rows("test") > 0 {
		t0 := time.Now()
		_, model, err := checkpoint.LoadModel(filepath.Join(s.dir, rec.Trials[best].Dir, trainer.CheckpointBase))
		if err != nil {
			return err
		}
		conf, loss, err := trainer.Evaluate(ctx, model, ds, "test", 256)
		if err != nil {
			return err
		}
		rec.Test = &TestResult{Trial: best, Loss: loss, Accuracy: conf.Accuracy(), Report: conf.Report()}
		fmt.Fprintf(s.o.log, "sweep: test split evaluated once, for trial %d (%.1fs)\n", best, time.Since(t0).Seconds())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.save()
}

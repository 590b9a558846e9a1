package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/sweep"
)

const sweepUsage = `Usage: trainer sweep --shards DIR --grid NAME=V1,V2 | --random NAME=DIST ... [trainer flags] --out SWEEP

Searches hyper-parameters: proposes trials, trains each as an ordinary run
directory (SWEEP/trial-NNN, which trainer eval, --resume and finetune
accept), chooses the trial with the best val accuracy, and evaluates the test
split once, for that trial only. A dataset without a val split is refused:
choosing on test would flatter the winner.

The space. Any trainer flag can be swept (except --shards, --epochs, which is
every trial's budget, and --out, --resume, --json, --quiet, --cpuprofile):
  --grid 'lr=1e-3,2e-3,4e-3'                   every value, crossed with the other grids
  --random 'weight-decay=loguniform(1e-5,1e-2)' drawn per trial (log-uniform)
  --random 'momentum=uniform(0.8,0.99)'        drawn per trial (uniform)
  --random 'optimizer=choice(adam,adamw)'      drawn per trial (one of)
  --grid 'hidden=512,256|256|1024'             values that hold commas: separate them with |
Trial i takes grid point i mod (grid size) and draws its random values from
(--seed, i), rounded to 3 digits: the same command proposes the same trials
on any machine. uniform and loguniform draw reals: sweep integer flags
(--batch-size, --patience) with --grid or choice. Every other trainer flag
given here (--model cnn, --epochs 3, --seed) applies to every trial; --seed
also seeds the draws.

Early stopping (--halving, on by default): successive halving on val loss.
Every trial trains --min-epochs epochs; the best 1/--eta of them (by val
loss, at least one) go on to min-epochs·eta epochs, and so on up to --epochs.
All trials of a rung finish before any is promoted, so the same command stops
the same trials on any machine. A stopped trial keeps its run directory:
trainer --shards DIR --resume SWEEP/trial-NNN --epochs BUDGET finishes it.
--halving=false trains every trial fully.

Trials run in processes of their own, --parallel at a time, each with
GOMAXPROCS = cores / --parallel. Interrupted (Ctrl-C), a sweep keeps every
completed epoch: rerun the same command to continue it; finished trials are
not trained again, and a sweep that ended only prints its report. SWEEP
records the space, the seed and every trial's flags and results
(sweep.json); sweep.png plots val accuracy against each swept flag and the
val curves of the best trials.

Examples:
  trainer sweep --shards out/mnist --model mlp --epochs 3 \
    --grid 'lr=1e-3,3e-3' --random 'weight-decay=loguniform(1e-5,1e-2)' --trials 8 --out sweeps/mlp
  trainer sweep --shards out/mnist --model cnn --epochs 3 --grid 'batch-size=64,128' \
    --grid 'lr=1e-3,2e-3,4e-3' --parallel 2 --halving=false --out sweeps/cnn --json

Flags:
`

// sweepOwn are the trainer flags a sweep does not pass to its trials: it
// reads --shards itself and has its own --out, --json and --quiet.
var sweepOwn = []string{"shards", "out", "resume", "json", "quiet", "cpuprofile"}

// specs is a repeatable string flag (--grid, --random).
type specs []string

func (s *specs) String() string { return strings.Join(*s, " ") }
func (s *specs) Set(v string) error {
	*s = append(*s, v)
	return nil
}

type sweepFlags struct {
	grids, randoms   specs
	trials, parallel int
	minEpochs, eta   int
	halving          bool
	out              string
	asJSON, quiet    bool
	trialDir         string
	until            int
	train            *flag.FlagSet // the trainer's own flags, parsed from the same command line
	shards, model    *string
}

func cmdSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sweepUsage); fs.PrintDefaults() }
	var f sweepFlags
	var tf trainFlags
	f.train = flag.NewFlagSet("trainer", flag.ContinueOnError)
	addTrainFlags(f.train, &tf)
	f.shards, f.model = &tf.shards, &tf.model
	f.train.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "shards" && slices.Contains(sweepOwn, fl.Name) {
			return
		}
		usage := fl.Usage
		switch fl.Name {
		case "epochs":
			usage = "epochs each trial trains at most: the sweep's budget (`int` 1 to 1000000)"
		case "seed":
			usage = "seed for every trial's initialisation, shuffling and dropout, and for the random draws"
		case "shards":
			usage = "dataset version, dataset directory or output root; it must have a val split (required)"
		}
		fs.Var(fl.Value, fl.Name, usage)
	})
	fs.Var(&f.grids, "grid", "sweep a flag over values, `NAME=V1,V2,...` (repeatable; grids are crossed)")
	fs.Var(&f.randoms, "random", "draw a flag per trial, `NAME=DIST`: uniform(LO,HI), loguniform(LO,HI) or choice(V1,V2,...) (repeatable)")
	cli.IntVar(fs, &f.trials, "trials", 0, 0, 100_000, "trials to propose (0: the grid's size, or 4 per grid point with --random)")
	cli.IntVar(fs, &f.parallel, "parallel", 1, 1, 1024, "trials trained at once, each in its own process with GOMAXPROCS = cores / N")
	fs.BoolVar(&f.halving, "halving", true, "stop the worse trials early by successive halving on val loss (see above)")
	cli.IntVar(fs, &f.minEpochs, "min-epochs", 1, 1, maxEpochs, "halving: epochs of the first rung")
	cli.IntVar(fs, &f.eta, "eta", 3, 2, 1000, "halving: 1/eta of the trials go on at each rung")
	fs.StringVar(&f.out, "out", "", "sweep directory; rerun with the same one to continue (default sweeps/<model>-<time>)")
	fs.BoolVar(&f.asJSON, "json", false, "print the sweep record (every trial, the choice, the test result) as JSON")
	fs.BoolVar(&f.quiet, "quiet", false, "no per-trial lines")
	fs.StringVar(&f.trialDir, "trial", "", "train one trial of a sweep, the run directory `DIR` (how the sweep runs each trial in a process of its own)")
	cli.IntVar(fs, &f.until, "until", 0, 0, maxEpochs, "with --trial: train until this many epochs (0: the trial's --epochs)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *f.shards == "" {
		return usageError(stderr, "trainer sweep: --shards is required (and no positional arguments); see trainer sweep --help")
	}
	if f.trialDir != "" {
		return runTrial(ctx, f.trialDir, f.until, *f.shards, stdout)
	}
	space, err := f.space(fs, args, stderr)
	if err != nil {
		return err
	}
	var base []string
	fs.Visit(func(fl *flag.Flag) {
		if f.train.Lookup(fl.Name) != nil && !slices.Contains(sweepOwn, fl.Name) {
			base = append(base, "--"+fl.Name+"="+fl.Value.String())
		}
	})
	if _, err := configureTrial(base); err != nil {
		return usageError(stderr, "trainer sweep: %v", err)
	}
	trials := f.trials
	if trials == 0 {
		trials = space.DefaultTrials()
	}
	for i, vals := range space.Propose(tf.seed, trials) {
		if _, err := configureTrial(append(slices.Clone(base), sweep.Args(vals)...)); err != nil {
			return usageError(stderr, "trainer sweep: trial %d (%s): %v", i, strings.Join(sweep.Args(vals), " "), err)
		}
	}
	ds, err := data.Open(*f.shards)
	if err != nil {
		return err
	}
	if ds.Rows("val") == 0 {
		return fmt.Errorf("sweep: %s: %w", ds.Dir, sweep.ErrNoVal)
	}
	if f.out == "" {
		f.out = filepath.Join("sweeps", fmt.Sprintf("%s-%s", *f.model, time.Now().Format("20060102-150405")))
	}
	procs := max(1, runtime.GOMAXPROCS(0)/f.parallel)
	executor, err := processExecutor(ds.Dir, procs)
	if err != nil {
		return err
	}
	logw := stderr
	if f.quiet {
		logw = io.Discard
	}
	opts := []sweep.Option{sweep.WithSeed(tf.seed), sweep.WithParallel(f.parallel), sweep.WithExecutor(executor), sweep.WithLog(logw)}
	if f.trials > 0 {
		opts = append(opts, sweep.WithTrials(f.trials))
	}
	if f.halving {
		opts = append(opts, sweep.WithHalving(f.minEpochs, f.eta))
	} else {
		opts = append(opts, sweep.WithoutHalving())
	}
	fmt.Fprintf(logw, "trainer sweep: %s version %s, %d parallel trial(s) of GOMAXPROCS %d, sweep %s\n",
		ds.Manifest.Dataset, ds.Manifest.ShortVersion(), f.parallel, procs, f.out)
	t0 := time.Now()
	rec, err := sweep.Run(ctx, f.out, ds, space, base, configureTrial, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return &interruptedError{err: err, note: fmt.Sprintf("every completed epoch is kept in %s; rerun the same command to continue the sweep", f.out)}
		}
		return err
	}
	if f.asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Dir     string  `json:"dir"`
			Plot    string  `json:"plot"`
			Seconds float64 `json:"seconds"`
			*sweep.Record
		}{f.out, filepath.Join(f.out, sweep.PlotFile), time.Since(t0).Seconds(), rec})
	}
	if err := sweep.PrintTable(stdout, f.out, rec); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%.1fs; record %s, plot %s\n", time.Since(t0).Seconds(), filepath.Join(f.out, sweep.RecordFile), filepath.Join(f.out, sweep.PlotFile))
	return nil
}

// space parses --grid and --random and checks each name and value against
// the trainer's flags, as trainer itself would parse them.
func (f *sweepFlags) space(fs *flag.FlagSet, args []string, stderr io.Writer) (sweep.Space, error) {
	set := cli.Set(fs)
	var sp sweep.Space
	for _, g := range []struct {
		flag  string
		specs specs
		parse func(string) (sweep.Param, error)
	}{{"grid", f.grids, sweep.ParseGrid}, {"random", f.randoms, sweep.ParseRandom}} {
		for _, s := range g.specs {
			p, err := g.parse(s)
			if err != nil {
				return sp, usageError(stderr, "trainer sweep: --%s %v", g.flag, err)
			}
			if err := checkSweptName(p.Name); err != nil {
				return sp, usageError(stderr, "trainer sweep: --%s %s: %v", g.flag, s, err)
			}
			if set[p.Name] {
				return sp, usageError(stderr, "trainer sweep: --%s %s: --%s %s is both given and swept: drop one",
					g.flag, s, p.Name, givenText(args, p.Name, fs.Lookup(p.Name).Value.String()))
			}
			one := sweep.Space{Params: []sweep.Param{p}}
			if err := one.Check(checkValue); err != nil {
				return sp, usageError(stderr, "trainer sweep: --%s %s: %v", g.flag, s, err)
			}
			sp.Params = append(sp.Params, p)
		}
	}
	if len(sp.Params) == 0 {
		return sp, usageError(stderr, "trainer sweep: nothing to sweep: give at least one --grid NAME=V1,V2 or --random NAME=DIST (see trainer sweep --help)")
	}
	if err := sp.Check(func(string, string) error { return nil }); err != nil {
		return sp, usageError(stderr, "trainer sweep: %v", err)
	}
	return sp, nil
}

// givenText is the value of flag name as the command line wrote it (the
// last time it was given), or parsed when it cannot be found there.
func givenText(args []string, name, parsed string) string {
	text := parsed
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			break
		}
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		switch {
		case strings.HasPrefix(a, name+"="):
			text = a[len(name)+1:]
		case a == name && i+1 < len(args):
			text = args[i+1]
			i++
		}
	}
	return text
}

// checkSweptName refuses a name that is not a trainer flag a trial can
// take.
func checkSweptName(name string) error {
	var tf trainFlags
	fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
	addTrainFlags(fs, &tf)
	switch {
	case fs.Lookup(name) == nil:
		return fmt.Errorf("%s is not a trainer flag (see trainer --help)", name)
	case name == "epochs":
		return errors.New("--epochs is every trial's budget (and halving's last rung); it cannot be swept")
	case slices.Contains(sweepOwn, name):
		return fmt.Errorf("--%s is the sweep's own, not a trial's; it cannot be swept", name)
	}
	return nil
}

// checkValue asks the trainer's flag set whether it accepts value for name.
func checkValue(name, value string) error {
	var tf trainFlags
	fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
	addTrainFlags(fs, &tf)
	if err := fs.Set(name, value); err != nil {
		return fmt.Errorf("invalid value %q for flag -%s: %v", value, name, err)
	}
	return nil
}

// configureTrial turns a trial's flags into its run, refusing what trainer
// refuses (the same flag set and the same checks).
func configureTrial(args []string) (trainer.Config, error) {
	var f trainFlags
	fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addTrainFlags(fs, &f)
	if err := fs.Parse(args); err != nil {
		return trainer.Config{}, err
	}
	if fs.NArg() > 0 {
		return trainer.Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var msg bytes.Buffer
	if err := f.check(&msg); err != nil {
		return trainer.Config{}, errors.New(strings.TrimPrefix(strings.TrimSpace(msg.String()), "trainer: "))
	}
	f.applyRecipe(fs)
	return f.config(), nil
}

// runTrial is `trainer sweep --trial DIR`: it trains the trial whose flags
// DIR/trial.json records, and prints its outcome as JSON for the sweep.
func runTrial(ctx context.Context, dir string, until int, shards string, stdout io.Writer) error {
	t, err := sweep.ReadTrialFile(dir)
	if err != nil {
		return err
	}
	cfg, err := configureTrial(t.Args)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, sweep.TrialFile), err)
	}
	ds, err := data.Open(shards)
	if err != nil {
		return err
	}
	if until == 0 {
		until = cfg.Epochs
	}
	out, err := sweep.TrainTrial(ctx, ds, cfg, dir, until)
	if err != nil {
		return interrupted(ctx, err, dir)
	}
	return json.NewEncoder(stdout).Encode(out)
}

// processExecutor trains each trial in a process of its own (this
// executable, `trainer sweep --trial DIR`) with GOMAXPROCS procs: parallel
// trials then share the cores without sharing a kernel pool, and a crash
// of one trial is that trial's failure, not the sweep's.
func processExecutor(shards string, procs int) (sweep.Executor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, t sweep.Trial, until int) (sweep.Outcome, error) {
		cmd := exec.CommandContext(ctx, exe, "sweep", "--trial", t.Dir, "--until", strconv.Itoa(until), "--shards", shards)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = time.Minute
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(se.String())
			if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
				msg = msg[i+1:]
			}
			msg = strings.TrimPrefix(msg, "trainer: ")
			if ee, ok := errors.AsType[*exec.ExitError](err); ok && (ee.ExitCode() < 0 || ee.ExitCode() == cli.ExitInterrupted || ee.ExitCode() == cli.ExitTerminated) {
				// Killed or signalled from outside: not the trial's failure.
				return sweep.Outcome{}, fmt.Errorf("%w: trial %d (%s): %v %s", sweep.ErrTrialInterrupted, t.ID, t.Dir, err, msg)
			}
			return sweep.Outcome{}, fmt.Errorf("%v: %s", err, msg)
		}
		var out sweep.Outcome
		if err := json.Unmarshal(so.Bytes(), &out); err != nil {
			return sweep.Outcome{}, fmt.Errorf("trial %d printed no outcome: %v", t.ID, err)
		}
		return out, nil
	}, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/kernels"
	"github.com/shardsmith/shardsmith/trainer/metrics"
	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

type trainFlags struct {
	shards, model, out, resume, optimizer, schedule string
	hidden                                          widths
	epochs, batch, patience, stepEpochs, window     int
	patch, dim, depth, heads                        int
	mlpRatio, dropPath                              float64
	lr, momentum, weightDecay, clip, gamma, warmup  float64
	labelSmoothing, beta2                           float64
	nesterov, batchNorm, asJSON, quiet              bool
	cpuprofile                                      string
	seed                                            uint64
	shardCache                                      string
	shardCacheMB                                    int
	precision                                       nn.Precision
	conv                                            nn.ConvAlgo
}

// Bounds of the numeric flags: beyond them a value is a mistake, not a
// request, and would only fail later (or allocate without end).
const (
	maxEpochs = 1_000_000
	maxBatch  = 1 << 16
	maxWidth  = 1 << 16 // one hidden layer
	maxWindow = 1 << 24 // rows held for shuffling
	maxPatch  = 1 << 10 // ViT patch side
	maxDim    = 1 << 12 // ViT token width
	maxDepth  = 1 << 8  // ViT blocks
	maxRatio  = 64      // ViT MLP width ÷ token width
)

// vitFlags are the flags that shape a Vision Transformer (--model vit).
var vitFlags = []string{"patch", "dim", "depth", "heads", "mlp-ratio", "drop-path"}

// addTrainFlags registers the flags shared by training and fine-tuning.
func addTrainFlags(fs *flag.FlagSet, f *trainFlags) {
	fs.StringVar(&f.shards, "shards", "", "dataset version, dataset directory or output root (required)")
	fs.StringVar(&f.model, "model", "mlp", "network: mlp (784-512-256-10 ReLU), cnn (PyTorch examples/mnist) or vit (Vision Transformer, timm's layout)")
	f.hidden = widths{512, 256}
	fs.Var(&f.hidden, "hidden", "MLP hidden `widths`, comma-separated")
	fs.BoolVar(&f.batchNorm, "batchnorm", false, "add batch normalization after each hidden layer")
	v := nn.DefaultViT
	cli.IntVar(fs, &f.patch, "patch", v.Patch, 1, maxPatch, "ViT patch side; 14 cuts a 28×28 digit into its 4 quadrants: without a convolution's built-in locality a ViT learns fastest from few, rich tokens (one epoch of MNIST: val 0.965 against 0.949 at 7 and 0.931 at 4, for a fraction of their CPU time); 7 or 4 give finer tokens at more cost; it must divide the image's sides")
	cli.IntVar(fs, &f.dim, "dim", v.Dim, 1, maxDim, "ViT token width (a multiple of --heads); 64 keeps the model at 0.2 M parameters, below the CNN's 1.2 M (128 did worse in one epoch at the recipe's rate)")
	cli.IntVar(fs, &f.depth, "depth", v.Depth, 1, maxDepth, "ViT transformer blocks")
	cli.IntVar(fs, &f.heads, "heads", v.Heads, 1, maxDim, "ViT attention heads (4 heads of 16 features at --dim 64)")
	cli.FloatVar(fs, &f.mlpRatio, "mlp-ratio", v.MLPRatio, cli.Range{Min: 0, MinOpen: true, Max: maxRatio},
		"ViT MLP width ÷ --dim; 2, not timm's ImageNet 4: on 28×28 inputs the MLP is most of a block's cost and digits need little of its width")
	cli.FloatVar(fs, &f.dropPath, "drop-path", v.DropPath, cli.Fraction, "ViT stochastic depth: the last block's drop rate, rising linearly from 0 at the first (attention/MLP dropout: not available)")
	cli.IntVar(fs, &f.epochs, "epochs", 3, 1, maxEpochs, "epochs to train (with --resume: total epochs)")
	cli.IntVar(fs, &f.batch, "batch-size", 128, 1, maxBatch, "examples per step (default: the model's recipe, see above: 16 for the ViT, 128 otherwise)")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "sgd, adam or adamw (default: the model's recipe, see above)")
	cli.FloatVar(fs, &f.lr, "lr", 1e-3, cli.Positive, "learning rate (default: the model's recipe, see above)")
	cli.FloatVar(fs, &f.momentum, "momentum", 0, cli.Fraction, "SGD momentum")
	cli.FloatVar(fs, &f.beta2, "beta2", 0, cli.Fraction, "Adam/AdamW second-moment decay (0: 0.999, or the model's recipe, see above)")
	fs.BoolVar(&f.nesterov, "nesterov", false, "Nesterov momentum (SGD)")
	cli.FloatVar(fs, &f.weightDecay, "weight-decay", 0, cli.NonNegative, "weight decay (L2 for sgd/adam, decoupled for adamw; never on biases, norms, cls_token, pos_embed)")
	cli.FloatVar(fs, &f.clip, "clip-norm", 0, cli.NonNegative, "clip the global gradient norm to this value (0: off)")
	fs.StringVar(&f.schedule, "schedule", "constant", "learning-rate schedule: constant, step or cosine; given, it turns the recipe off (default: the recipe's cosine)")
	cli.IntVar(fs, &f.stepEpochs, "lr-step-epochs", 0, 0, maxEpochs, "step schedule: multiply the rate by --gamma every N epochs")
	cli.FloatVar(fs, &f.gamma, "gamma", 0.1, cli.Positive, "step schedule factor")
	cli.FloatVar(fs, &f.warmup, "warmup-epochs", 0, cli.Range{Max: maxEpochs}, "linear learning-rate warm-up, in epochs (fractions allowed)")
	cli.FloatVar(fs, &f.labelSmoothing, "label-smoothing", 0, cli.Range{Max: 1, MaxOpen: true}, "train against (1-ε)·onehot + ε/classes (0: off; val and test losses stay plain)")
	cli.IntVar(fs, &f.patience, "patience", 0, 0, maxEpochs, "stop when val loss has not improved for N epochs (0: off)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for initialisation, shuffling and dropout")
	cli.IntVar(fs, &f.window, "shuffle-window", 0, 0, maxWindow, "rows held for shuffling (0: 65536, a full shuffle of MNIST); a split that fits is read once and kept for later epochs")
	fs.StringVar(&f.out, "out", "", "run directory (default runs/<model>-<time>)")
	fs.StringVar(&f.resume, "resume", "", "continue the run in this directory from its last checkpoint, as it was saved (see above)")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object with the results at the end")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar or per-epoch lines")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of training to `file` (for performance work)")
	fs.StringVar(&f.shardCache, "shard-cache", "", "local `directory` caching shards streamed from an object store (default: $XDG_CACHE_HOME/shardsmith/shards)")
	cli.IntVar(fs, &f.shardCacheMB, "shard-cache-mb", data.DefaultCacheBytes>>20, 0, maxCacheMB,
		"bound on the shard cache in MiB; least recently used shards are evicted (the shard being read and the one being fetched stay)")
	fs.Var(&f.conv, "conv", "algorithm of the 3x3 stride-1 convolutions with 4 or more input channels: direct (im2col and GEMM), or winograd (Winograd F(2x2,3x3): 2.25x fewer multiplications; float32 products only)")
	fs.Var(&f.precision, "precision", "arithmetic of the dense and conv layers' matrix products: fp32, or bf16 (int8 is for trainer eval; bfloat16 operands, float32 accumulation, weights and optimizer; on AMX tiles where the CPU has AMX-BF16, the fastest choice there, else on AVX512_BF16, with a warning where that runs slower than fp32; not with LoRA)")
}

// warnSlowBF16 warns, under the command's name, when bf16 products would
// be slower than the default fp32 ones (see slowBF16).
func warnSlowBF16(w io.Writer, cmd string, p nn.Precision) {
	if p != nn.BF16 {
		return
	}
	if why := slowBF16(kernels.BF16Impl(), kernels.Impl(), kernels.BF16RateRatio); why != "" {
		fmt.Fprintf(w, "%s: warning: %s\n", cmd, why)
	}
}

// slowBF16 says why bf16 products are slower than fp32 ones here, or "":
// they run on the pure-Go kernels when the CPU (or the kernel set chosen)
// has neither AVX512_BF16 nor AMX-BF16, and some CPUs with AVX512_BF16 run
// VDPBF16PS at a fraction of their FMA rate, which only a measurement
// (ratio, kernels.BF16RateRatio) shows. AMX tiles are always faster.
func slowBF16(impl, set string, ratio func() float64) string {
	switch impl {
	case "go":
		return fmt.Sprintf("this CPU (or kernel set %s) has no AVX512_BF16 or AMX-BF16: the bf16 products run in the pure-Go kernels, far slower than fp32", set)
	case "avx512bf16":
		if r := ratio(); r < 1 {
			return fmt.Sprintf("this CPU runs the bf16 products (VDPBF16PS) at %.2fx the fp32 products' rate (measured at start): fp32, the default, is faster here", r)
		}
	}
	return ""
}

// localFlags refuses a URL in flags that only a local path can serve (run
// directories, checkpoints, profiles), so that s3://… never becomes a local
// directory named "s3:"; a file:// URL becomes its path.
func localFlags(flags map[string]*string) error {
	for name, v := range flags {
		if *v == "" {
			continue
		}
		p, err := store.MustLocal(name, *v)
		if err != nil {
			return err
		}
		*v = p
	}
	return nil
}

// maxCacheMB bounds --shard-cache-mb (1 PiB).
const maxCacheMB = 1 << 30

// openShards opens --shards, through a shard cache of the flags' directory
// and size where it is on an object store.
func (f *trainFlags) openShards() (*data.Dataset, error) {
	if f.shardCache != "" {
		dir, err := store.MustLocal("--shard-cache", f.shardCache)
		if err != nil {
			return nil, err
		}
		f.shardCache = dir
	}
	return data.OpenCached(f.shards, f.shardCache, int64(f.shardCacheMB)<<20)
}

// widths is the --hidden list: positive integers separated by commas.
type widths []int

func (w *widths) String() string {
	if w == nil {
		return ""
	}
	s := make([]string, len(*w))
	for i, v := range *w {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (w *widths) Set(s string) error {
	var out widths
	for _, h := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(h))
		if err != nil || v < 1 || v > maxWidth {
			return fmt.Errorf("want integers from 1 to %d separated by commas", maxWidth)
		}
		out = append(out, v)
	}
	*w = out
	return nil
}

func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var f trainFlags
	addTrainFlags(fs, &f)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.shards == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "trainer: --shards is required (and no positional arguments)")
		fs.Usage()
		return errUsage
	}
	if f.precision == nn.INT8 {
		return usageError(stderr, "trainer: --precision int8 is for evaluation (trainer eval --precision int8); train in fp32 or bf16")
	}
	if err := localFlags(map[string]*string{"--out": &f.out, "--resume": &f.resume, "--cpuprofile": &f.cpuprofile}); err != nil {
		return err
	}
	if f.resume != "" {
		if err := checkResumeFlags(fs, &f, stderr); err != nil {
			return err
		}
	} else if err := f.check(stderr); err != nil {
		return err
	} else if err := f.checkArch(fs, stderr); err != nil {
		return err
	} else {
		f.applyRecipe(fs)
	}
	ds, err := f.openShards()
	if err != nil {
		return err
	}
	var s *trainer.Session
	if f.resume != "" {
		f.out = f.resume
		if s, err = trainer.Resume(filepath.Join(f.resume, trainer.CheckpointBase), ds); err != nil {
			return err
		}
		if err := checkResumeConfig(fs, &f, s.Config, s.Model.Spec(), stderr); err != nil {
			return err
		}
		// Without --epochs a resume finishes the run's own budget; with it,
		// --epochs is the new total.
		if cli.Set(fs)["epochs"] {
			if err := s.SetEpochs(f.epochs); err != nil {
				return err
			}
		}
	} else {
		if s, err = trainer.NewSession(f.config(), ds, nil, nil); err != nil {
			return err
		}
		if f.out == "" {
			f.out = filepath.Join("runs", fmt.Sprintf("%s-%s", f.model, time.Now().Format("20060102-150405")))
		}
	}
	return trainLoop(ctx, s, ds, &f, stdout, stderr)
}

// trainLoop trains s to its configured epochs, checkpointing after each,
// then evaluates on test and reports.
func trainLoop(ctx context.Context, s *trainer.Session, ds *data.Dataset, f *trainFlags, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	unlock, err := trainer.LockRun(f.out)
	if err != nil {
		return err
	}
	defer unlock()
	// A run killed between an epoch's save and its run files left them an
	// epoch behind the checkpoint; rewrite them from the resumed history
	// now, as the loop may have no epoch left to train (and rewrite them).
	if s.Epoch > 0 {
		if err := s.WriteRunFiles(f.out); err != nil {
			return err
		}
	}
	logw := stderr
	if f.quiet {
		logw = io.Discard
	}
	prec := s.Config.Precision.String()
	if s.Config.Precision == nn.BF16 {
		prec += " (" + kernels.BF16Impl() + ")"
	}
	fmt.Fprintf(logw, "trainer: %s on %s version %s (%d train, %d val, %d test), kernels %s, precision %s, conv %s, GOMAXPROCS %d, run %s\n",
		s.Config.Model, ds.Manifest.Dataset, ds.Manifest.ShortVersion(), ds.Rows(vocab.Train), ds.Rows(vocab.Val), ds.Rows(vocab.Test),
		kernels.Impl(), prec, s.Config.Conv, runtime.GOMAXPROCS(0), f.out)
	warnSlowBF16(stderr, "trainer", s.Config.Precision)
	stopProfile, err := cli.StartCPUProfile(f.cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	bar := cli.NewBar(stderr, f.quiet, 100*time.Millisecond)
	progress := func(p trainer.Progress) {
		if !bar.On() {
			return
		}
		eta := time.Duration(float64(p.Elapsed) * float64(p.Batches-p.Batch) / float64(p.Batch)).Round(time.Second)
		bar.Draw(p.Batch == p.Batches, "epoch %d/%d [%s] %d/%d  loss %.4f  %.0f img/s  ETA %v ",
			p.Epoch, p.Epochs, cli.Gauge(24, float64(p.Batch)/float64(p.Batches)), p.Batch, p.Batches, p.Loss, p.ImagesPerSec, eta)
	}
	ckpt := filepath.Join(f.out, trainer.CheckpointBase)
	for s.Epoch < s.Config.Epochs {
		st, err := s.TrainEpoch(ctx, progress)
		bar.Clear()
		stopEarly := errors.Is(err, trainer.ErrEarlyStop)
		if err != nil && !stopEarly {
			return interrupted(ctx, err, f.out)
		}
		if err := s.Save(ckpt); err != nil {
			return err
		}
		if err := s.WriteRunFiles(f.out); err != nil {
			return err
		}
		val := "no val split"
		if ds.Rows(vocab.Val) > 0 {
			val = fmt.Sprintf("val loss %.4f  val acc %.4f", st.ValLoss, st.ValAcc)
		}
		fmt.Fprintf(logw, "epoch %d/%d  train loss %.4f  %s  %.1fs  %.0f img/s\n",
			st.Epoch, s.Config.Epochs, st.TrainLoss, val, st.Seconds, st.ImagesPerSec)
		if stopEarly {
			fmt.Fprintf(logw, "trainer: %v after epoch %d\n", err, st.Epoch)
			break
		}
	}
	conf, testLoss, err := s.Evaluate(ctx, vocab.Test)
	if err != nil {
		return interrupted(ctx, err, f.out)
	}
	var secs, imgs float64
	for _, h := range s.History {
		secs += h.Seconds
		imgs += h.ImagesPerSec
	}
	n := float64(len(s.History))
	if f.asJSON {
		return json.NewEncoder(stdout).Encode(trainReport{
			TestAccuracy: conf.Accuracy(), TestLoss: testLoss, Epochs: len(s.History), SecondsPerEpoch: secs / n,
			ImagesPerSecond: imgs / n, DatasetVersion: ds.Manifest.Version, Checkpoint: ckpt + ".json",
			Kernels: kernels.Impl(), Precision: s.Config.Precision.String(), Conv: s.Config.Conv.String(), GOMAXPROCS: runtime.GOMAXPROCS(0), History: s.History, Test: conf.Report(),
		})
	}
	fmt.Fprintf(stdout, "test accuracy %.4f  loss %.4f  (%d images)\n", conf.Accuracy(), testLoss, conf.Total())
	conf.Print(stdout)
	fmt.Fprintf(stdout, "%.2f s/epoch, %.0f images/s; checkpoint %s.json\n", secs/n, imgs/n, ckpt)
	return nil
}

type trainReport struct {
	TestAccuracy    float64              `json:"test_accuracy"`
	TestLoss        float64              `json:"test_loss"`
	Epochs          int                  `json:"epochs"`
	SecondsPerEpoch float64              `json:"seconds_per_epoch"`
	ImagesPerSecond float64              `json:"images_per_second"`
	DatasetVersion  string               `json:"dataset_version"`
	Checkpoint      string               `json:"checkpoint"`
	Kernels         string               `json:"kernels"`
	Precision       string               `json:"precision"`
	Conv            string               `json:"conv"`
	GOMAXPROCS      int                  `json:"gomaxprocs"`
	History         []trainer.EpochStats `json:"history"`
	Test            metrics.Report       `json:"test"`
}

// check refuses combinations of flags that no run can use (each value on
// its own was checked as it was parsed).
func (f *trainFlags) check(stderr io.Writer) error {
	if f.schedule == "step" && f.stepEpochs < 1 {
		return usageError(stderr, "trainer: --lr-step-epochs %d: the step schedule needs --lr-step-epochs ≥ 1", f.stepEpochs)
	}
	return nil
}

// checkArch refuses, for a new run, ViT flags given for another model and
// ViT shapes that cannot be built (fine-tuning and resume take the
// architecture from the checkpoint and check these flags against it).
func (f *trainFlags) checkArch(fs *flag.FlagSet, stderr io.Writer) error {
	if f.model != "vit" {
		var given []string
		fs.Visit(func(fl *flag.Flag) {
			if slices.Contains(vitFlags, fl.Name) {
				given = append(given, flagArg(fl, fl.Value.String()))
			}
		})
		if len(given) > 0 {
			return usageError(stderr, "trainer: %s: shape a Vision Transformer and apply to --model vit only, not --model %s", strings.Join(given, " "), f.model)
		}
		return nil
	}
	var other []string
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "hidden" || fl.Name == "batchnorm" {
			other = append(other, flagArg(fl, fl.Value.String()))
		}
	})
	if len(other) > 0 {
		return usageError(stderr, "trainer: %s: the ViT has no such setting (its MLP width is --dim × --mlp-ratio, its norms are LayerNorms)", strings.Join(other, " "))
	}
	if f.dim%f.heads != 0 {
		return usageError(stderr, "trainer: --dim %d --heads %d: the token width must be a multiple of the head count", f.dim, f.heads)
	}
	if int(float64(f.dim)*f.mlpRatio) < 1 {
		return usageError(stderr, "trainer: --mlp-ratio %g: at --dim %d the MLP would have no features", f.mlpRatio, f.dim)
	}
	return nil
}

// config is the run the flags describe (every value was validated as it
// was parsed).
func (f *trainFlags) config() trainer.Config {
	var vit *nn.ViTConfig
	if f.model == "vit" {
		vit = &nn.ViTConfig{Patch: f.patch, Dim: f.dim, Depth: f.depth, Heads: f.heads, MLPRatio: f.mlpRatio, DropPath: f.dropPath}
	}
	return trainer.Config{
		Model: f.model, ViT: vit, Hidden: append([]int(nil), f.hidden...), BatchNorm: f.batchNorm, Epochs: f.epochs, BatchSize: f.batch,
		Optimizer: optim.Config{Algorithm: optim.Algorithm(f.optimizer), LR: f.lr, Momentum: f.momentum, Nesterov: f.nesterov,
			Beta2: f.beta2, WeightDecay: f.weightDecay, ClipNorm: f.clip},
		Schedule: f.schedule, StepEpochs: f.stepEpochs, Gamma: f.gamma, WarmupEpochs: f.warmup,
		Patience: f.patience, Seed: f.seed, ShuffleWindow: f.window,
		LabelSmoothing: f.labelSmoothing, DecayExempt: true, Precision: f.precision, Conv: f.conv,
	}
}

// recipe is a model's default training recipe: what a run gets when it
// names no schedule. Measured on MNIST (BENCHMARKS.md "Recipes"): for the
// MLP, two epochs of Adam at 2e-3 with cosine decay reach 0.980 where the
// old constant 1e-3 reached 0.971, and one CNN epoch at 2e-3 with cosine
// reaches val 0.9835 against 0.9802 (constant 1e-3) and 0.9782 (cosine
// 1e-3); the ViT takes the usual transformer recipe (AdamW, decoupled decay
// 0.05 off norms, biases and embeddings, gradient clipping at 1, a warm-up
// of 5 % of the run before the cosine) at batch 16, chosen on val by
// `trainer sweep` over lr 1e-3/2e-3/4e-3 × batch 16/32 (BENCHMARKS.md
// "Sweep"): one epoch reaches val 0.928 where batch 128 reached 0.683 (the
// ViT of 4×4 patches then); with today's default ViT of 14×14 patches, val
// 0.965, and β2 0.99, lr 2e-3 or batch 8 did no better ("The ViT's shape").
type recipe struct {
	optimizer      string
	lr, decay      float64
	beta2          float64 // Adam's second-moment decay; 0: the optimizer's 0.999
	clip           float64
	warmupFraction float64 // of --epochs
	batch          int     // examples per step; 0: the --batch-size flag's own default
}

var recipes = map[string]recipe{
	"mlp": {optimizer: "adam", lr: 2e-3},
	"cnn": {optimizer: "adam", lr: 2e-3},
	"vit": {optimizer: "adamw", lr: 1e-3, decay: 0.05, clip: 1, warmupFraction: 0.05, batch: 16},
}

// applyRecipe fills, for a new run that names no --schedule, the flags the
// command line left at their defaults from the model's recipe: schedule
// cosine, the warm-up, and, unless --optimizer or --lr is given, the
// recipe's optimizer, rate, weight decay and clipping; the recipe's batch
// size unless --batch-size is given (whatever the optimizer). --schedule given
// (constant, step or cosine) keeps every other flag's own default, the
// behaviour before recipes.
func (f *trainFlags) applyRecipe(fs *flag.FlagSet) {
	given := cli.Set(fs)
	r, ok := recipes[f.model]
	if given["schedule"] || !ok {
		return
	}
	f.schedule = "cosine"
	if r.batch > 0 && !given["batch-size"] {
		f.batch = r.batch
	}
	if !given["warmup-epochs"] {
		f.warmup = r.warmupFraction * float64(f.epochs)
	}
	if given["optimizer"] || given["lr"] {
		return
	}
	f.optimizer, f.lr = r.optimizer, r.lr
	if !given["weight-decay"] {
		f.weightDecay = r.decay
	}
	if !given["clip-norm"] {
		f.clip = r.clip
	}
	if !given["beta2"] {
		f.beta2 = r.beta2
	}
}

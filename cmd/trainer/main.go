// Command trainer trains and evaluates networks on dataset versions made by
// prep. Run `trainer --help` for the flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/kernels"
	"github.com/shardsmith/shardsmith/trainer/metrics"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

const usage = `trainer trains a network on the shards of a dataset version made by prep.

Usage:
  trainer --shards DIR [flags]                 train from scratch (or --resume RUN to continue)
  trainer finetune --from RUN --shards DIR     fine-tune a trained model on new data (see trainer finetune --help)
  trainer eval --checkpoint RUN --shards DIR   evaluate a checkpoint on a split
  trainer help

--shards takes a version directory (out/mnist/21dda399aae9), a dataset
directory (out/mnist: its latest version) or an output root holding one
dataset. Each epoch prints train loss, val loss and val accuracy; the end
prints test accuracy, per-class precision/recall/F1 and the confusion matrix.
The run directory (--out) gets metrics.jsonl, curves.png and a checkpoint
(checkpoint.json and the weights file it names, checkpoint.gN.safetensors —
loadable by PyTorch's safetensors), saved after every epoch as a new
generation so that a failed save keeps the last one. One trainer at a time
writes into a run directory.

Examples:
  trainer --shards out/ --model cnn --epochs 3
  trainer --shards out/mnist/latest --model mlp --epochs 10 --optimizer adam --lr 1e-3 --out runs/mlp
  trainer --shards out/mnist/latest --resume runs/mlp --epochs 15
  trainer eval --checkpoint runs/mlp --shards out/mnist/latest --json

The network's hot loops run on SIMD kernels chosen from the CPU's features
(AVX-512, AVX2+FMA, or pure Go); SHARDSMITH_KERNELS=go forces the pure-Go path.
Same seed, same shards, same GOMAXPROCS: identical weights.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var got atomic.Value // the signal that stopped us, for the exit status
	go func() {
		if s, ok := <-sigs; ok {
			got.Store(s)
			cancel()
		}
	}()
	var err error
	switch {
	case len(args) > 0 && args[0] == "eval":
		err = cmdEval(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "finetune":
		err = cmdFinetune(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "help":
		err = cmdTrain(ctx, []string{"--help"}, stdout, stderr)
	default:
		err = cmdTrain(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "trainer: interrupted; "+interruptNote(err))
		if got.Load() == syscall.SIGTERM {
			return 143
		}
		return 130
	default:
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return 1
	}
}

var errUsage = errors.New("usage")

// parseFlags parses args; --help is flag.ErrHelp (exit 0), any other
// mistake errUsage (exit 2; the flag package has printed what was wrong).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

type trainFlags struct {
	shards, model, hidden, out, resume, optimizer, schedule string
	epochs, batch, patience, stepEpochs, window             int
	lr, momentum, weightDecay, clip, gamma, warmup          float64
	nesterov, batchNorm, asJSON, quiet                      bool
	cpuprofile                                              string
	seed                                                    uint64
}

// addTrainFlags registers the flags shared by training and fine-tuning.
func addTrainFlags(fs *flag.FlagSet, f *trainFlags) {
	fs.StringVar(&f.shards, "shards", "", "dataset version, dataset directory or output root (required)")
	fs.StringVar(&f.model, "model", "mlp", "network: mlp (784-512-256-10 ReLU) or cnn (PyTorch examples/mnist)")
	fs.StringVar(&f.hidden, "hidden", "512,256", "MLP hidden widths, comma-separated")
	fs.BoolVar(&f.batchNorm, "batchnorm", false, "add batch normalization after each hidden layer")
	fs.IntVar(&f.epochs, "epochs", 3, "epochs to train (with --resume: total epochs)")
	fs.IntVar(&f.batch, "batch-size", 128, "examples per step")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "sgd, adam or adamw")
	fs.Float64Var(&f.lr, "lr", 1e-3, "learning rate")
	fs.Float64Var(&f.momentum, "momentum", 0, "SGD momentum")
	fs.BoolVar(&f.nesterov, "nesterov", false, "Nesterov momentum (SGD)")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0, "weight decay (L2 for sgd/adam, decoupled for adamw)")
	fs.Float64Var(&f.clip, "clip-norm", 0, "clip the global gradient norm to this value (0: off)")
	fs.StringVar(&f.schedule, "schedule", "constant", "learning-rate schedule: constant, step or cosine")
	fs.IntVar(&f.stepEpochs, "lr-step-epochs", 0, "step schedule: multiply the rate by --gamma every N epochs")
	fs.Float64Var(&f.gamma, "gamma", 0.1, "step schedule factor")
	fs.Float64Var(&f.warmup, "warmup-epochs", 0, "linear learning-rate warm-up, in epochs (fractions allowed)")
	fs.IntVar(&f.patience, "patience", 0, "stop when val loss has not improved for N epochs (0: off)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for initialisation, shuffling and dropout")
	fs.IntVar(&f.window, "shuffle-window", 0, "rows held for shuffling (0: 65536, a full shuffle of MNIST)")
	fs.StringVar(&f.out, "out", "", "run directory (default runs/<model>-<time>)")
	fs.StringVar(&f.resume, "resume", "", "continue the run in this directory from its last checkpoint")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object with the results at the end")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar or per-epoch lines")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of training to `file` (for performance work)")
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
	ds, err := data.Open(f.shards)
	if err != nil {
		return err
	}
	var s *trainer.Session
	if f.resume != "" {
		f.out = f.resume
		if s, err = trainer.Resume(filepath.Join(f.resume, trainer.CheckpointBase), ds); err != nil {
			return err
		}
		s.Config.Epochs = f.epochs
	} else {
		cfg, err := f.config()
		if err != nil {
			return err
		}
		if s, err = trainer.NewSession(cfg, ds, nil, nil); err != nil {
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
	logw := stderr
	if f.quiet {
		logw = io.Discard
	}
	fmt.Fprintf(logw, "trainer: %s on %s version %s (%d train, %d val, %d test), kernels %s, GOMAXPROCS %d, run %s\n",
		s.Config.Model, ds.Manifest.Dataset, ds.Manifest.ShortVersion(), ds.Rows("train"), ds.Rows("val"), ds.Rows("test"),
		kernels.Impl(), runtime.GOMAXPROCS(0), f.out)
	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	bar := newBar(stderr, f.quiet)
	ckpt := filepath.Join(f.out, trainer.CheckpointBase)
	for s.Epoch < s.Config.Epochs {
		st, err := s.TrainEpoch(ctx, bar.update)
		bar.clear()
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
		if ds.Rows("val") > 0 {
			val = fmt.Sprintf("val loss %.4f  val acc %.4f", st.ValLoss, st.ValAcc)
		}
		fmt.Fprintf(logw, "epoch %d/%d  train loss %.4f  %s  %.1fs  %.0f img/s\n",
			st.Epoch, s.Config.Epochs, st.TrainLoss, val, st.Seconds, st.ImagesPerSec)
		if stopEarly {
			fmt.Fprintf(logw, "trainer: %v after epoch %d\n", err, st.Epoch)
			break
		}
	}
	conf, testLoss, err := s.Evaluate(ctx, "test")
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
			Kernels: kernels.Impl(), GOMAXPROCS: runtime.GOMAXPROCS(0), History: s.History, Test: conf.Report(),
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
	GOMAXPROCS      int                  `json:"gomaxprocs"`
	History         []trainer.EpochStats `json:"history"`
	Test            metrics.Report       `json:"test"`
}

func (f *trainFlags) config() (trainer.Config, error) {
	var hidden []int
	for _, h := range strings.Split(f.hidden, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(h))
		if err != nil || v < 1 {
			return trainer.Config{}, fmt.Errorf("--hidden %q: want positive integers separated by commas", f.hidden)
		}
		hidden = append(hidden, v)
	}
	return trainer.Config{
		Model: f.model, Hidden: hidden, BatchNorm: f.batchNorm, Epochs: f.epochs, BatchSize: f.batch,
		Optimizer: optim.Config{Algorithm: optim.Algorithm(f.optimizer), LR: f.lr, Momentum: f.momentum, Nesterov: f.nesterov,
			WeightDecay: f.weightDecay, ClipNorm: f.clip},
		Schedule: f.schedule, StepEpochs: f.stepEpochs, Gamma: f.gamma, WarmupEpochs: f.warmup,
		Patience: f.patience, Seed: f.seed, ShuffleWindow: f.window,
	}, nil
}

const evalUsage = `Usage: trainer eval --checkpoint RUN --shards DIR [--split test] [--json]

Evaluates the checkpoint in RUN (a run directory or a checkpoint .json) on a
split: accuracy, per-class precision/recall/F1 and the confusion matrix.
Refuses shards whose image shape or classes do not match the checkpoint.

Flags:
`

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, evalUsage); fs.PrintDefaults() }
	ck := fs.String("checkpoint", "", "run directory or checkpoint .json (required)")
	shards := fs.String("shards", "", "dataset version (required)")
	split := fs.String("split", "test", "split to evaluate")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ck == "" || *shards == "" {
		fs.Usage()
		return errUsage
	}
	p := trainer.CheckpointPath(*ck)
	c, err := checkpoint.Load(p)
	if err != nil {
		return err
	}
	model, err := c.Restore()
	if err != nil {
		return err
	}
	ds, err := data.Open(*shards)
	if err != nil {
		return err
	}
	if n := c.Meta.Normalization; n != nil && len(n.Mean) == 1 {
		dn := ds.Manifest.Normalize
		if abs(n.Mean[0]-dn.Mean) > 1e-6 || abs(n.Std[0]-dn.Std) > 1e-6 {
			return fmt.Errorf("checkpoint was trained with mean/std %.6f/%.6f but the shards use %.6f/%.6f",
				n.Mean[0], n.Std[0], dn.Mean, dn.Std)
		}
	}
	conf, loss, err := trainer.Evaluate(ctx, model, ds, *split, 256)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Split string  `json:"split"`
			Loss  float64 `json:"loss"`
			metrics.Report
		}{*split, loss, conf.Report()})
	}
	fmt.Fprintf(stdout, "%s accuracy %.4f  loss %.4f  (%d images)\n", *split, conf.Accuracy(), loss, conf.Total())
	conf.Print(stdout)
	return nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// bar draws a one-line progress bar on a terminal, nothing otherwise.
type bar struct {
	w    io.Writer
	on   bool
	last time.Time
}

func newBar(w io.Writer, quiet bool) *bar {
	on := false
	if f, ok := w.(*os.File); ok && !quiet {
		on = term.IsTerminal(int(f.Fd()))
	}
	return &bar{w: w, on: on}
}

func (b *bar) update(p trainer.Progress) {
	if !b.on || (time.Since(b.last) < 100*time.Millisecond && p.Batch != p.Batches) {
		return
	}
	b.last = time.Now()
	const width = 24
	fill := width * p.Batch / p.Batches
	eta := time.Duration(float64(p.Elapsed) * float64(p.Batches-p.Batch) / float64(p.Batch)).Round(time.Second)
	fmt.Fprintf(b.w, "\repoch %d/%d [%s%s] %d/%d  loss %.4f  %.0f img/s  ETA %v ",
		p.Epoch, p.Epochs, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.Batch, p.Batches, p.Loss, p.ImagesPerSec, eta)
}

func (b *bar) clear() {
	if b.on {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

const finetuneUsage = `Usage: trainer finetune --from RUN --shards DIR [flags]

Fine-tunes the model of RUN's checkpoint on new shards. When the shards'
classes differ from the checkpoint's, the head (last dense layer) is replaced
by a fresh one for the new classes, and trainer says so. Refuses shards whose
image shape differs, or whose normalization differs (unless --renormalize).

  --freeze features        train only the head
  --freeze conv1,conv2     freeze these layers (names or prefixes)
  --lr-head 1e-3 --lr-body 1e-4   per-group learning rates
  --lora-rank 8 --lora-alpha 16   LoRA: freeze the whole base model and train
                           rank-8 adapters y += (16/8)·x·Aᵀ·Bᵀ on every dense
                           layer but the head (or on --lora-layers), plus the
                           head in full; --lr-body sets the adapters' rate
  --merge                  after training, fold the adapters into the weights
                           (W += alpha/r·B·A) and make the run's checkpoint a
                           plain one

A LoRA run's checkpoint keeps the adapters apart from the base weights, in
checkpoint.lora.safetensors (PEFT tensor names, rank and alpha in its
metadata); eval and --resume load it like any checkpoint. --merge replaces
the checkpoint by the merged plain model and keeps the adapter file.

Example:
  trainer --shards out/mnist-0to4 --model cnn --epochs 3 --out runs/base
  trainer finetune --from runs/base --shards out/mnist-5to9-fewshot --freeze features --epochs 20 --out runs/ft
  trainer finetune --from runs/base --shards out/mnist-5to9-fewshot --lora-rank 8 --lora-alpha 16 --merge --out runs/lora
  trainer eval --checkpoint runs/ft --shards out/mnist-5to9-fewshot

Flags:
`

func cmdFinetune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer finetune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, finetuneUsage); fs.PrintDefaults() }
	var f trainFlags
	addTrainFlags(fs, &f)
	from := fs.String("from", "", "run directory (or checkpoint .json) of the pretrained model (required)")
	freeze := fs.String("freeze", "", "comma-separated layer names/prefixes to freeze, or features (all but the head)")
	lrHead := fs.Float64("lr-head", 0, "learning rate of the head (default --lr)")
	lrBody := fs.Float64("lr-body", 0, "learning rate of the other layers, or of the LoRA adapters (default --lr)")
	renorm := fs.Bool("renormalize", false, "accept shards normalized differently from the checkpoint")
	loraRank := fs.Int("lora-rank", 0, "train LoRA adapters of this rank on the dense layers, the base frozen (0: off)")
	loraAlpha := fs.Float64("lora-alpha", 0, "LoRA scaling numerator: adapters are scaled by alpha/rank (default: the rank)")
	loraLayers := fs.String("lora-layers", "", "comma-separated dense layers to adapt (default: every dense layer but the head)")
	merge := fs.Bool("merge", false, "after training, fold the LoRA adapters into a plain checkpoint (keeps checkpoint.lora.safetensors)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || f.shards == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "trainer finetune: --from and --shards are required")
		fs.Usage()
		return errUsage
	}
	if *loraRank < 0 || *loraRank == 0 && (*loraAlpha != 0 || *loraLayers != "" || *merge) {
		fmt.Fprintln(stderr, "trainer finetune: --lora-alpha, --lora-layers and --merge need --lora-rank ≥ 1")
		return errUsage
	}
	var layers []string
	if *loraLayers != "" {
		for _, l := range strings.Split(*loraLayers, ",") {
			layers = append(layers, strings.TrimSpace(l))
		}
	}
	ds, err := data.Open(f.shards)
	if err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	p := trainer.CheckpointPath(*from)
	logf := func(format string, a ...any) {
		if !f.quiet {
			fmt.Fprintf(stderr, "trainer: "+format+"\n", a...)
		}
	}
	s, err := trainer.Finetune(p, ds, cfg, trainer.FinetuneOptions{Freeze: strings.Split(*freeze, ","), LRHead: *lrHead, LRBody: *lrBody,
		Renormalize: *renorm, LoRARank: *loraRank, LoRAAlpha: *loraAlpha, LoRALayers: layers}, logf)
	if err != nil {
		return err
	}
	if f.out == "" {
		f.out = filepath.Join("runs", "finetune-"+time.Now().Format("20060102-150405"))
	}
	if err := trainLoop(ctx, s, ds, &f, stdout, stderr); err != nil || !*merge {
		return err
	}
	ckpt := filepath.Join(f.out, trainer.CheckpointBase)
	merged, err := trainer.MergeLoRA(ckpt)
	if err != nil {
		return err
	}
	logf("merged the LoRA adapters of %s into %s.json, a plain checkpoint; the adapters stay in %s",
		strings.Join(merged, ", "), ckpt, checkpoint.LoRAPath(ckpt))
	return nil
}

// Command trainer trains and evaluates networks on dataset versions made by
// prep. Run `trainer --help` for the flags.
//
// Each subcommand lives in its own file: train.go (the default: train from
// scratch or --resume), finetune.go, eval.go; resume.go holds what a resume
// refuses. Signals, exit statuses, the progress line and profiling come from
// internal/cli, shared with prep.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shardsmith/shardsmith/internal/cli"
)

const usage = `trainer trains a network on the shards of a dataset version made by prep.

Usage:
  trainer --shards DIR [flags]                 train from scratch (or --resume RUN to continue)
  trainer finetune --from RUN --shards DIR     fine-tune a trained model on new data (see trainer finetune --help)
  trainer eval --checkpoint RUN --shards DIR   evaluate a checkpoint on a split
  trainer sweep --shards DIR --grid 'lr=1e-3,2e-3' --out SWEEP   search hyper-parameters, chosen on val (see trainer sweep --help)
  trainer order --shards DIR [--seed S]        print the row order of a training epoch
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

Defaults are a recipe per model, the best we measured for short runs (see
BENCHMARKS.md): cosine decay of the rate over the run, Adam at 2e-3 for the
MLP and the CNN at batch 128; for the ViT AdamW at 1e-3 with weight decay
0.05 (never on biases, norms, cls_token or pos_embed), --clip-norm 1, a
linear warm-up over the first 5 % of the epochs and batch 16 (chosen on val
by trainer sweep: batch 128 only reached 0.68 in one epoch). With the default
ViT (--patch 14: four quadrant tokens, see --patch) one epoch of MNIST
reaches val 0.965, test 0.966 (three seeds); with --patch 4, 0.93.
For long ViT runs take 16 tokens and regularize: --patch 7 --drop-path 0.1
--label-smoothing 0.1 --epochs 20 on prep's augmented MNIST reached test
0.9940 (three seeds; the 14x14 default 0.992).
Flags given override their part of it (--optimizer or --lr replace the
recipe's optimizer settings, --batch-size its batch size), and --schedule
constant turns it off: a constant rate of 1e-3 with Adam at batch 128, as
before recipes. --label-smoothing 0.1 is optional.

--resume RUN continues RUN exactly as it was saved: same model, widths, batch
size, optimizer, schedule and seed. Only --epochs (the new total), --shards
(the same version), --json, --quiet and --cpuprofile apply; any other flag
whose value differs from the checkpoint's is refused (start a new run with
--out instead). Without --epochs it trains to the run's own total.

Examples:
  trainer --shards out/ --model cnn --epochs 3
  trainer --shards out/mnist/latest --model mlp --epochs 10 --optimizer adam --lr 1e-3 --out runs/mlp
  trainer --shards out/mnist/latest --resume runs/mlp --epochs 15
  trainer eval --checkpoint runs/mlp --shards out/mnist/latest --json

The network's hot loops run on SIMD kernels chosen from the CPU's features
(AVX-512, AVX2+FMA, or pure Go); SHARDSMITH_KERNELS=go forces the pure-Go path.
Same seed, same shards, same GOMAXPROCS: identical weights.

On a CPU with AMX-BF16 (the first log line then says "precision bf16
(amxbf16)"), --precision bf16 is the fast choice: the products run on AMX
tiles, a CNN epoch in about two thirds of fp32's time at the same accuracy
(3 epochs: test 0.9901 and 0.9898 against fp32's 0.9899), a ViT epoch in
about nine tenths (the default recipe: 0.9763 against 0.9773, three seeds).
With AVX512_BF16 but no AMX ("precision bf16 (avx512bf16)", e.g. AMD Zen 4)
it is the faster choice too: VDPBF16PS products, a CNN epoch in 0.72–0.86×
fp32's time and an MLP epoch in 0.7–0.8× (two runs; 1 epoch: test 0.9855
and 0.9706 against fp32's 0.9857 and 0.9715).
fp32 stays the default: its bits are the same on every AVX-512 CPU.
For inference, trainer eval --precision int8 runs an MLP on a uint8
version's raw bytes through int8 weights (VPDPBUSD on AVX512_VNNI): the
fastest pass, at fp32's accuracy on MNIST (see trainer eval --help).

Flags:
`

// subcommands maps each subcommand to its implementation; "" is training,
// the default.
var subcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"":         cmdTrain,
	"eval":     cmdEval,
	"finetune": cmdFinetune,
	"sweep":    cmdSweep,
	"order":    cmdOrder,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop, sig := cli.SignalContext()
	defer stop()
	cmd := subcommands[""]
	if len(args) > 0 {
		switch c, ok := subcommands[args[0]]; {
		case ok && args[0] != "":
			cmd, args = c, args[1:]
		case args[0] == "help":
			args = []string{"--help"}
		}
	}
	err := cmd(ctx, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return cli.ExitOK
	case errors.Is(err, errUsage):
		return cli.ExitUsage
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "trainer: interrupted; "+interruptNote(err))
		return cli.InterruptStatus(sig())
	default:
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return cli.ExitFailure
	}
}

var errUsage = cli.ErrUsage

// parseFlags parses args; --help is flag.ErrHelp (exit 0), any other
// mistake errUsage (exit 2; the flag package has printed what was wrong).
func parseFlags(fs *flag.FlagSet, args []string) error { return cli.Parse(fs, args) }

// usageError prints a command-line mistake and returns errUsage (exit 2).
func usageError(stderr io.Writer, format string, a ...any) error {
	fmt.Fprintf(stderr, format+"\n", a...)
	return errUsage
}

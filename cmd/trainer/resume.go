package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/nn"
)

// A resumed run continues exactly as it was saved: its checkpoint records the
// whole training configuration, and the resumed epochs reproduce, bit for bit,
// those of a run that was never interrupted. A flag that asks for something
// else cannot be honoured, so it is refused rather than silently ignored.

// resumeHonours are the flags that apply to a resumed run.
var resumeHonours = []string{"shards", "resume", "epochs", "json", "quiet", "cpuprofile", "shard-cache", "shard-cache-mb"}

// archFlags are the flags that choose the architecture.
var archFlags = append([]string{"model", "hidden", "batchnorm"}, vitFlags...)

// savedValue returns, for a flag that a checkpoint records, the value the
// saved run used in the flag's own syntax, and whether the flag is recorded.
func savedValue(name string, c trainer.Config, arch nn.Spec) (string, bool) {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	switch name {
	case "model":
		return c.Model, true
	case "hidden":
		return hiddenOf(arch), true
	case "batchnorm":
		return strconv.FormatBool(slices.ContainsFunc(arch.Layers, func(l nn.LayerSpec) bool { return strings.HasPrefix(l.Type, "batchnorm") })), true
	case "patch", "dim", "depth", "heads", "mlp-ratio", "drop-path":
		return vitValue(name, c, arch), true
	case "batch-size":
		return strconv.Itoa(c.BatchSize), true
	case "optimizer":
		return string(c.Optimizer.Algorithm), true
	case "lr":
		return f(c.Optimizer.LR), true
	case "momentum":
		return f(c.Optimizer.Momentum), true
	case "nesterov":
		return strconv.FormatBool(c.Optimizer.Nesterov), true
	case "weight-decay":
		return f(c.Optimizer.WeightDecay), true
	case "clip-norm":
		return f(c.Optimizer.ClipNorm), true
	case "beta2":
		return f(c.Optimizer.Beta2), true
	case "schedule":
		if c.Schedule == "" {
			return "constant", true
		}
		return c.Schedule, true
	case "lr-step-epochs":
		return strconv.Itoa(c.StepEpochs), true
	case "gamma":
		return f(c.Gamma), true
	case "warmup-epochs":
		return f(c.WarmupEpochs), true
	case "label-smoothing":
		return f(c.LabelSmoothing), true
	case "patience":
		return strconv.Itoa(c.Patience), true
	case "seed":
		return strconv.FormatUint(c.Seed, 10), true
	case "shuffle-window":
		return strconv.Itoa(c.ShuffleWindow), true
	case "precision":
		return c.Precision.String(), true
	case "conv":
		return c.Conv.String(), true
	}
	return "", false
}

// vitValue is a ViT flag's value as the run's configuration records it
// (the architecture's, where only that is known: the MLP ratio then is its
// width ÷ --dim), or, for another model, a note that it has none.
func vitValue(name string, c trainer.Config, arch nn.Spec) string {
	v, ok := nn.ViTConfigOf(arch)
	if !ok {
		return "(none: model " + arch.Name + ")"
	}
	if c.ViT != nil {
		v = *c.ViT
	}
	switch name {
	case "patch":
		return strconv.Itoa(v.Patch)
	case "dim":
		return strconv.Itoa(v.Dim)
	case "depth":
		return strconv.Itoa(v.Depth)
	case "heads":
		return strconv.Itoa(v.Heads)
	case "mlp-ratio":
		return strconv.FormatFloat(v.MLPRatio, 'g', -1, 64)
	}
	return strconv.FormatFloat(v.DropPath, 'g', -1, 64)
}

// flagArg writes flag fl with value v as a command line takes it: --name v,
// or --name=v for a boolean flag (which takes no separate value).
func flagArg(fl *flag.Flag, v string) string {
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "--" + fl.Name + "=" + v
	}
	return "--" + fl.Name + " " + v
}

// hiddenOf is the hidden widths of an architecture as --hidden writes them:
// the outputs of its dense layers but the last.
func hiddenOf(arch nn.Spec) string {
	var w []string
	for _, l := range arch.Layers {
		if l.Type == "dense" {
			w = append(w, strconv.Itoa(l.Out))
		}
	}
	if len(w) > 0 {
		w = w[:len(w)-1]
	}
	return strings.Join(w, ",")
}

// checkResumeFlags refuses, before anything is opened, the flags that a
// resume never honours whatever the checkpoint holds: --out other than the
// run being resumed (the run continues in its own directory).
func checkResumeFlags(fs *flag.FlagSet, f *trainFlags, stderr io.Writer) error {
	if f.out != "" && filepath.Clean(f.out) != filepath.Clean(f.resume) {
		return usageError(stderr, "trainer: --out %s: --resume %s continues that run in its own directory; to write a new run elsewhere, start one: trainer --shards %s [flags] --out %s\n%s",
			f.out, f.resume, f.shards, f.out, resumeHelp)
	}
	return nil
}

// checkResumeConfig refuses every given flag whose value differs from what
// the checkpoint of the resumed run recorded.
func checkResumeConfig(fs *flag.FlagSet, f *trainFlags, saved trainer.Config, arch nn.Spec, stderr io.Writer) error {
	var bad, newRun []string
	fs.Visit(func(fl *flag.Flag) {
		if slices.Contains(resumeHonours, fl.Name) {
			return
		}
		was, ok := savedValue(fl.Name, saved, arch)
		if !ok || was == fl.Value.String() {
			return
		}
		bad = append(bad, fmt.Sprintf("trainer: %s: the checkpoint in %s was trained with %s", flagArg(fl, fl.Value.String()), f.resume, flagArg(fl, was)))
		newRun = append(newRun, flagArg(fl, fl.Value.String()))
	})
	if len(bad) == 0 {
		return nil
	}
	return usageError(stderr, "%s\n--resume continues the saved run unchanged; to train with %s, start a new run: trainer --shards %s %s --out runs/NEW\n%s",
		strings.Join(bad, "\n"), strings.Join(newRun, " "), f.shards, strings.Join(newRun, " "), resumeHelp)
}

const resumeHelp = "With --resume only --epochs (the new total), --shards (the same version), --json, --quiet and --cpuprofile apply."

// checkFinetuneFlags refuses --resume: fine-tuning starts a new run from
// --from, and a fine-tuning run continues like any other run.
func checkFinetuneFlags(fs *flag.FlagSet, f *trainFlags, stderr io.Writer) error {
	if f.resume != "" {
		return usageError(stderr, "trainer finetune: --resume %s: fine-tuning starts a new run from --from; continue a fine-tuning run with: trainer --shards %s --resume %s",
			f.resume, f.shards, f.resume)
	}
	return nil
}

// checkFinetuneArch refuses --model, --hidden and --batchnorm when they ask
// for another architecture than the --from checkpoint's, which fine-tuning
// keeps.
func checkFinetuneArch(fs *flag.FlagSet, f *trainFlags, from string, arch nn.Spec, stderr io.Writer) error {
	saved := trainer.Config{Model: arch.Name}
	var bad, newRun []string
	fs.Visit(func(fl *flag.Flag) {
		if !slices.Contains(archFlags, fl.Name) {
			return
		}
		if was, _ := savedValue(fl.Name, saved, arch); was != fl.Value.String() {
			bad = append(bad, fmt.Sprintf("trainer finetune: %s: the --from checkpoint %s holds %s", flagArg(fl, fl.Value.String()), from, flagArg(fl, was)))
			newRun = append(newRun, flagArg(fl, fl.Value.String()))
		}
	})
	if len(bad) == 0 {
		return nil
	}
	return usageError(stderr, "%s\nfine-tuning keeps the architecture of --from (%s); to train %s, start a new run: trainer --shards %s %s --out runs/NEW",
		strings.Join(bad, "\n"), archSummary(arch), strings.Join(newRun, " "), f.shards, strings.Join(newRun, " "))
}

// archSummary names a model and the flag values that shaped it.
func archSummary(arch nn.Spec) string {
	if v, ok := nn.ViTConfigOf(arch); ok {
		return fmt.Sprintf("%s, patch %d, dim %d, depth %d, heads %d, mlp-ratio %g", arch.Name, v.Patch, v.Dim, v.Depth, v.Heads, v.MLPRatio)
	}
	return fmt.Sprintf("%s, hidden %s", arch.Name, hiddenOf(arch))
}

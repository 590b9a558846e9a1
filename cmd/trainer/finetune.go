package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
)

const finetuneUsage = `Usage: trainer finetune --from RUN --shards DIR [flags]

Fine-tunes the model of RUN's checkpoint on new shards. When the shards'
classes differ from the checkpoint's (or with --new-head), the head (last
dense layer) is replaced by a fresh one for the new classes, and trainer
says so. Refuses shards whose image shape differs, or whose normalization
differs (unless --renormalize) while they are built from the checkpoint's
source files. Shards of another dataset (no source file in common: a model
pretrained on MNIST learning Fashion-MNIST) are trained on with their own
normalization and classes, and trainer says so; the run's checkpoint
records them, so eval takes the new dataset's shards.

  --freeze features        train only the head
  --freeze conv1,conv2     freeze these layers (names or prefixes)
  --lr-head 1e-3 --lr-body 1e-4   per-group learning rates
  --lora-rank 8 --lora-alpha 16   LoRA: freeze the whole base model and train
                           rank-8 adapters y += (16/8)·x·Aᵀ·Bᵀ on every dense
                           layer but the head (or on --lora-layers), plus the
                           head in full; --lr-body sets the adapters' rate.
                           On a ViT the default targets are every block's
                           attn.qkv and attn.proj; --lora-layers
                           attn.qkv,attn.proj,mlp.fc1,mlp.fc2 adds the MLP
                           (a sublayer suffix names it in every block, as
                           PEFT's target_modules do; blocks.0.mlp.fc1 one)
  --merge                  after training, fold the adapters into the weights
                           (W += alpha/r·B·A) and make the run's checkpoint a
                           plain one

A LoRA run's checkpoint keeps the adapters apart from the base weights, in
checkpoint.lora.safetensors (PEFT tensor names, rank and alpha in its
metadata); eval and --resume load it like any checkpoint. The run also
writes the adapters in PEFT's layout, adapter_config.json and
adapter_model.safetensors (keys base_model.model.<module>.lora_A.weight, the
head as modules_to_save), which peft.PeftModel.from_pretrained loads onto
the timm model. --merge replaces the checkpoint by the merged plain model
and keeps the adapter files.

Fine-tuning takes no recipe (see trainer --help): the flags' own defaults,
a constant rate of 1e-3 with Adam, unless --schedule and the rest say
otherwise; few-shot runs are a handful of steps.

The architecture comes from --from: --model, --hidden and --batchnorm are
refused when they ask for another one, and so are the ViT flags (--patch,
--dim, --depth, --heads, --mlp-ratio, --drop-path). --resume does not apply:
continue a fine-tuning run with trainer --shards DIR --resume RUN.

Example:
  trainer --shards out/mnist-0to4 --model cnn --epochs 3 --out runs/base
  trainer finetune --from runs/base --shards out/mnist-5to9-fewshot --freeze features --epochs 20 --out runs/ft
  trainer finetune --from runs/base --shards out/mnist-5to9-fewshot --lora-rank 8 --lora-alpha 16 --merge --out runs/lora
  trainer eval --checkpoint runs/ft --shards out/mnist-5to9-fewshot

Flags:
`

// maxRank bounds --lora-rank: an adapter wider than any layer it adapts is a
// mistake.
const maxRank = 1 << 12

func cmdFinetune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer finetune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, finetuneUsage); fs.PrintDefaults() }
	var f trainFlags
	addTrainFlags(fs, &f)
	from := fs.String("from", "", "run directory (or checkpoint .json) of the pretrained model (required)")
	freeze := fs.String("freeze", "", "comma-separated layer names/prefixes to freeze, or features (all but the head)")
	lrHead := cli.Float(fs, "lr-head", 0, cli.NonNegative, "learning rate of the head (0: --lr)")
	lrBody := cli.Float(fs, "lr-body", 0, cli.NonNegative, "learning rate of the other layers, or of the LoRA adapters (0: --lr)")
	renorm := fs.Bool("renormalize", false, "accept shards of the checkpoint's data normalized differently from the checkpoint")
	newHead := fs.Bool("new-head", false, "re-initialise the head even when the shards' classes are the checkpoint's")
	loraRank := fs.Int("lora-rank", 0, fmt.Sprintf("train LoRA adapters of this rank (at most %d) on the dense layers, the base frozen (0: off)", maxRank))
	loraAlpha := cli.Float(fs, "lora-alpha", 0, cli.NonNegative, "LoRA scaling numerator: adapters are scaled by alpha/rank (0: the rank)")
	loraLayers := fs.String("lora-layers", "", "comma-separated dense layers to adapt, or ViT sublayer suffixes such as mlp.fc1 (default: every dense layer but the head; on a ViT attn.qkv,attn.proj)")
	merge := fs.Bool("merge", false, "after training, fold the LoRA adapters into a plain checkpoint (keeps checkpoint.lora.safetensors)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || f.shards == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "trainer finetune: --from and --shards are required")
		fs.Usage()
		return errUsage
	}
	if err := localFlags(map[string]*string{"--from": from, "--out": &f.out, "--resume": &f.resume, "--cpuprofile": &f.cpuprofile}); err != nil {
		return err
	}
	if *loraRank < 0 || *loraRank == 0 && (*loraAlpha != 0 || *loraLayers != "" || *merge) {
		given := fmt.Sprintf("--lora-rank %d", *loraRank)
		fs.Visit(func(fl *flag.Flag) {
			if fl.Name == "lora-alpha" || fl.Name == "lora-layers" || fl.Name == "merge" {
				given += " --" + fl.Name + " " + fl.Value.String()
			}
		})
		return usageError(stderr, "trainer finetune: %s: --lora-alpha, --lora-layers and --merge need --lora-rank ≥ 1", given)
	}
	if *loraRank > maxRank {
		return usageError(stderr, "trainer finetune: --lora-rank %d: at most %d", *loraRank, maxRank)
	}
	if err := checkFinetuneFlags(fs, &f, stderr); err != nil {
		return err
	}
	if err := f.check(stderr); err != nil {
		return err
	}
	var layers []string
	if *loraLayers != "" {
		for _, l := range strings.Split(*loraLayers, ",") {
			layers = append(layers, strings.TrimSpace(l))
		}
	}
	ds, err := f.openShards()
	if err != nil {
		return err
	}
	cfg := f.config()
	p := trainer.CheckpointPath(*from)
	logf := func(format string, a ...any) {
		if !f.quiet {
			fmt.Fprintf(stderr, "trainer: "+format+"\n", a...)
		}
	}
	s, err := trainer.Finetune(p, ds, cfg, trainer.FinetuneOptions{Freeze: strings.Split(*freeze, ","), LRHead: *lrHead, LRBody: *lrBody,
		Renormalize: *renorm, NewHead: *newHead, LoRARank: *loraRank, LoRAAlpha: *loraAlpha, LoRALayers: layers}, logf)
	if err != nil {
		return err
	}
	if err := checkFinetuneArch(fs, &f, *from, s.Model.Spec(), stderr); err != nil {
		return err
	}
	if f.out == "" {
		f.out = filepath.Join("runs", "finetune-"+time.Now().Format("20060102-150405"))
	}
	if err := trainLoop(ctx, s, ds, &f, stdout, stderr); err != nil || *loraRank == 0 {
		return err
	}
	// The adapters' export and the merge write into the run directory too:
	// under the run's lock, like training.
	unlock, err := trainer.LockRun(f.out)
	if err != nil {
		return err
	}
	defer unlock()
	ckpt := filepath.Join(f.out, trainer.CheckpointBase)
	if err := trainer.ExportPEFT(ckpt, f.out); err != nil {
		return err
	}
	logf("wrote the adapters in PEFT's layout: %s, %s", filepath.Join(f.out, checkpoint.PEFTConfigFile), filepath.Join(f.out, checkpoint.PEFTWeightsFile))
	if !*merge {
		return nil
	}
	merged, err := trainer.MergeLoRA(ckpt)
	if err != nil {
		return err
	}
	logf("merged the LoRA adapters of %s into %s.json, a plain checkpoint; the adapters stay in %s",
		strings.Join(merged, ", "), ckpt, checkpoint.LoRAPath(ckpt))
	return nil
}

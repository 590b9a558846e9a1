package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/kernels"
	"github.com/shardsmith/shardsmith/trainer/metrics"
	"github.com/shardsmith/shardsmith/trainer/nn"
)

const evalUsage = `Usage: trainer eval --checkpoint RUN --shards DIR [--split test] [--precision fp32|bf16|int8] [--json]

Evaluates the checkpoint in RUN (a run directory or a checkpoint .json) on a
split: accuracy, per-class precision/recall/F1 and the confusion matrix.
Refuses shards whose image shape or classes do not match the checkpoint.

--precision bf16 runs the dense and conv layers' products with bfloat16
operands and float32 sums, whatever precision the checkpoint was trained in.
On a CPU with AMX-BF16 the products run on AMX tiles: the CNN's evaluation
pass handles 1.8x the images per second of fp32, the MLP's 1.25x (its pass is
mostly reading the shards), with accuracy within 0.01 % of fp32's on the
MNIST recipes (BENCHMARKS.md). Some CPUs with AVX512_BF16 but no AMX run
the bf16 products at half the fp32 rate; eval times both at start and warns
there. The default, fp32, gives the same figures as the training run's test
pass.

--precision int8 is for a model whose first layer is dense (the MLP) on a
uint8 version (configs/mnist-uint8.yaml): that layer reads the stored bytes
directly, its weights quantized to int8 (one scale per output, the shards'
normalization folded in) and its sums exact in int32 (VPDPBUSD on
AVX512_VNNI). A later dense layer that reads a ReLU's output quantizes it
per row to bytes (dynamic quantization) and runs in int8 too; any other
layer runs as with bf16 where the CPU has native bf16 products, else in
fp32. On the MLP it is the fastest pass: on an AMD Zen 4, 371k images/s
against bf16's 217k and fp32's 121k, test accuracy 0.9715 as in fp32
(BENCHMARKS.md). Without AVX512_VNNI it runs a pure-Go kernel, slowly, with
a warning.

Flags:
`

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, evalUsage); fs.PrintDefaults() }
	ck := fs.String("checkpoint", "", "run directory or checkpoint .json (required)")
	shards := fs.String("shards", "", "dataset version (required)")
	split := new(vocab.Split)
	*split = vocab.Test
	fs.Var(split, "split", "`split` to evaluate: train, val or test")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var precision nn.Precision
	fs.Var(&precision, "precision", "arithmetic of the matrix products: fp32, bf16, or int8 (an MLP's first layer on raw uint8 pixels)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the evaluation pass to `file` (for performance work)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ck == "" || *shards == "" {
		fs.Usage()
		return errUsage
	}
	if err := localFlags(map[string]*string{"--checkpoint": ck, "--cpuprofile": cpuprofile}); err != nil {
		return err
	}
	p := trainer.CheckpointPath(*ck)
	c, model, err := checkpoint.LoadModel(p)
	if err != nil {
		return err
	}
	if err := model.SetPrecision(precision); err != nil {
		return fmt.Errorf("%s: --precision %s: %w", p, precision, err)
	}
	warnSlowBF16(stderr, "trainer eval", precision)
	if precision == nn.INT8 && kernels.S8Impl() == "go" {
		fmt.Fprintf(stderr, "trainer eval: warning: this CPU (or kernel set %s) has no AVX512_VNNI: the int8 product runs in the pure-Go kernel, far slower than fp32\n", kernels.Impl())
	}
	ds, err := data.Open(*shards)
	if err != nil {
		return err
	}
	if err := trainer.CheckImage(c.Meta, ds); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if n := c.Meta.Normalization; n != nil {
		dn := ds.Manifest.Normalize
		if !n.Same(dn.Mean, dn.Std) {
			return fmt.Errorf("checkpoint was trained with mean/std %s/%s but the shards use %s/%s",
				manifest.Values(n.Mean).Decimals(6), manifest.Values(n.Std).Decimals(6), manifest.Values(dn.Mean).Decimals(6), manifest.Values(dn.Std).Decimals(6))
		}
	}
	stopProfile, err := cli.StartCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	start := time.Now()
	conf, loss, err := trainer.Evaluate(ctx, model, ds, *split, 256)
	stopProfile()
	if err != nil {
		return err
	}
	// The evaluation pass alone: streaming the split's shards, the forward
	// passes and the metrics, not opening the checkpoint or the dataset.
	secs := time.Since(start).Seconds()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Split           vocab.Split `json:"split"`
			Precision       string      `json:"precision"`
			Loss            float64     `json:"loss"`
			Seconds         float64     `json:"seconds"`
			ImagesPerSecond float64     `json:"images_per_second"`
			metrics.Report
		}{*split, precision.String(), loss, secs, float64(conf.Total()) / secs, conf.Report()})
	}
	fmt.Fprintf(stdout, "%s accuracy %.4f  loss %.4f  (%d images)\n", *split, conf.Accuracy(), loss, conf.Total())
	conf.Print(stdout)
	return nil
}

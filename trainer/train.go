// Package trainer trains and evaluates networks on dataset versions made by
// prep: it streams batches from the shards (trainer/data), runs the network
// (trainer/nn on the SIMD kernels), updates it (trainer/optim), and writes
// metrics, curves and checkpoints into a run directory.
//
// A run is deterministic: same seed, same shards and same GOMAXPROCS give
// identical weights, and a run interrupted and resumed from its last
// checkpoint ends with the same weights as one that was not, because every
// source of randomness (initialisation, shuffling, dropout) is either derived
// from (seed, epoch) or saved in the checkpoint.
package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/metrics"
	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// Config describes a training run.
type Config struct {
	// Model is "mlp", "cnn" or "vit"; Hidden sets the MLP's widths (nil:
	// 512, 256) and ViT the transformer's hyper-parameters (nil or zero
	// fields: nn.DefaultViT).
	Model     string        `json:"model"`
	Hidden    []int         `json:"hidden,omitempty"`
	BatchNorm bool          `json:"batch_norm,omitempty"`
	ViT       *nn.ViTConfig `json:"vit,omitempty"`

	Epochs    int          `json:"epochs"`
	BatchSize int          `json:"batch_size"`
	Optimizer optim.Config `json:"optimizer"`
	// Schedule is constant, step or cosine; warm-up is linear over WarmupEpochs.
	Schedule     string  `json:"schedule"`
	StepEpochs   int     `json:"step_epochs,omitempty"`
	Gamma        float64 `json:"gamma,omitempty"`
	WarmupEpochs float64 `json:"warmup_epochs,omitempty"`
	// Patience stops training when the val loss has not improved for this many epochs (0: never).
	Patience int    `json:"patience,omitempty"`
	Seed     uint64 `json:"seed"`
	// ShuffleWindow bounds the rows held for shuffling (0: data's default).
	ShuffleWindow int `json:"shuffle_window,omitempty"`
	// LabelSmoothing is the ε of the training loss's smoothed targets (see
	// nn.SoftmaxCrossEntropy); validation and test losses stay plain.
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	// DecayExempt keeps weight decay off biases, norm scales, cls_token and
	// pos_embed (optim.NoDecay). Runs saved before it existed decayed
	// everything and resume that way.
	DecayExempt bool `json:"decay_exempt,omitempty"`
	// Precision is the arithmetic of the matrix products (nn.Precision;
	// empty: fp32, as every run before it existed).
	Precision nn.Precision `json:"precision,omitempty"`
	// Conv is how the 3×3, stride-1 convolutions are computed
	// (nn.ConvAlgo; empty: direct, as every run before it existed).
	Conv nn.ConvAlgo `json:"conv,omitempty"`
}

// EpochStats is one line of metrics.jsonl.
type EpochStats struct {
	Epoch        int     `json:"epoch"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_accuracy"`
	ValLoss      float64 `json:"val_loss"`
	ValAcc       float64 `json:"val_accuracy"`
	LR           float64 `json:"lr"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_second"`
}

// Progress reports a training step to a progress display.
type Progress struct {
	Epoch, Epochs  int
	Batch, Batches int
	Loss           float64 // running mean of this epoch
	ImagesPerSec   float64
	Elapsed        time.Duration
}

// BuildModel builds the network cfg names for a dataset's shapes and classes.
func BuildModel(c Config, ds *data.Dataset) (*nn.Sequential, error) { return buildModel(c, ds) }

func buildModel(c Config, ds *data.Dataset) (*nn.Sequential, error) {
	im := ds.Manifest.Image
	classes := len(ds.Manifest.Classes)
	opts := []nn.Option{nn.WithSeed(c.Seed)}
	if c.BatchNorm {
		opts = append(opts, nn.WithBatchNorm())
	}
	switch c.Model {
	case "mlp":
		return nn.MLP(im.Height*im.Width*im.Channels, c.Hidden, classes, opts...)
	case "cnn":
		return nn.CNN([]int{im.Channels, im.Height, im.Width}, classes, opts...)
	case "vit":
		var vc nn.ViTConfig
		if c.ViT != nil {
			vc = *c.ViT
		}
		return nn.ViT([]int{im.Channels, im.Height, im.Width}, classes, vc, opts...)
	}
	return nil, fmt.Errorf("unknown model %q (mlp, cnn or vit)", c.Model)
}

// schedule builds the learning-rate schedule, counted in optimizer steps.
func (c Config) schedule(stepsPerEpoch int) (optim.Schedule, error) {
	sc := optim.ScheduleConfig{Kind: c.Schedule}
	warm := int64(math.Round(c.WarmupEpochs * float64(stepsPerEpoch)))
	switch c.Schedule {
	case "", "constant":
		sc.Kind = "constant"
	case "step":
		if c.StepEpochs < 1 {
			return nil, fmt.Errorf("--lr-step-epochs must be ≥ 1 with the step schedule")
		}
		sc.StepSize = int64(c.StepEpochs * stepsPerEpoch)
		sc.Gamma = c.Gamma
	case "cosine":
		sc.TotalSteps = int64(c.Epochs*stepsPerEpoch) - warm
	default:
		return nil, fmt.Errorf("unknown schedule %q (constant, step or cosine)", c.Schedule)
	}
	sc.WarmupSteps = warm
	return sc.Schedule()
}

// Session is a model with its optimizer and data, ready to train.
type Session struct {
	Config  Config
	Data    *data.Dataset
	Model   *nn.Sequential
	Opt     *optim.Optimizer
	History []EpochStats
	// Epoch is the number of completed epochs.
	Epoch int

	train     *data.Loader
	loss      nn.SoftmaxCrossEntropy
	labels    []int
	rules     []optim.Rule // learning-rate groups, saved for resume
	bestVal   float64
	sinceBest int
}

// NewSession builds a fresh model and optimizer for cfg on ds. groups, when
// non-nil, splits the parameters into groups with their own learning-rate
// scale (fine-tuning); nil trains every trainable parameter at one rate.
func NewSession(cfg Config, ds *data.Dataset, model *nn.Sequential, rules []optim.Rule) (*Session, error) {
	if cfg.BatchSize < 1 || cfg.Epochs < 1 {
		return nil, fmt.Errorf("batch size and epochs must be ≥ 1 (got %d, %d)", cfg.BatchSize, cfg.Epochs)
	}
	var err error
	if model == nil {
		if model, err = buildModel(cfg, ds); err != nil {
			return nil, err
		}
	}
	if err := checkInput(model, ds); err != nil {
		return nil, err
	}
	if cfg.Precision == nn.INT8 {
		return nil, fmt.Errorf("precision int8 is for evaluation (trainer eval --precision int8); train in fp32 or bf16")
	}
	if err := model.SetPrecision(cfg.Precision); err != nil {
		return nil, err
	}
	if err := model.SetConvAlgo(cfg.Conv); err != nil {
		return nil, err
	}
	train, err := ds.Loader(vocab.Train, data.Options{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Window: cfg.ShuffleWindow})
	if err != nil {
		return nil, err
	}
	sched, err := cfg.schedule(train.Batches())
	if err != nil {
		return nil, err
	}
	groups := optim.GroupParams(model.Trainable(), rules...)
	if cfg.DecayExempt {
		groups = optim.SplitDecay(groups, optim.NoDecay)
	}
	opt, err := optim.New(cfg.Optimizer, sched, groups...)
	if err != nil {
		return nil, err
	}
	if !(cfg.LabelSmoothing >= 0 && cfg.LabelSmoothing < 1) {
		return nil, fmt.Errorf("label smoothing must be in [0, 1), got %v", cfg.LabelSmoothing)
	}
	s := &Session{Config: cfg, Data: ds, Model: model, Opt: opt, train: train, bestVal: math.Inf(1), rules: rules}
	s.loss.Smoothing = cfg.LabelSmoothing
	return s, nil
}

// SetEpochs changes the run's total epochs (a resumed run's --epochs) and
// rebuilds the schedule for it: a cosine decay then spans the new total
// from the step reached, rather than having ended with the old one. Step
// and constant schedules do not depend on the total, so a resumed run with
// them still ends exactly like an uninterrupted one; so does a cosine run
// resumed with its own total.
func (s *Session) SetEpochs(n int) error {
	if n < 1 {
		return fmt.Errorf("epochs must be ≥ 1, got %d", n)
	}
	cfg := s.Config
	cfg.Epochs = n
	sched, err := cfg.schedule(s.train.Batches())
	if err != nil {
		return err
	}
	s.Config = cfg
	s.Opt.SetSchedule(sched)
	return nil
}

// checkInput refuses a model whose input does not match the shards.
func checkInput(m *nn.Sequential, ds *data.Dataset) error {
	n := 1
	for _, d := range m.InputShape() {
		n *= d
	}
	if n != ds.Elems() {
		return fmt.Errorf("model input %v (%d values) does not match the shards' %dx%dx%d images",
			m.InputShape(), n, ds.Manifest.Image.Channels, ds.Manifest.Image.Height, ds.Manifest.Image.Width)
	}
	out := m.OutputShape()
	if len(out) != 1 || out[0] != len(ds.Manifest.Classes) {
		return fmt.Errorf("model has %v outputs but the dataset has %d classes", out, len(ds.Manifest.Classes))
	}
	return nil
}

func (s *Session) input(b *data.Batch) (*nn.Tensor, error) {
	shape := append([]int{b.Len()}, s.Model.InputShape()...)
	return nn.FromSlice(b.X, shape...)
}

func (s *Session) labelsOf(b *data.Batch) []int {
	s.labels = s.labels[:0]
	for _, y := range b.Y {
		s.labels = append(s.labels, int(y))
	}
	return s.labels
}

// ErrEarlyStop is returned by TrainEpoch when patience ran out.
var ErrEarlyStop = errors.New("early stop: val loss stopped improving")

// TrainEpoch trains one epoch, evaluates on val, and appends to History.
func (s *Session) TrainEpoch(ctx context.Context, progress func(Progress)) (EpochStats, error) {
	epoch := s.Epoch
	t0 := time.Now()
	var lossSum float64
	var seen, correct, batch int
	lr := s.Opt.LR()
	err := s.train.Epoch(ctx, epoch, func(b *data.Batch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := s.input(b)
		if err != nil {
			return err
		}
		logits, err := s.Model.Forward(x, true)
		if err != nil {
			return err
		}
		labels := s.labelsOf(b)
		loss, dlogits, err := s.loss.Forward(logits, labels)
		if err != nil {
			return err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("epoch %d batch %d: loss is %v (learning rate %g too high?)", epoch+1, batch+1, loss, s.Opt.LR())
		}
		correct += nn.Correct(logits, labels)
		if err := s.Model.Backward(dlogits); err != nil {
			return err
		}
		s.Opt.Step()
		lossSum += loss * float64(b.Len())
		seen += b.Len()
		batch++
		if progress != nil {
			el := time.Since(t0)
			progress(Progress{Epoch: epoch + 1, Epochs: s.Config.Epochs, Batch: batch, Batches: s.train.Batches(),
				Loss: lossSum / float64(seen), ImagesPerSec: float64(seen) / el.Seconds(), Elapsed: el})
		}
		return nil
	})
	if err != nil {
		return EpochStats{}, err
	}
	secs := time.Since(t0).Seconds()
	st := EpochStats{Epoch: epoch + 1, TrainLoss: lossSum / float64(seen), TrainAcc: float64(correct) / float64(seen),
		LR: lr, Seconds: secs, ImagesPerSec: float64(seen) / secs}
	if s.Data.Rows(vocab.Val) > 0 {
		conf, vloss, err := s.Evaluate(ctx, vocab.Val)
		if err != nil {
			return EpochStats{}, err
		}
		st.ValLoss, st.ValAcc = vloss, conf.Accuracy()
	}
	s.History = append(s.History, st)
	s.Epoch++
	if s.Config.Patience > 0 && s.Data.Rows(vocab.Val) > 0 {
		if st.ValLoss < s.bestVal {
			s.bestVal, s.sinceBest = st.ValLoss, 0
		} else if s.sinceBest++; s.sinceBest >= s.Config.Patience {
			return st, ErrEarlyStop
		}
	}
	return st, nil
}

// Evaluate runs the model over a split in eval mode.
func (s *Session) Evaluate(ctx context.Context, split vocab.Split) (*metrics.Confusion, float64, error) {
	return Evaluate(ctx, s.Model, s.Data, split, max(s.Config.BatchSize, 256))
}

// Evaluate runs model over a split of ds and returns the confusion matrix
// and the mean loss. With precision int8 the model reads the version's raw
// bytes (data.Options.RawU8, nn.Sequential.ForwardU8): a uint8 version only.
func Evaluate(ctx context.Context, model *nn.Sequential, ds *data.Dataset, split vocab.Split, batchSize int) (*metrics.Confusion, float64, error) {
	if err := checkInput(model, ds); err != nil {
		return nil, 0, err
	}
	// In int8 the model reads the stored bytes itself (nn.ForwardU8); the
	// loader refuses a version that does not store them.
	raw := model.Precision() == nn.INT8
	l, err := ds.Loader(split, data.Options{BatchSize: batchSize, RawU8: raw})
	if err != nil {
		return nil, 0, err
	}
	// The weights hold still for the pass: quantized (int8) or packed
	// (bf16) once.
	if raw {
		n := ds.Manifest.Normalize
		drop, err := model.QuantizeInput(n.Mean, n.Std)
		if err != nil {
			return nil, 0, err
		}
		defer drop()
	}
	defer model.PackForInference()()
	conf := metrics.NewConfusion(ds.Manifest.Classes)
	var ce nn.SoftmaxCrossEntropy
	var lossSum float64
	var labels, preds []int
	err = l.Epoch(ctx, 0, func(b *data.Batch) error {
		var logits *nn.Tensor
		if raw {
			logits, err = model.ForwardU8(b.XU8, b.Len())
		} else {
			shape := append([]int{b.Len()}, model.InputShape()...)
			var x *nn.Tensor
			if x, err = nn.FromSlice(b.X, shape...); err == nil {
				logits, err = model.Forward(x, false)
			}
		}
		if err != nil {
			return err
		}
		labels = labels[:0]
		for _, y := range b.Y {
			labels = append(labels, int(y))
		}
		loss, _, err := ce.Forward(logits, labels)
		if err != nil {
			return err
		}
		lossSum += loss * float64(b.Len())
		preds = nn.Argmax(logits, preds)
		conf.Add(b.Y, preds)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	n := conf.Total()
	if n == 0 {
		return conf, 0, nil
	}
	return conf, lossSum / float64(n), nil
}

package trainer

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
)

// colourDataset builds a learnable side×side set of the given channels.
func colourDataset(t *testing.T, side, channels int) *data.Dataset {
	t.Helper()
	out := t.TempDir()
	tinybuild.Build(t, out, "rgb", tinyset.Spec{Train: 480, Test: 160, Side: side, Channels: channels, Classes: 4, Seed: 3, Learnable: true},
		"classes: [a, b, c, d]\nshards: {rows: 100, batch_rows: 32}\nsplit: {seed: 1, val_fraction: 0.25}\n")
	ds, err := data.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// A 3-channel set trains: the MLP takes H·W·C inputs, the CNN's first
// convolution C channels; loss goes down, the classes are learnt, and a CNN
// checkpoint records the image shape and per-channel statistics, resumes
// and evaluates.
func TestTrainRGB(t *testing.T) {
	ds := colourDataset(t, 8, 3)
	mlp, err := NewSession(mlpConfig(6), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in := mlp.Model.InputShape(); !slices.Equal(in, []int{192}) {
		t.Fatalf("MLP input %v, want [192]", in)
	}
	trainAll(t, mlp)
	conf, _, err := mlp.Evaluate(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if h := mlp.History; h[5].TrainLoss >= h[0].TrainLoss || conf.Accuracy() < 0.9 {
		t.Fatalf("MLP test accuracy %.3f; history %+v", conf.Accuracy(), h)
	}

	cnn, err := NewSession(cnnConfig(3), ds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in := cnn.Model.InputShape(); !slices.Equal(in, []int{3, 8, 8}) || cnn.Model.Spec().Layers[0].In != 3 {
		t.Fatalf("CNN input %v, first layer %+v", in, cnn.Model.Spec().Layers[0])
	}
	if _, err := cnn.TrainEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := cnn.Save(ck); err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	if im := c.Meta.Image; im == nil || *im != (checkpoint.ImageShape{Height: 8, Width: 8, Channels: 3}) {
		t.Fatalf("checkpoint image %v", im)
	}
	if n := c.Meta.Normalization; len(n.Mean) != 3 || len(n.Std) != 3 || !n.Same(ds.Manifest.Normalize.Mean, ds.Manifest.Normalize.Std) {
		t.Fatalf("checkpoint normalization %+v, manifest %+v", n, ds.Manifest.Normalize)
	}
	resumed, err := Resume(ck, ds)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, resumed)
	if h := resumed.History; len(h) != 3 || h[2].TrainLoss >= h[0].TrainLoss {
		t.Fatalf("CNN history %+v", h)
	}
	model, err := c.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckImage(c.Meta, ds); err != nil {
		t.Fatal(err)
	}
	if conf, _, err := Evaluate(context.Background(), model, ds, "test", 64); err != nil || conf.Total() != 160 {
		t.Fatalf("evaluating the checkpoint: %v", err)
	}
}

// Shards of another image shape are refused even when their images have as
// many values as the checkpoint's (4×4×4 and 8×8×1 are both 64).
func TestFinetuneRefusesOtherImageShape(t *testing.T) {
	rgba := colourDataset(t, 4, 4)
	s, err := NewSession(mlpConfig(1), rgba, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, s)
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := s.Save(ck); err != nil {
		t.Fatal(err)
	}
	gray := dataset(t)
	if gray.Elems() != rgba.Elems() {
		t.Fatalf("test needs equal sizes: %d vs %d", gray.Elems(), rgba.Elems())
	}
	_, err = Finetune(ck, gray, mlpConfig(1), FinetuneOptions{Renormalize: true}, func(string, ...any) {})
	if err == nil || !strings.Contains(err.Error(), "trained on 4x4x4 images (height x width x channels), the shards hold 8x8x1") {
		t.Fatalf("finetune on other shapes: %v", err)
	}
	c, _ := checkpoint.Load(ck)
	if err := CheckImage(c.Meta, gray); err == nil {
		t.Fatal("CheckImage accepted 8x8x1 shards for a 4x4x4 checkpoint")
	}
}

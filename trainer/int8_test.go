package trainer

import (
	"math"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// An int8 evaluation of a trained MLP on a uint8 version reads the raw
// bytes and scores within a whisker of its fp32 evaluation; a float32
// version, a CNN and training in int8 are refused.
func TestEvaluateInt8(t *testing.T) {
	u8 := datasetWith(t, "split: {seed: 1, val_fraction: 0.25}\nnormalize: {mode: none}\n")
	if u8.Manifest.Image.DType != "uint8" {
		t.Fatalf("dataset stores %s", u8.Manifest.Image.DType)
	}
	s, err := NewSession(mlpConfig(2), u8, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, s)
	fp, fpLoss, err := Evaluate(t.Context(), s.Model, u8, "test", 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Model.SetPrecision(nn.INT8); err != nil {
		t.Fatal(err)
	}
	q, qLoss, err := Evaluate(t.Context(), s.Model, u8, "test", 64)
	if err != nil {
		t.Fatal(err)
	}
	if q.Total() != 160 || math.Abs(q.Accuracy()-fp.Accuracy()) > 0.02 || fp.Accuracy() < 0.5 {
		t.Errorf("int8 accuracy %.4f on %d images, fp32 %.4f", q.Accuracy(), q.Total(), fp.Accuracy())
	}
	if qLoss == fpLoss || math.Abs(qLoss-fpLoss) > 0.05*fpLoss {
		t.Errorf("int8 loss %v, fp32 %v: want close but not the same pass", qLoss, fpLoss)
	}
	f32 := dataset(t)
	if _, _, err := Evaluate(t.Context(), s.Model, f32, "test", 64); err == nil || !strings.Contains(err.Error(), "uint8") {
		t.Errorf("int8 on a float32 version: %v", err)
	}
	cfg := mlpConfig(1)
	cfg.Precision = nn.INT8
	if _, err := NewSession(cfg, u8, nil, nil); err == nil || !strings.Contains(err.Error(), "for evaluation") {
		t.Errorf("training in int8: %v", err)
	}
}

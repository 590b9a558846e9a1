package trainer

import (
	"math"
	"reflect"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

func TestEvalBatch(t *testing.T) {
	mlp, err := nn.MLP(784, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	cnn, err := nn.CNN([]int{1, 28, 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := nn.MLP(784, []int{4096}, 10) // 1024 × 4096 values: 4 times the bound
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		model *nn.Sequential
		want  int
	}{
		{"mlp", mlp, maxEvalBatch},         // widest output 784 values: capped
		{"cnn", cnn, minEvalBatch},         // conv1's 32×26×26 values: floored
		{"wide-mlp", wide, 1 << 20 / 4096}, // between the bounds
	} {
		if got := EvalBatch(tc.model); got != tc.want {
			t.Errorf("%s: EvalBatch = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Evaluation reports the same predictions whatever the batch size, so the
// larger batches of EvalBatch change nothing but the loss's rounding.
func TestEvaluateBatchSizeInvariant(t *testing.T) {
	ds := dataset(t)
	for _, cfg := range []Config{mlpConfig(1), cnnConfig(1)} {
		s, err := NewSession(cfg, ds, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		big, bigLoss, err := Evaluate(t.Context(), s.Model, ds, "test", EvalBatch(s.Model))
		if err != nil {
			t.Fatal(err)
		}
		small, smallLoss, err := Evaluate(t.Context(), s.Model, ds, "test", 7)
		if err != nil {
			t.Fatal(err)
		}
		if big.Total() != 160 || !reflect.DeepEqual(big, small) {
			t.Errorf("%s: confusion at batch %d differs from batch 7:\n%v\n%v", cfg.Model, EvalBatch(s.Model), big, small)
		}
		if math.Abs(bigLoss-smallLoss) > 1e-6*math.Abs(smallLoss) {
			t.Errorf("%s: loss %v at batch %d, %v at batch 7", cfg.Model, bigLoss, EvalBatch(s.Model), smallLoss)
		}
	}
}

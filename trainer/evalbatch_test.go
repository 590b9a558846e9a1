package trainer

import (
	"math"
	"reflect"
	"testing"
)

// Evaluation reports the same predictions whatever the batch size: every
// row of a layer's output is computed alone, with the same operations
// whatever the batch, so only the summed loss may round differently.
func TestEvaluateBatchSizeInvariant(t *testing.T) {
	ds := dataset(t)
	for _, cfg := range []Config{mlpConfig(1), cnnConfig(1)} {
		s, err := NewSession(cfg, ds, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		big, bigLoss, err := Evaluate(t.Context(), s.Model, ds, "test", 256)
		if err != nil {
			t.Fatal(err)
		}
		small, smallLoss, err := Evaluate(t.Context(), s.Model, ds, "test", 7)
		if err != nil {
			t.Fatal(err)
		}
		if big.Total() != 160 || !reflect.DeepEqual(big, small) {
			t.Errorf("%s: confusion at batch 256 differs from batch 7:\n%v\n%v", cfg.Model, big, small)
		}
		if math.Abs(bigLoss-smallLoss) > 1e-6*math.Abs(smallLoss) {
			t.Errorf("%s: loss %v at batch 256, %v at batch 7", cfg.Model, bigLoss, smallLoss)
		}
	}
}

package nn

import "testing"

// BenchmarkCNNStepBF16 is BenchmarkCNNStep with --precision bf16's products.
func BenchmarkCNNStepBF16(b *testing.B) {
	m, err := CNN([]int{1, 28, 28}, 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.SetPrecision(BF16); err != nil {
		b.Fatal(err)
	}
	benchModel(b, m, 1, 28, 28)
}

// BenchmarkMLPStepBF16 is BenchmarkMLPStep with --precision bf16's products.
func BenchmarkMLPStepBF16(b *testing.B) {
	m, err := MLP(784, []int{512, 256}, 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.SetPrecision(BF16); err != nil {
		b.Fatal(err)
	}
	benchModel(b, m, 784)
}

// BenchmarkCNNForwardEvalBF16 is BenchmarkCNNForwardEval in bf16.
func BenchmarkCNNForwardEvalBF16(b *testing.B) {
	m, err := CNN([]int{1, 28, 28}, 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.SetPrecision(BF16); err != nil {
		b.Fatal(err)
	}
	x, _ := batch(1, benchBatch, 1, 28, 28)
	m.Forward(x, false)
	for b.Loop() {
		if _, err := m.Forward(x, false); err != nil {
			b.Fatal(err)
		}
	}
	reportEpoch(b)
}

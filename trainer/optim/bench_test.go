package optim

import (
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// BenchmarkAdamStepCNN updates the 1,199,882 parameters of the MNIST CNN and
// reports the implied cost of a 60,000-image epoch at batch 128 (469 steps).
func BenchmarkAdamStepCNN(b *testing.B) {
	m, err := nn.CNN([]int{1, 28, 28}, 10)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []Algorithm{Adam, SGD} {
		b.Run(string(alg), func(b *testing.B) {
			o, err := New(Config{Algorithm: alg, LR: 1e-3, Momentum: 0.9}, nil, GroupParams(m.Params())...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				o.Step()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*469/1e9, "s/epoch")
		})
	}
}

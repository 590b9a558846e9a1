package optim

import (
	"math/rand/v2"
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

// BenchmarkMLPTrainStep is one whole training step of the 784-512-256-10
// MLP at batch 128 as the trainer runs it: forward, softmax cross-entropy,
// backward and the Adam update, on a batch already in memory (the step that
// PyTorch's and JAX's per-step figures time). s/epoch is 469 such steps.
func BenchmarkMLPTrainStep(b *testing.B) {
	m, err := nn.MLP(784, nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	o, err := New(Config{Algorithm: Adam, LR: 1e-3}, nil, GroupParams(m.Params())...)
	if err != nil {
		b.Fatal(err)
	}
	const n = 128
	rng := rand.New(rand.NewPCG(1, 2))
	x := nn.NewTensor(n, 784)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	var ce nn.SoftmaxCrossEntropy
	step := func() {
		y, err := m.Forward(x, true)
		if err != nil {
			b.Fatal(err)
		}
		_, g, err := ce.Forward(y, labels)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Backward(g); err != nil {
			b.Fatal(err)
		}
		o.Step()
	}
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/step")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*469/1e9, "s/epoch")
}

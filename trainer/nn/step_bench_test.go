package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// BenchmarkMLPTrainStep is one whole training step of the 784-512-256-10
// MLP at batch 128 as the trainer runs it: forward, softmax cross-entropy,
// backward and the Adam update, on a batch already in memory (the step that
// bench/train/mlp_step.py times in PyTorch and JAX). s/epoch is 469 steps.
func BenchmarkMLPTrainStep(b *testing.B) {
	m, err := nn.MLP(784, nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	o, err := optim.New(optim.Config{Algorithm: optim.Adam, LR: 1e-3}, nil, optim.GroupParams(m.Params())...)
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
	cpu := nn.CPUTime()
	for range b.N {
		step()
	}
	b.ReportMetric(float64((nn.CPUTime()-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/step")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*469/1e9, "s/epoch")
}

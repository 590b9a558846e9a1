package nn

import (
	"fmt"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// Benchmarks of one training step (forward, loss, backward) on a batch of
// 128 and of single layers. Each reports the implied time for a 60,000-image
// epoch at batch 128 (469 steps), excluding the optimizer and data loading.

const (
	benchBatch    = 128
	epochImages   = 60000
	stepsPerEpoch = (epochImages + benchBatch - 1) / benchBatch
)

func reportEpoch(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*stepsPerEpoch/1e9, "s/epoch")
}

func benchModel(b *testing.B, m *Sequential, shape ...int) {
	benchModelBatch(b, m, benchBatch, shape...)
}

// benchModelBatch times training steps on a batch of the given size and
// reports the epoch time at that batch size.
func benchModelBatch(b *testing.B, m *Sequential, size int, shape ...int) {
	b.Logf("kernels: %s", kernels.Impl())
	x, labels := batch(1, size, shape...)
	var ce SoftmaxCrossEntropy
	trainStep(b, m, &ce, x, labels)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		trainStep(b, m, &ce, x, labels)
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	steps := (epochImages + size - 1) / size
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*float64(steps)/1e9, "s/epoch")
}

func BenchmarkMLPStep(b *testing.B) {
	m, err := MLP(784, nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	benchModel(b, m, 784)
}

func BenchmarkCNNStep(b *testing.B) {
	m, err := CNN([]int{1, 28, 28}, 10)
	if err != nil {
		b.Fatal(err)
	}
	benchModel(b, m, 1, 28, 28)
}

func BenchmarkCNNForwardEval(b *testing.B) {
	m, err := CNN([]int{1, 28, 28}, 10)
	if err != nil {
		b.Fatal(err)
	}
	x, _ := batch(1, benchBatch, 1, 28, 28)
	m.Forward(x, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Forward(x, false); err != nil {
			b.Fatal(err)
		}
	}
	reportEpoch(b)
}

// benchLayer times Forward followed by Backward (with input gradient unless
// first is set, as for a model's first layer).
func benchLayer(b *testing.B, l Layer, x *Tensor, first bool) {
	y := l.Forward(x, true)
	dy := y.Clone()
	l.Backward(dy, !first) // size the buffers outside the timed loop
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		l.Forward(x, true)
		l.Backward(dy, !first)
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	reportEpoch(b)
}

func BenchmarkLayers(b *testing.B) {
	rng := testRNG(1)
	conv1, _ := NewConv2D("conv1", 1, 32, 3, 1, 0, rng)
	conv2, _ := NewConv2D("conv2", 32, 64, 3, 1, 0, rng)
	pool, _ := NewMaxPool2D("pool", 2, 2)
	drop, _ := NewDropout("drop", 0.25, 1, 2)
	bn, _ := NewBatchNorm2D("bn", 64, 0, 0)
	in28, _ := batch(1, benchBatch, 1, 28, 28)
	in26 := withLayout(randTensor(rng, false, benchBatch, 32, 26, 26), CNHW)
	in24 := withLayout(randTensor(rng, false, benchBatch, 64, 24, 24), CNHW)
	in12 := withLayout(randTensor(rng, false, benchBatch, 64, 12, 12), CNHW)
	b.Run("conv1", func(b *testing.B) { benchLayer(b, conv1, in28, true) })
	b.Run("conv2", func(b *testing.B) { benchLayer(b, conv2, in26, false) })
	b.Run("conv2-forward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			conv2.Forward(in26, true)
		}
		reportEpoch(b)
	})
	b.Run("relu-24x24x64", func(b *testing.B) { benchLayer(b, NewReLU("r"), in24, false) })
	b.Run("batchnorm2d-24x24x64", func(b *testing.B) { benchLayer(b, bn, in24, false) })
	b.Run("maxpool", func(b *testing.B) { benchLayer(b, pool, in24, false) })
	b.Run("dropout-12x12x64", func(b *testing.B) { benchLayer(b, drop, in12, false) })
	b.Run("flatten-cnhw", func(b *testing.B) { benchLayer(b, NewFlatten("f"), in12, false) })
	b.Run("fc1", func(b *testing.B) {
		benchLayer(b, NewDense("fc1", 9216, 128, rng), randTensor(rng, false, benchBatch, 9216), false)
	})
	b.Run("mlp-fc1", func(b *testing.B) {
		benchLayer(b, NewDense("fc1", 784, 512, rng), randTensor(rng, false, benchBatch, 784), true)
	})
}

// BenchmarkConvGroup sweeps the im2col budget (images per GEMM) for conv1
// and conv2 of the CNN, forward and backward.
func BenchmarkConvGroup(b *testing.B) {
	defer func(v int) { colBudget = v }(colBudget)
	rng := testRNG(1)
	conv1, _ := NewConv2D("conv1", 1, 32, 3, 1, 0, rng)
	conv2, _ := NewConv2D("conv2", 32, 64, 3, 1, 0, rng)
	in28, _ := batch(1, benchBatch, 1, 28, 28)
	in26 := withLayout(randTensor(rng, false, benchBatch, 32, 26, 26), CNHW)
	for _, budget := range []int{1 << 17, 1 << 19, 1 << 20, 1 << 22} {
		colBudget = budget
		b.Run(fmt.Sprintf("conv1/budget=%dK", budget>>10), func(b *testing.B) { benchLayer(b, conv1, in28, true) })
		b.Run(fmt.Sprintf("conv2/budget=%dK", budget>>10), func(b *testing.B) { benchLayer(b, conv2, in26, false) })
	}
}

// Single-threaded cost of the column transforms of conv2 for one group.
func BenchmarkColumns(b *testing.B) {
	defer func(v int) { colBudget = v }(colBudget)
	colBudget = 1 << 18 // one image per group
	rng := testRNG(1)
	conv2, _ := NewConv2D("conv2", 32, 64, 3, 1, 0, rng)
	in26 := withLayout(randTensor(rng, false, 8, 32, 26, 26), CNHW)
	y := conv2.Forward(in26, true)
	conv2.Backward(y, true)
	b.Run("im2col", func(b *testing.B) {
		for b.Loop() {
			conv2.im2col(conv2.cols[0], 0, 1)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*benchBatch*stepsPerEpoch/1e9, "s/epoch")
	})
	b.Run("col2im", func(b *testing.B) {
		for b.Loop() {
			conv2.col2im(conv2.cols[0], 0, 1)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*benchBatch*stepsPerEpoch/1e9, "s/epoch")
	})
}

// BenchmarkMLPForwardEval is the inference forward pass of the
// 784-512-256-10 MLP (what `trainer eval` runs per batch, without the data
// or the metrics) at two batch sizes; images/s is the comparable figure.
func BenchmarkMLPForwardEval(b *testing.B) {
	m, err := MLP(784, nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{128, 256, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			x, _ := batch(1, n, 784)
			m.Forward(x, false)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				if _, err := m.Forward(x, false); err != nil {
					b.Fatal(err)
				}
			}
			used := cpuTime() - cpu
			b.ReportMetric(float64(used.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			if used > 0 {
				b.ReportMetric(float64(n*b.N)/used.Seconds(), "images/cpu-s")
			}
		})
	}
}

// BenchmarkMLPForwardEvalBF16 is the MLP's evaluation pass in bf16, its
// weights packed on every call (repack) or once for all (packed, as
// trainer eval runs it: PackForInference).
func BenchmarkMLPForwardEvalBF16(b *testing.B) {
	m, err := MLP(784, nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.SetPrecision(BF16); err != nil {
		b.Fatal(err)
	}
	x, _ := batch(1, 256, 784)
	for _, packed := range []bool{false, true} {
		name := "repack"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			if packed {
				defer m.PackForInference()()
			}
			m.Forward(x, false)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Forward(x, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkMLPForwardEvalInt8 is the MLP's evaluation pass in int8, as
// trainer eval --precision int8 runs it: raw bytes into the quantized first
// layer (QuantizeInput), the others packed in bf16 where the CPU has it.
// Against BenchmarkMLPForwardEvalBF16/packed it shows what the int8 layer
// saves, without the loader.
func BenchmarkMLPForwardEvalInt8(b *testing.B) {
	m, err := MLP(784, nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.SetPrecision(INT8); err != nil {
		b.Fatal(err)
	}
	defer m.PackForInference()()
	drop, err := m.QuantizeInput([]float64{0.1307}, []float64{0.3081})
	if err != nil {
		b.Fatal(err)
	}
	defer drop()
	const n = 256
	x := make([]uint8, n*784)
	for i := range x {
		x[i] = uint8(i * 7 % 251)
	}
	m.ForwardU8(x, n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := m.ForwardU8(x, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
}

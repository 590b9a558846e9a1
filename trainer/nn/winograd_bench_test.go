package nn

import (
	"fmt"
	"testing"
)

// BenchmarkConvAlgo times the CNN's two convolutions (forward and
// backward) and a whole CNN step, direct and Winograd side by side, so
// that one run under one load compares them. conv1 is forced onto the
// Winograd path for the comparison (winoMinIn keeps it direct otherwise).
func BenchmarkConvAlgo(b *testing.B) {
	defer func(m int) { winoMinIn = m }(winoMinIn)
	rng := testRNG(1)
	in28, _ := batch(1, benchBatch, 1, 28, 28)
	in26 := withLayout(randTensor(rng, false, benchBatch, 32, 26, 26), CNHW)
	in16 := withLayout(randTensor(rng, false, 32, 128, 16, 16), CNHW)
	for _, algo := range []ConvAlgo{ConvDirect, ConvWinograd} {
		wino := algo == ConvWinograd
		b.Run("conv1/"+string(algo), func(b *testing.B) {
			winoMinIn = 1
			defer func() { winoMinIn = 4 }()
			c, _ := NewConv2D("conv1", 1, 32, 3, 1, 0, testRNG(2))
			c.wino = wino
			benchLayer(b, c, in28, true)
		})
		b.Run("conv2/"+string(algo), func(b *testing.B) {
			c, _ := NewConv2D("conv2", 32, 64, 3, 1, 0, testRNG(2))
			c.wino = wino
			benchLayer(b, c, in26, false)
		})
		b.Run("conv2-forward/"+string(algo), func(b *testing.B) {
			c, _ := NewConv2D("conv2", 32, 64, 3, 1, 0, testRNG(2))
			c.wino = wino
			c.Forward(in26, true)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				c.Forward(in26, true)
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			reportEpoch(b)
		})
		// A deeper layer than the CNN's: 128→128 channels on 16×16, padding
		// 1 (a ResNet-style stage), batch 32.
		b.Run("conv128/"+string(algo), func(b *testing.B) {
			c, _ := NewConv2D("conv128", 128, 128, 3, 1, 1, testRNG(2))
			c.wino = wino
			benchLayer(b, c, in16, false)
		})
		b.Run("cnn-step/"+string(algo), func(b *testing.B) {
			m, err := CNN([]int{1, 28, 28}, 10)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.SetConvAlgo(algo); err != nil {
				b.Fatal(err)
			}
			benchModel(b, m, 1, 28, 28)
		})
	}
}

// BenchmarkWinoGroup sweeps the Winograd buffer budget (images per group of
// GEMMs) for conv2, forward and backward.
func BenchmarkWinoGroup(b *testing.B) {
	defer func(v int) { winoBudget = v }(winoBudget)
	rng := testRNG(1)
	in26 := withLayout(randTensor(rng, false, benchBatch, 32, 26, 26), CNHW)
	for _, budget := range []int{1 << 18, 1 << 19, 1 << 20} {
		winoBudget = budget
		b.Run(fmt.Sprintf("conv2/budget=%dK", budget>>10), func(b *testing.B) {
			c, _ := NewConv2D("conv2", 32, 64, 3, 1, 0, testRNG(2))
			c.wino = true
			benchLayer(b, c, in26, false)
		})
	}
}

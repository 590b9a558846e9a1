package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchImpls runs f once per available kernel set, as sub-benchmarks named
// after the set.
func benchImpls(b *testing.B, f func(b *testing.B)) {
	prev := Impl()
	defer SetImpl(prev)
	for _, name := range Impls() {
		b.Run(name, func(b *testing.B) {
			if err := SetImpl(name); err != nil {
				b.Fatal(err)
			}
			f(b)
		})
	}
}

func benchGemm(b *testing.B, serial bool, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 1))
	a := randSlice(r, m*k)
	bb := randSlice(r, k*n)
	c := make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	f := Sgemm
	if serial {
		f = SgemmSerial
	}
	f(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm measures square NN products on one core (serial) and on
// GOMAXPROCS cores (parallel).
func BenchmarkSgemm(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, n := range []int{256, 512, 1024} {
			if Impl() == "go" && n > 512 {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/serial", n), func(b *testing.B) { benchGemm(b, true, false, false, n, n, n) })
			b.Run(fmt.Sprintf("n=%d/parallel", n), func(b *testing.B) { benchGemm(b, false, false, false, n, n, n) })
		}
	})
}

// trainerShapes are the products of one training step of the reference
// models: a 784-512-256-10 MLP at batch 128 and a CNN whose 3×3
// convolution runs as im2col + GEMM (per 24×24 image, and for a batch of
// 128 in one product), followed by a 9216→128 dense layer. bench/sgemm
// measures the same list against gonum and OpenBLAS.
var trainerShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"mlp-fc1-fwd-NT", false, true, 128, 512, 784},
	{"mlp-fc1-dW-TN", true, false, 512, 784, 128},
	{"mlp-fc1-dX-NN", false, false, 128, 784, 512},
	{"mlp-fc2-fwd-NT", false, true, 128, 256, 512},
	{"mlp-fc3-fwd-NT", false, true, 128, 10, 256},
	{"cnn-conv-fwd-NN", false, false, 576, 64, 288},
	{"cnn-conv-dW-TN", true, false, 288, 64, 576},
	{"cnn-conv-dX-NT", false, true, 576, 288, 64},
	{"cnn-conv-batch-NN", false, false, 128 * 576, 64, 288},
	{"cnn-fc-fwd-NT", false, true, 128, 128, 9216},
	{"cnn-fc-dW-TN", true, false, 128, 9216, 128},
}

func BenchmarkSgemmTrainer(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, s := range trainerShapes {
			if Impl() == "go" && s.m*s.n*s.k > 1<<26 {
				continue
			}
			b.Run(s.name+"/serial", func(b *testing.B) { benchGemm(b, true, s.transA, s.transB, s.m, s.n, s.k) })
			b.Run(s.name+"/parallel", func(b *testing.B) { benchGemm(b, false, s.transA, s.transB, s.m, s.n, s.k) })
		}
	})
}

func BenchmarkVector(b *testing.B) {
	const n = 1 << 16
	r := rand.New(rand.NewPCG(2, 2))
	x, y, z, w := randSlice(r, n), randSlice(r, n), randSlice(r, n), randSlice(r, n)
	for i := range w {
		w[i] *= w[i]
	}
	benchImpls(b, func(b *testing.B) {
		run := func(name string, f func()) {
			b.Run(name, func(b *testing.B) {
				b.SetBytes(4 * n)
				for i := 0; i < b.N; i++ {
					f()
				}
			})
		}
		run("Axpy", func() { Axpy(1e-3, x, y) })
		run("Dot", func() { Dot(x, y) })
		run("Relu", func() { Relu(z, x) })
		run("ReluGrad", func() { ReluGrad(z, y, x) })
		run("AdamStep", func() { AdamStep(z, x, y, w, 1e-6, 0.9, 0.999, 1e-8) })
		run("Sum", func() { Sum(x) })
		run("BiasRelu", func() { BiasRelu(z, x, 0.25) })
	})
}

// BenchmarkConvShapes times the per-plane kernels on the CNN's conv2 shapes:
// im2col's copy of one tap (24 rows of 24 floats out of a 26-wide plane),
// col2im's add of it back, and the 2×2 max-pool of one 24×24 plane. Bytes
// are the floats written.
func BenchmarkConvShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	plane, col := randSlice(r, 26*26), randSlice(r, 24*24)
	y, arg := make([]float32, 12*12), make([]int32, 12*12)
	benchImpls(b, func(b *testing.B) {
		b.Run("CopyRows/24x24", func(b *testing.B) {
			b.SetBytes(4 * 24 * 24)
			for b.Loop() {
				CopyRows(col, 24, plane[27:], 26, 24, 24)
			}
		})
		b.Run("AddRows/24x24", func(b *testing.B) {
			b.SetBytes(4 * 24 * 24)
			for b.Loop() {
				AddRows(plane[27:], 26, col, 24, 24, 24)
			}
		})
		b.Run("MaxPool2x2/24x24", func(b *testing.B) {
			b.SetBytes(4 * 12 * 12)
			for b.Loop() {
				MaxPool2x2(y, arg, col, 12, 12, 24)
			}
		})
	})
}

package kernels

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkGemmU8S8 measures the MLP's first layer in an evaluation pass on
// raw pixels: a batch of 128 images × 784 pixels times 512 outputs, in GOPS
// (2*m*n*k operations per product), for the int8 GEMM on each of its
// implementations and, for comparison, the bf16 GEMM with prepacked weights
// on the same shape (float32 inputs), on one thread and on GOMAXPROCS.
func BenchmarkGemmU8S8(b *testing.B) {
	const m, k, n = 128, 784, 512
	r := rand.New(rand.NewPCG(91, 92))
	a := make([]uint8, m*k)
	x := make([]float32, m*k)
	for i := range a {
		a[i] = uint8(r.IntN(256))
		x[i] = float32(a[i]) / 255
	}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	bias := make([]float32, n)
	c := make([]float32, m*n)
	p := QuantizeS8(n, k, w, k, bias)
	gops := func(b *testing.B) {
		b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
	}
	threads := []int{1}
	if procs := runtime.GOMAXPROCS(0); procs > 1 {
		threads = append(threads, procs)
	}
	for _, ks := range s8Sets() {
		for _, th := range threads {
			b.Run("int8-"+ks.name+"/threads="+strconv.Itoa(th), func(b *testing.B) {
				for b.Loop() {
					gemmU8S8(ks, th, m, a, k, p, c, n)
				}
				gops(b)
			})
		}
	}
	benchBF16Packed(b, threads, m, n, k, x, w, c, gops)
}

// BenchmarkGemmU8S8Rows measures a hidden layer of the MLP in int8: a batch
// of 256 ReLU outputs of width 512, quantized per row, times 256 outputs, in
// GOPS, on each int8 implementation and, for comparison, the bf16 GEMM with
// prepacked weights on the same shape, on one thread and on GOMAXPROCS.
func BenchmarkGemmU8S8Rows(b *testing.B) {
	const m, k, n = 256, 512, 256
	r := rand.New(rand.NewPCG(93, 94))
	x := make([]float32, m*k)
	for i := range x {
		x[i] = max(0, float32(r.NormFloat64()))
	}
	a, rs := make([]uint8, m*k), make([]float32, m)
	QuantizeRowsU8(m, k, x, k, a, k, rs)
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	c := make([]float32, m*n)
	p := QuantizeS8(n, k, w, k, make([]float32, n))
	gops := func(b *testing.B) {
		b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
	}
	threads := []int{1}
	if procs := runtime.GOMAXPROCS(0); procs > 1 {
		threads = append(threads, procs)
	}
	for _, ks := range s8Sets() {
		for _, th := range threads {
			b.Run("int8-"+ks.name+"/threads="+strconv.Itoa(th), func(b *testing.B) {
				for b.Loop() {
					gemmU8S8Rows(ks, th, m, a, k, rs, p, c, n)
				}
				gops(b)
			})
		}
	}
	benchBF16Packed(b, threads, m, n, k, x, w, c, gops)
}

// BenchmarkQuantizeRowsU8 measures the quantization of that layer's input,
// 256 rows of 512 ReLU outputs, in bytes of float32 input per second.
func BenchmarkQuantizeRowsU8(b *testing.B) {
	const m, k = 256, 512
	r := rand.New(rand.NewPCG(95, 96))
	x := make([]float32, m*k)
	for i := range x {
		x[i] = max(0, float32(r.NormFloat64()))
	}
	dst, scale := make([]uint8, m*k), make([]float32, m)
	for _, ks := range s8Sets() {
		b.Run(ks.name, func(b *testing.B) {
			b.SetBytes(4 * m * k)
			for b.Loop() {
				quantizeRowsU8(ks, m, k, x, k, dst, k, scale)
			}
		})
	}
}

// benchBF16Packed runs the bf16 product with packed weights w (n×k) on x
// (m×k) into c, the comparison the int8 benchmarks report beside theirs.
func benchBF16Packed(b *testing.B, threads []int, m, n, k int, x, w, c []float32, gops func(*testing.B)) {
	ks := bf16Set()
	pb := packBF16For(ks, true, n, k, w, k)
	for _, th := range threads {
		b.Run("bf16packed-"+ks.name+"/threads="+strconv.Itoa(th), func(b *testing.B) {
			for b.Loop() {
				sgemmBF16Packed(ks, th, false, m, 1, x, k, pb, 0, c, n)
			}
			gops(b)
		})
	}
}

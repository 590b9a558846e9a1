package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmShape is one product C(m×n) = op(A)·op(B) with inner dimension k.
type gemmShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// leading returns the leading dimensions of the shape's A and B operands.
func (s gemmShape) leading() (lda, ldb int) {
	lda, ldb = s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	return lda, ldb
}

// vitShapes are the products of a ViT training step (dim 64, MLP ratio 2,
// 5 tokens per image: 14×14 patches of 28×28 digits) at batch 16 (80 token
// rows) and 128 (640): the qkv and fc1 layers forward, their weight and
// input gradients.
var vitShapes = []gemmShape{
	{"b16-qkv-fwd-NT", false, true, 80, 192, 64},
	{"b16-qkv-dW-TN", true, false, 192, 64, 80},
	{"b16-qkv-dX-NN", false, false, 80, 64, 192},
	{"b16-fc1-fwd-NT", false, true, 80, 128, 64},
	{"b128-qkv-fwd-NT", false, true, 640, 192, 64},
	{"b128-qkv-dW-TN", true, false, 192, 64, 640},
	{"b128-fc1-fwd-NT", false, true, 640, 128, 64},
	{"b128-proj-fwd-NT", false, true, 640, 64, 64},
}

// BenchmarkSgemmViT times the ViT's products on one goroutine and split in
// two (forced, whatever gemmThreads says), and reports the rate in
// multiply-adds per nanosecond that gemmMACsPerNs stands for. Run it with
// -cpu 2: where split is not faster than serial, the product should stay
// inline.
func BenchmarkSgemmViT(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, s := range vitShapes {
		lda, ldb := s.leading()
		a, bb, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) {
				for b.Loop() {
					sgemm(threads, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
				b.ReportMetric(float64(s.m*s.n*s.k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "MAC/ns")
			})
		}
	}
}

// BenchmarkPoolHandoff times a loop of a given amount of work run inline
// and split in two through the pool (forced), for the break-even that
// minTaskNs stands for: run it with -cpu 2 and read where split starts to
// win. Each item is an axpy over 256 floats.
func BenchmarkPoolHandoff(b *testing.B) {
	const width = 256
	r := rand.New(rand.NewPCG(6, 6))
	x := randSlice(r, width)
	for _, items := range []int{16, 64, 256, 1024, 4096} {
		y := make([]float32, items*width)
		fn := func(lo, hi int) {
			for i := lo; i < hi; i++ {
				Axpy(1e-3, x, y[i*width:(i+1)*width])
			}
		}
		b.Run(fmt.Sprintf("items=%d/inline", items), func(b *testing.B) {
			for b.Loop() {
				fn(0, items)
			}
		})
		b.Run(fmt.Sprintf("items=%d/split", items), func(b *testing.B) {
			for b.Loop() {
				helpers.run(2, items, nil, fn, nil)
			}
		})
	}
}

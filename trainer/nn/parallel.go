package nn

import "github.com/shardsmith/shardsmith/trainer/kernels"

// The parts of a layer that are not matrix products run on the kernels'
// worker pool (kernels.ParallelFor), the same helpers the products use. Work
// is handed out as a func(lo, hi) stored once in a layer field, so no closure
// is built per call and a step allocates nothing. Each range writes only its
// own outputs; callers never reduce across ranges, so the result is the same
// for any number of workers, and the same whether a loop runs inline or
// split. fn must not itself call parallelFor.
func parallelFor(n, grain int, fn func(lo, hi int)) { kernels.ParallelFor(n, grain, fn) }

// parallelForWork is parallelFor for items of about nsPerItem nanoseconds
// each on one core: a loop with too little work to repay handing half of it
// to a helper runs inline (see kernels.ParallelForWork). The estimates below
// are per element of the loop's operands, from BenchmarkTransformer on
// AVX-512; they only have to be right within a factor of about two.
func parallelForWork(n, grain int, nsPerItem float64, fn func(lo, hi int)) {
	kernels.ParallelForWork(n, grain, nsPerItem, fn)
}

// parallelParts also tells fn which part it runs, for per-worker scratch.
func parallelParts(n int, fn func(part, lo, hi int)) { kernels.ParallelParts(n, fn) }

// parallelPartsWork is parallelParts for items of about nsPerItem
// nanoseconds each.
func parallelPartsWork(n int, nsPerItem float64, fn func(part, lo, hi int)) {
	kernels.ParallelPartsWork(n, nsPerItem, fn)
}

// parallelAxpy computes y += a·x (kernels.Axpy) split over the worker
// pool: each element is one rounded operation whatever range it falls in,
// so the split changes no bit. Its range function is made once, so a call
// allocates nothing.
type parallelAxpy struct {
	a    float32
	x, y []float32
	fn   func(lo, hi int)
}

func (p *parallelAxpy) run(a float32, x, y []float32) {
	if p.fn == nil {
		p.fn = p.rng
	}
	p.a, p.x, p.y = a, x, y[:len(x)]
	parallelForWork(len(x), elementGrain, nsAxpy, p.fn)
	p.x, p.y = nil, nil
}

func (p *parallelAxpy) rng(lo, hi int) { kernels.Axpy(p.a, p.x[lo:hi], p.y[lo:hi]) }

// Estimated costs, in nanoseconds per element on one core.
const (
	nsGELU        = 2   // GELU or its gradient
	nsLayerNorm   = 1.5 // LayerNorm forward
	nsLayerNormDx = 3   // LayerNorm backward to the input
	nsParamSum    = 1.5 // one row of a float64 γ/β gradient sum
	nsCopy        = 0.2 // gathering or scattering patches
	nsAxpy        = 0.3 // y += a·x, out of cache (a residual sum)
)

// gemm is the matrix product every layer uses; a variable so tests can
// separate this package's allocations from those of the kernels.
var gemm = kernels.Sgemm

// gemmSerial is the single-threaded product, for callers that already run
// one product per worker.
var gemmSerial = kernels.SgemmSerial

// gemmSerialPackB is gemmSerial with op(B) packed by the caller.
var gemmSerialPackB = kernels.SgemmSerialPackB

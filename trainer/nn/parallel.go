package nn

import "github.com/shardsmith/shardsmith/trainer/kernels"

// The parts of a layer that are not matrix products run on the kernels'
// worker pool (kernels.ParallelFor), the same helpers the products use. Work
// is handed out as a func(lo, hi) stored once in a layer field, so no closure
// is built per call and a step allocates nothing. Each range writes only its
// own outputs; callers never reduce across ranges, so the result is the same
// for any number of workers. fn must not itself call parallelFor.
func parallelFor(n, grain int, fn func(lo, hi int)) { kernels.ParallelFor(n, grain, fn) }

// parallelParts also tells fn which part it runs, for per-worker scratch.
func parallelParts(n int, fn func(part, lo, hi int)) { kernels.ParallelParts(n, fn) }

// gemm is the matrix product every layer uses; a variable so tests can
// separate this package's allocations from those of the kernels.
var gemm = kernels.Sgemm

// gemmSerial is the single-threaded product, for callers that already run
// one product per worker.
var gemmSerial = kernels.SgemmSerial

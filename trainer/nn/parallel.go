package nn

import (
	"runtime"
	"sync"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// A small pool of long-lived workers runs the parts of a layer that are not
// matrix products. Work is handed out as a func(lo, hi) stored once in a layer
// field (no closure is built per call, so a step allocates nothing) and split
// into at most GOMAXPROCS contiguous ranges. Each range writes only its own
// outputs; callers never reduce across ranges, so the result is the same for
// any number of workers.

type job struct {
	fn     func(lo, hi int)
	fnp    func(part, lo, hi int)
	part   int
	lo, hi int
	wg     *sync.WaitGroup
}

type workerPool struct {
	mu      sync.Mutex
	started int
	jobs    chan job
}

var pool = workerPool{jobs: make(chan job, 256)}

func (p *workerPool) ensure(n int) {
	p.mu.Lock()
	for p.started < n {
		p.started++
		go func() {
			for j := range p.jobs {
				if j.fnp != nil {
					j.fnp(j.part, j.lo, j.hi)
				} else {
					j.fn(j.lo, j.hi)
				}
				j.wg.Done()
			}
		}()
	}
	p.mu.Unlock()
}

// parallelFor calls fn over [0, n) split into contiguous ranges of at least
// grain items, one range per worker, and returns when all are done. The caller
// runs the first range itself. fn must not call parallelFor.
func parallelFor(wg *sync.WaitGroup, n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := runtime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if m := n / grain; m < parts {
		parts = m
	}
	if parts <= 1 {
		fn(0, n)
		return
	}
	pool.ensure(parts - 1)
	wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		pool.jobs <- job{fn: fn, lo: i * n / parts, hi: (i + 1) * n / parts, wg: wg}
	}
	fn(0, n/parts)
	wg.Wait()
}

// parallelParts is parallelFor with grain 1 that also tells fn which of the
// at most GOMAXPROCS parts it runs, so it can use per-worker scratch space.
func parallelParts(wg *sync.WaitGroup, n int, fn func(part, lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := min(runtime.GOMAXPROCS(0), n)
	if parts <= 1 {
		fn(0, 0, n)
		return
	}
	pool.ensure(parts - 1)
	wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		pool.jobs <- job{fnp: fn, part: i, lo: i * n / parts, hi: (i + 1) * n / parts, wg: wg}
	}
	fn(0, 0, n/parts)
	wg.Wait()
}

// gemm is the matrix product every layer uses; a variable so tests can
// separate this package's allocations from those of the kernels.
var gemm = kernels.Sgemm

// gemmSerial is the single-threaded product, for callers that already run
// one product per worker.
var gemmSerial = kernels.SgemmSerial

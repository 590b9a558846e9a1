package kernels

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestSplitPartsFollowsWork(t *testing.T) {
	for _, c := range []struct {
		procs, n, grain int
		ns              float64
		want            int
	}{
		{2, 1000, 1, 0, 2},                  // no estimate: the grain alone decides
		{8, 1000, 300, 0, 3},                // grain bound
		{4, 3, 1, 0, 3},                     // item bound
		{2, 64, 1, 100, 1},                  // 6.4 µs of work: inline
		{2, 64, 1, 2*minTaskNs/64 - 1, 1},   // just under two tasks' worth
		{2, 64, 1, 2 * minTaskNs / 64, 2},   // exactly two tasks' worth
		{8, 100, 1, 3 * minTaskNs / 100, 3}, // work bounds below procs
		{8, 64, 1, 100 * minTaskNs / 64, 8}, // procs bound
		{8, 64, 32, 100 * minTaskNs / 64, 2},
		{1, 1 << 20, 1, 1e6, 1},
		{4, 1, 1, 1e9, 1},
	} {
		if got := splitParts(c.procs, c.n, c.grain, c.ns); got != c.want {
			t.Errorf("splitParts(%d, %d, %d, %v) = %d, want %d", c.procs, c.n, c.grain, c.ns, got, c.want)
		}
	}
}

func TestGemmThreadsFollowsWork(t *testing.T) {
	per := gemmMACsPerNs * minTaskNs // multiply-adds in one task's worth
	for _, c := range []struct{ threads, m, n, k, want int }{
		{2, 80, 192, 64, 1},         // the default ViT's qkv at batch 16: inline
		{2, 1, 1, 2 * per, 2},       // exactly two tasks' worth
		{2, 1, 1, 2*per - 1, 1},     // just under
		{8, 1, 3, per, 3},           // work bounds below threads
		{2, 640, 192, 64, 2},        // batch 128
		{1, 4096, 4096, 4096, 1},    // one thread stays one
		{16, 4096, 4096, 4096, 16},  // threads bound
		{4, 0, 100, 100, 1},         // empty
		{4, 100000, 100000, 100, 4}, // m*n*k beyond int32
	} {
		if got := gemmThreads(c.threads, c.m, c.n, c.k, gemmMACsPerNs); got != c.want {
			t.Errorf("gemmThreads(%d, %d, %d, %d) = %d, want %d", c.threads, c.m, c.n, c.k, got, c.want)
		}
	}
}

func TestSpinFollowsTaskLength(t *testing.T) {
	spin, recent := spinFor(time.Microsecond, 0)
	if spin != minSpin || recent != time.Microsecond {
		t.Errorf("after a 1 µs task: spin %v recent %v, want %v and 1µs", spin, recent, minSpin)
	}
	spin, recent = spinFor(30*time.Microsecond, recent)
	if spin != 60*time.Microsecond {
		t.Errorf("after a 30 µs task: spin %v, want 60µs", spin)
	}
	spin, recent = spinFor(5*time.Millisecond, recent)
	if spin != maxSpin || recent != 5*time.Millisecond {
		t.Errorf("after a 5 ms task: spin %v recent %v, want %v and 5ms", spin, recent, maxSpin)
	}
	// Short tasks after a long one: the spin stays at its maximum for a
	// while, then falls back to the short tasks' length.
	var steps int
	for spin == maxSpin {
		spin, recent = spinFor(time.Microsecond, recent)
		steps++
	}
	if steps < 10 {
		t.Errorf("spin fell below its maximum after %d short tasks, want ≥ 10", steps)
	}
	for range 200 {
		spin, recent = spinFor(time.Microsecond, recent)
	}
	if spin != minSpin {
		t.Errorf("after 200 short tasks the spin is %v, want %v", spin, minSpin)
	}
}

// A loop with too little estimated work runs inline on the caller; one
// with enough is handed off, and both visit each index once.
func TestParallelForWorkInlineBelowThreshold(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const n = 100
	for _, c := range []struct {
		ns    float64
		split bool
	}{{minTaskNs / n, false}, {2 * minTaskNs / n, true}} {
		hits := make([]int32, n)
		var calls atomic.Int32
		before := Handoffs()
		ParallelForWork(n, 1, c.ns, func(lo, hi int) {
			calls.Add(1)
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
		covers(t, "ParallelForWork", hits)
		handed := Handoffs() != before
		if handed != c.split || (calls.Load() == 2) != c.split {
			t.Errorf("%v ns per item: handed off %v in %d ranges, want split %v", c.ns, handed, calls.Load(), c.split)
		}
		hits = make([]int32, n)
		before = Handoffs()
		ParallelPartsWork(n, c.ns, func(part, lo, hi int) {
			if part < 0 || part > 1 {
				t.Errorf("part %d of 2", part)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
		covers(t, "ParallelPartsWork", hits)
		if handed := Handoffs() != before; handed != c.split {
			t.Errorf("ParallelPartsWork, %v ns per item: handed off %v, want %v", c.ns, handed, c.split)
		}
	}
}

// A product the work estimate keeps inline and the same product forced
// across goroutines agree bitwise, on the ViT's shapes.
func TestSgemmInlineMatchesSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, s := range vitShapes {
		lda, ldb := s.leading()
		a, b := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n)
		c0 := randSlice(r, s.m*s.n)
		inline, split := slices.Clone(c0), slices.Clone(c0)
		SgemmSerial(s.transA, s.transB, s.m, s.n, s.k, 0.5, a, lda, b, ldb, 1, inline, s.n)
		for _, threads := range []int{2, 3} {
			copy(split, c0)
			before := Handoffs()
			sgemm(threads, s.transA, s.transB, s.m, s.n, s.k, 0.5, a, lda, b, ldb, 1, split, s.n)
			if Handoffs() == before {
				t.Errorf("%s on %d threads: not split", s.name, threads)
			}
			if !slices.Equal(inline, split) {
				t.Errorf("%s on %d threads: differs from the inline product", s.name, threads)
			}
		}
	}
}

package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// covers checks that every index of [0, n) was visited exactly once.
func covers(t *testing.T, what string, hits []int32) {
	t.Helper()
	for i, h := range hits {
		if h != 1 {
			t.Fatalf("%s: index %d visited %d times", what, i, h)
		}
	}
}

func TestParallelForVisitsEachIndexOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{0, 1, 3, 7, 64, 1000, 1 << 16} {
		for _, grain := range []int{0, 1, 8, 1 << 14} {
			hits := make([]int32, n)
			ParallelFor(n, grain, func(lo, hi int) {
				if hi-lo < min(max(grain, 1), n) && n >= max(grain, 1) {
					t.Errorf("n=%d grain=%d: range [%d,%d) is smaller than the grain", n, grain, lo, hi)
				}
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			covers(t, "ParallelFor", hits)
		}
	}
}

// The split must depend on n, grain and GOMAXPROCS only: that is what keeps
// training bitwise reproducible.
func TestParallelForSplitIsFixed(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	var want [][2]int
	for range 50 {
		var mu sync.Mutex
		var got [][2]int
		ParallelFor(10, 1, func(lo, hi int) {
			mu.Lock()
			got = append(got, [2]int{lo, hi})
			mu.Unlock()
		})
		if len(got) != 3 {
			t.Fatalf("10 items on 3 procs: %d ranges %v, want 3", len(got), got)
		}
		set := map[[2]int]bool{}
		for _, r := range got {
			set[r] = true
		}
		if want == nil {
			want = got
		}
		for _, r := range want {
			if !set[r] {
				t.Fatalf("ranges changed between calls: %v vs %v", got, want)
			}
		}
	}
}

func TestParallelPartsAreExclusive(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const n = 37
	busy := make([]atomic.Int32, 4)
	hits := make([]int32, n)
	for range 100 {
		clear(hits)
		ParallelParts(n, func(part, lo, hi int) {
			if part < 0 || part >= 4 {
				t.Errorf("part %d out of range", part)
				return
			}
			if busy[part].Add(1) != 1 {
				t.Errorf("part %d run twice at once", part)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
			busy[part].Add(-1)
		})
		covers(t, "ParallelParts", hits)
	}
}

// A parallel loop inside another, and loops from several goroutines at
// once, fall back to fresh goroutines and still cover everything.
func TestParallelForNestedAndConcurrent(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				hits := make([]int32, 16*16)
				ParallelFor(16, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						ParallelFor(16, 1, func(a, b int) {
							for j := a; j < b; j++ {
								atomic.AddInt32(&hits[i*16+j], 1)
							}
						})
					}
				})
				covers(t, "nested", hits)
			}
			_ = g
		}()
	}
	wg.Wait()
}

func TestParallelForDoesNotAllocate(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	buf := make([]float32, 1<<12)
	fn := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i]++
		}
	}
	ParallelFor(len(buf), 64, fn)
	if a := testing.AllocsPerRun(20, func() { ParallelFor(len(buf), 64, fn) }); a != 0 {
		t.Errorf("ParallelFor allocates %v times per call", a)
	}
	if buf[0] != 22 || buf[len(buf)-1] != 22 {
		t.Errorf("buffer ends at %v, %v; want 22 (one increment per call)", buf[0], buf[len(buf)-1])
	}
}

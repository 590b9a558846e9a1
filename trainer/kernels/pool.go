package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Every parallel loop of the trainer — the GEMM's rectangles of C, the layers'
// element-wise and per-channel passes, the optimizer's update — runs on one
// small pool of long-lived helper goroutines rather than on fresh ones.
// Waking a parked thread costs tens of microseconds on virtual machines (the
// idle CPU has to be brought back by the hypervisor), which is as long as a
// whole 128×256×512 product. A helper therefore spins for a short while after
// each job before it parks; the steps of one training step follow each other
// closely enough to find it awake. Helpers are woken through a channel, which
// makes the scheduler hand them an idle P.
//
// A job is tasks 0..n-1 and each task is a fixed piece of the work (a
// rectangle of C, a contiguous range of a loop), so which goroutine runs it
// does not change the result: training is bitwise the same for any number of
// helpers. The job lives in the pool itself, not on the heap, so a call
// allocates nothing when the caller's function is already a value (a method
// value stored once in a layer); a training step stays allocation-free.

// A job is worth splitting only when each task is long against the hand-off:
// publishing the job, a helper noticing it, the caller waiting for the last
// task — and on a busy machine a helper that is descheduled holding a task,
// which the caller then waits for. Callers that know the cost of their items
// say so (ParallelForWork, ParallelPartsWork, the GEMM's own estimate), and a
// job is cut into at most one task per minTaskNs of estimated work; one that
// has less than 2·minTaskNs runs inline. The estimate depends on the sizes
// only, never on timing, so the split is as fixed as before.
//
// minTaskNs is the least estimated work, in nanoseconds on one core, that a
// task handed to a helper must have (BenchmarkPoolHandoff measures the
// break-even).
const minTaskNs = 20_000

// A helper spins after a job for about as long as its last tasks took
// (spinRatio times the larger of its last task and a decaying memory of the
// earlier ones), between minSpin and maxSpin. After long tasks (the CNN's
// products, milliseconds each, separated by long serial passes) it stays
// awake the full maxSpin, as before; after short ones (the ViT's, tens of
// microseconds) it parks soon, since a helper that would spin 200 µs to save
// a wake-up worth a fraction of a 20 µs task costs more CPU than it gives.
// The spin only decides when a helper sleeps, never what a task computes.
const (
	maxSpin   = 200 * time.Microsecond
	minSpin   = 10 * time.Microsecond
	spinRatio = 2
)

// spinFor is how long a helper spins after a task that took took, given
// the decayed length recent of its earlier tasks; it returns the new
// recent too. recent decays by an eighth per task, so one long task keeps
// the spin long for a few dozen short ones.
func spinFor(took, recent time.Duration) (spin, next time.Duration) {
	next = max(took, recent-recent/8)
	return min(max(spinRatio*next, minSpin), maxSpin), next
}

// splitParts is the number of tasks a job of n items is cut into on procs
// threads: at most one per thread, each of at least grain items and, when
// nsPerItem (the estimated cost of one item on one core) is positive, of
// at least minTaskNs of work.
func splitParts(procs, n, grain int, nsPerItem float64) int {
	parts := min(procs, n/max(grain, 1), maxTasks)
	if nsPerItem > 0 {
		parts = min(parts, int(float64(n)*nsPerItem/minTaskNs))
	}
	return max(parts, 1)
}

// maxTasks bounds the tasks of one job; the count must fit the 16 bits the
// claim word gives it. Callers split into at most GOMAXPROCS tasks.
const maxTasks = 1<<16 - 1

// The claim word packs a job's sequence number (high 32 bits), its task
// count (16 bits) and the next unclaimed task (low 16 bits). A helper claims
// a task with one compare-and-swap of the whole word, so a helper still
// holding an old job's word can never claim a task of the next one.
func packClaim(seq uint32, n, next int) uint64 {
	return uint64(seq)<<32 | uint64(n)<<16 | uint64(next)
}

func unpackClaim(w uint64) (seq uint32, n, next int) {
	return uint32(w >> 32), int(w >> 16 & 0xffff), int(w & 0xffff)
}

type workerPool struct {
	mu       sync.Mutex // held by the call that owns the helpers
	started  int        // helpers running; guarded by mu
	seq      uint32     // jobs issued; guarded by mu
	claim    atomic.Uint64
	done     atomic.Int32
	sleeping atomic.Int32
	wake     chan struct{}

	// The running job's function and geometry. Written by the owner before
	// it publishes the job's claim word, read only by a goroutine that has
	// claimed one of its tasks, and cleared after the job so that helpers do
	// not keep the operands alive.
	task  func(task int)
	rng   func(lo, hi int)
	part  func(part, lo, hi int)
	total int
}

var helpers = &workerPool{wake: make(chan struct{}, 256)}

// handoffs counts the jobs split across goroutines.
var handoffs atomic.Uint64

// Handoffs is the number of jobs split across goroutines so far, the rest
// having run inline on their caller; for tests and diagnostics.
func Handoffs() uint64 { return handoffs.Load() }

// ParallelFor calls fn over [0, n) split into contiguous ranges of at least
// grain items, at most one per GOMAXPROCS, and returns when all are done.
// The split depends only on n, grain and GOMAXPROCS, and each range should
// write only its own outputs, so the result is the same whichever goroutine
// runs which range. The caller runs one range itself.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	ParallelForWork(n, grain, 0, fn)
}

// ParallelForWork is ParallelFor for items that each cost about nsPerItem
// nanoseconds on one core: it also keeps every range at least minTaskNs of
// work, so a loop too small to repay the hand-off runs inline. The split
// depends only on n, grain, nsPerItem and GOMAXPROCS.
func ParallelForWork(n, grain int, nsPerItem float64, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := splitParts(runtime.GOMAXPROCS(0), n, grain, nsPerItem)
	if parts <= 1 {
		fn(0, n)
		return
	}
	helpers.run(parts, n, nil, fn, nil)
}

// ParallelParts is ParallelFor with grain 1 that also tells fn which of the
// at most min(GOMAXPROCS, n) parts it runs; no two running calls share a
// part, so fn can use per-part scratch space.
func ParallelParts(n int, fn func(part, lo, hi int)) {
	ParallelPartsWork(n, 0, fn)
}

// ParallelPartsWork is ParallelParts for items of about nsPerItem
// nanoseconds each, split as ParallelForWork splits them.
func ParallelPartsWork(n int, nsPerItem float64, fn func(part, lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := splitParts(runtime.GOMAXPROCS(0), n, 1, nsPerItem)
	if parts <= 1 {
		fn(0, 0, n)
		return
	}
	helpers.run(parts, n, nil, nil, fn)
}

// runTasks runs run(0..n-1) on the calling goroutine and up to n-1
// helpers, returning when all tasks are done.
func runTasks(n int, run func(task int)) {
	switch {
	case n <= 0:
	case n == 1 || n > maxTasks: // more tasks than a claim word counts: run them here
		for t := range n {
			run(t)
		}
	default:
		helpers.run(n, 0, run, nil, nil)
	}
}

// exec runs task t of the current job.
func (p *workerPool) exec(t, n int) {
	switch {
	case p.task != nil:
		p.task(t)
	case p.rng != nil:
		p.rng(t*p.total/n, (t+1)*p.total/n)
	default:
		p.part(t, t*p.total/n, (t+1)*p.total/n)
	}
}

// run executes one job of n tasks. If another call owns the helpers (a
// nested or concurrent parallel call) it falls back to fresh goroutines.
func (p *workerPool) run(n, total int, task func(int), rng func(lo, hi int), part func(part, lo, hi int)) {
	handoffs.Add(1)
	if !p.mu.TryLock() {
		q := &workerPool{task: task, rng: rng, part: part, total: total}
		var wg sync.WaitGroup
		for t := 1; t < n; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q.exec(t, n)
			}()
		}
		q.exec(0, n)
		wg.Wait()
		return
	}
	defer p.mu.Unlock()
	for p.started < min(n-1, cap(p.wake)) {
		p.started++
		go p.helper()
	}
	p.task, p.rng, p.part, p.total = task, rng, part, total
	p.done.Store(0)
	p.seq++
	seq := p.seq
	p.claim.Store(packClaim(seq, n, 0))
	for s := p.sleeping.Load(); s > 0; s-- {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.work(seq, false)
	for int(p.done.Load()) < n {
		runtime.Gosched()
	}
	p.task, p.rng, p.part = nil, nil, nil
}

// work claims and runs tasks of job seq until none are left. If timed, it
// returns how long its longest task took (0 if it ran none).
func (p *workerPool) work(seq uint32, timed bool) (longest time.Duration) {
	for {
		w := p.claim.Load()
		s, n, next := unpackClaim(w)
		if s != seq || next >= n {
			return longest
		}
		if !p.claim.CompareAndSwap(w, packClaim(s, n, next+1)) {
			continue
		}
		var start time.Time
		if timed {
			start = time.Now()
		}
		p.exec(next, n)
		if timed {
			longest = max(longest, time.Since(start))
		}
		p.done.Add(1)
	}
}

// open reports the sequence number of a job newer than last that still has
// unclaimed tasks.
func (p *workerPool) open(last uint32) (uint32, bool) {
	s, n, next := unpackClaim(p.claim.Load())
	return s, s != last && next < n
}

func (p *workerPool) helper() {
	var last uint32 // seq of the last job taken
	spin, recent := maxSpin, time.Duration(0)
	for {
		seq, ok := p.open(last)
		if !ok {
			seq, ok = p.poll(last, spin)
		}
		if !ok {
			p.sleeping.Add(1)
			// Re-check after announcing sleep: a job published before the
			// announcement was seen by its caller with sleeping == 0.
			if seq, ok = p.open(last); !ok {
				<-p.wake
				p.sleeping.Add(-1)
				continue
			}
			p.sleeping.Add(-1)
		}
		last = seq
		if took := p.work(seq, true); took > 0 {
			spin, recent = spinFor(took, recent)
		}
	}
}

// poll spins for up to spin waiting for a job newer than last. It does not
// yield: a helper that gave up its P would, with the caller busy on the
// other one, only run again when the caller blocks.
func (p *workerPool) poll(last uint32, spin time.Duration) (uint32, bool) {
	deadline := time.Now().Add(spin)
	for {
		for i := 0; i < 256; i++ {
			if seq, ok := p.open(last); ok {
				return seq, true
			}
		}
		if time.Now().After(deadline) {
			return 0, false
		}
	}
}

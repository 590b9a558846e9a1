package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Parallel products run on a small pool of long-lived helper goroutines
// rather than on fresh ones. Waking a parked thread costs tens of
// microseconds on virtual machines (the idle CPU has to be brought back by
// the hypervisor), which is as long as a whole 128×256×512 product. A helper
// therefore spins for a short while after each job before it parks; the products of one training step follow
// each other closely enough to find it awake. Helpers are woken through a
// channel, which makes the scheduler hand them an idle P. Each task is a fixed
// rectangle of C, so which goroutine runs it does not affect the result.

// spinWait is how long an idle helper keeps polling for the next job.
const spinWait = 200 * time.Microsecond

// parJob is one parallel call: tasks 0..n-1, claimed by atomic increment.
type parJob struct {
	seq  uint64
	n    int32
	next atomic.Int32
	done atomic.Int32
	run  func(task int)
}

// work claims and runs tasks until none are left.
func (j *parJob) work() {
	for {
		t := j.next.Add(1) - 1
		if t >= j.n {
			return
		}
		j.run(int(t))
		j.done.Add(1)
	}
}

type workerPool struct {
	mu       sync.Mutex             // held by the call that owns the helpers
	started  int                    // helpers running; guarded by mu
	seq      uint64                 // jobs issued; guarded by mu
	job      atomic.Pointer[parJob] // the running job, nil between jobs
	sleeping atomic.Int32
	wake     chan struct{}
}

var helpers = &workerPool{wake: make(chan struct{}, 256)}

// runTasks runs run(0..n-1) on the calling goroutine and up to threads-1
// helpers, returning when all tasks are done. If another call owns the
// helpers it falls back to fresh goroutines.
func runTasks(threads, n int, run func(task int)) {
	p := helpers
	if !p.mu.TryLock() {
		var wg sync.WaitGroup
		for t := 1; t < n; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(t)
			}()
		}
		run(0)
		wg.Wait()
		return
	}
	defer p.mu.Unlock()
	for p.started < min(threads-1, cap(p.wake)) {
		p.started++
		go p.helper()
	}
	p.seq++
	j := &parJob{seq: p.seq, n: int32(n), run: run}
	p.job.Store(j)
	for s := p.sleeping.Load(); s > 0; s-- {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	j.work()
	for j.done.Load() < j.n {
		runtime.Gosched()
	}
	// Drop the job so that helpers do not keep the operands alive.
	p.job.Store(nil)
}

func (p *workerPool) helper() {
	var last uint64 // seq of the last job taken
	for {
		j := p.job.Load()
		if j == nil || j.seq == last {
			j = p.poll(last)
		}
		if j == nil {
			p.sleeping.Add(1)
			// Re-check after announcing sleep: a job stored before the
			// announcement was seen by its caller with sleeping == 0.
			if j = p.job.Load(); j == nil || j.seq == last {
				<-p.wake
				p.sleeping.Add(-1)
				continue
			}
			p.sleeping.Add(-1)
		}
		last = j.seq
		j.work()
	}
}

// poll spins for up to spinWait waiting for a job newer than last. It
// does not yield: a helper that gave up its P would, with the caller busy
// on the other one, only run again when the caller blocks.
func (p *workerPool) poll(last uint64) *parJob {
	deadline := time.Now().Add(spinWait)
	for {
		for i := 0; i < 256; i++ {
			if j := p.job.Load(); j != nil && j.seq != last {
				return j
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
	}
}

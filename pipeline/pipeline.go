// Package pipeline is a small engine for stage graphs: stages are goroutines
// connected by bounded channels, run under one errgroup so the first error
// cancels every stage, and parallel stages keep their input order.
//
// Order matters more than it seems: a dataset version promises the same bytes
// whatever the worker count, so a parallel stage numbers the items it takes and
// hands them on strictly in that order, however its workers finish. The
// reordering window is bounded (workers plus the channel buffer), so memory
// stays bounded by the graph's buffers, never by the dataset.
package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Graph owns the goroutines of a pipeline run.
type Graph struct {
	ctx   context.Context
	eg    *errgroup.Group
	start time.Time

	mu     sync.Mutex
	stages []*Stats
}

// New returns an empty graph whose stages stop when ctx is done or a stage fails.
func New(ctx context.Context) *Graph {
	eg, ctx := errgroup.WithContext(ctx)
	return &Graph{ctx: ctx, eg: eg, start: time.Now()}
}

// Context is cancelled when any stage fails or the parent context is done.
func (g *Graph) Context() context.Context { return g.ctx }

// Go runs fn as part of the graph (for work outside the stage helpers).
func (g *Graph) Go(fn func(ctx context.Context) error) { g.eg.Go(func() error { return fn(g.ctx) }) }

// Wait waits for every stage and returns the first error.
func (g *Graph) Wait() error { return g.eg.Wait() }

// Stats returns a snapshot of every stage's counters, in creation order.
func (g *Graph) Stats() []Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Snapshot, len(g.stages))
	for i, s := range g.stages {
		out[i] = s.Snapshot()
	}
	return out
}

// Stats counts the work of one stage; safe for concurrent use.
type Stats struct {
	Name    string
	Workers int
	items   atomic.Int64
	rows    atomic.Int64
	busy    atomic.Int64 // nanoseconds spent inside the stage function, summed over workers
	started time.Time
	ended   atomic.Int64 // unix nanos when the stage finished, 0 while running
}

// AddRows lets a stage count rows (e.g. images) in addition to items (batches).
func (s *Stats) AddRows(n int) { s.rows.Add(int64(n)) }

func (s *Stats) record(d time.Duration) {
	s.items.Add(1)
	s.busy.Add(int64(d))
}

func (s *Stats) finish() { s.ended.Store(time.Now().UnixNano()) }

// Snapshot is a point-in-time copy of a stage's counters.
type Snapshot struct {
	Name    string        `json:"name"`
	Workers int           `json:"workers"`
	Items   int64         `json:"items"`
	Rows    int64         `json:"rows"`
	Busy    time.Duration `json:"busy_ns"`
	Wall    time.Duration `json:"wall_ns"`
	// RowsPerSecond is rows per second of wall time (items when no rows are counted).
	RowsPerSecond float64 `json:"rows_per_second"`
}

// Snapshot returns the current counters.
func (s *Stats) Snapshot() Snapshot {
	end := time.Now()
	if e := s.ended.Load(); e != 0 {
		end = time.Unix(0, e)
	}
	sn := Snapshot{Name: s.Name, Workers: s.Workers, Items: s.items.Load(), Rows: s.rows.Load(),
		Busy: time.Duration(s.busy.Load()), Wall: end.Sub(s.started)}
	n := sn.Rows
	if n == 0 {
		n = sn.Items
	}
	if sn.Wall > 0 {
		sn.RowsPerSecond = float64(n) / sn.Wall.Seconds()
	}
	return sn
}

func (g *Graph) newStats(name string, workers int) *Stats {
	s := &Stats{Name: name, Workers: workers, started: time.Now()}
	g.mu.Lock()
	g.stages = append(g.stages, s)
	g.mu.Unlock()
	return s
}

// Source runs fn, which emits items into the returned channel (buffer buf).
// emit blocks while the channel is full and fails once the graph is cancelled.
func Source[T any](g *Graph, name string, buf int, fn func(ctx context.Context, st *Stats, emit func(T) error) error) <-chan T {
	out := make(chan T, buf)
	st := g.newStats(name, 1)
	g.eg.Go(func() error {
		defer close(out)
		defer st.finish()
		t0 := time.Now()
		emit := func(v T) error {
			st.items.Add(1)
			select {
			case out <- v:
				return nil
			case <-g.ctx.Done():
				return g.ctx.Err()
			}
		}
		err := fn(g.ctx, st, emit)
		st.busy.Store(int64(time.Since(t0)))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	return out
}

// Map applies fn to every item of in with up to workers goroutines and emits
// the results in input order. Every input gives exactly one output; a stage
// that drops or splits items is a Regroup.
func Map[In, Out any](g *Graph, name string, workers, buf int, in <-chan In, fn func(ctx context.Context, st *Stats, v In) (Out, error)) <-chan Out {
	if workers < 1 {
		workers = 1
	}
	out := make(chan Out, buf)
	st := g.newStats(name, workers)
	// futures carries one result slot per item, in input order; its capacity
	// bounds how far workers may run ahead of the slowest item.
	futures := make(chan chan Out, workers+buf)
	work, ctx := errgroup.WithContext(g.ctx)
	work.SetLimit(workers)

	g.eg.Go(func() error { // dispatcher
		defer close(futures)
		for v := range in {
			slot := make(chan Out, 1)
			select {
			case futures <- slot:
			case <-ctx.Done():
				return work.Wait()
			}
			work.Go(func() error {
				t0 := time.Now()
				r, err := fn(ctx, st, v)
				st.record(time.Since(t0))
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				slot <- r
				return nil
			})
			if ctx.Err() != nil {
				break
			}
		}
		return work.Wait()
	})
	g.eg.Go(func() error { // collector: emits results in input order
		defer close(out)
		defer st.finish()
		for slot := range futures {
			var r Out
			select {
			case r = <-slot:
			case <-g.ctx.Done():
				return nil // the dispatcher reports the error
			}
			select {
			case out <- r:
			case <-g.ctx.Done():
				return g.ctx.Err()
			}
		}
		return nil
	})
	return out
}

// Sink consumes every item of in with fn, in order, on one goroutine.
func Sink[T any](g *Graph, name string, in <-chan T, fn func(ctx context.Context, st *Stats, v T) error) {
	st := g.newStats(name, 1)
	g.eg.Go(func() error {
		defer st.finish()
		for v := range in {
			t0 := time.Now()
			err := fn(g.ctx, st, v)
			st.record(time.Since(t0))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if g.ctx.Err() != nil {
				return g.ctx.Err()
			}
		}
		return g.ctx.Err()
	})
}

// Regroup consumes in on one goroutine and emits any number of items per
// input, then whatever end emits once in is drained (end may be nil). It is
// for sequential stages that cut a stream into pieces of another size, such
// as rows into whole shards; being a stage of the graph, its time shows in
// the stage report (busy time leaves out waiting for the next stage) and the
// graph's cancellation stops it.
func Regroup[In, Out any](g *Graph, name string, buf int, in <-chan In,
	fn func(ctx context.Context, st *Stats, v In, emit func(Out) error) error,
	end func(ctx context.Context, st *Stats, emit func(Out) error) error) <-chan Out {
	out := make(chan Out, buf)
	st := g.newStats(name, 1)
	var blocked time.Duration // time spent waiting in emit: not busy
	emit := func(v Out) error {
		t0 := time.Now()
		defer func() { blocked += time.Since(t0) }()
		select {
		case out <- v:
			return nil
		case <-g.ctx.Done():
			return g.ctx.Err()
		}
	}
	g.eg.Go(func() error {
		defer close(out)
		defer st.finish()
		for v := range in {
			t0 := time.Now()
			blocked = 0
			err := fn(g.ctx, st, v, emit)
			st.record(time.Since(t0) - blocked)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := g.ctx.Err(); err != nil {
			return err
		}
		if end != nil {
			t0 := time.Now()
			blocked = 0
			err := end(g.ctx, st, emit)
			st.busy.Add(int64(time.Since(t0) - blocked))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
	return out
}

package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// runSquares pushes 0..n-1 through a Map with random per-item delays and
// returns what the sink saw.
func runSquares(t *testing.T, n, workers int, failAt int) ([]int, error) {
	g := New(context.Background())
	src := Source(g, "numbers", 4, func(ctx context.Context, st *Stats, emit func(int) error) error {
		for i := 0; i < n; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	})
	sq := Map(g, "square", workers, 2, src, func(ctx context.Context, st *Stats, v int) (int, error) {
		if v == failAt {
			return 0, errors.New("boom")
		}
		// Finish out of order on purpose.
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		st.AddRows(1)
		return v * v, nil
	})
	var got []int
	Sink(g, "collect", sq, func(ctx context.Context, st *Stats, v int) error {
		got = append(got, v)
		return nil
	})
	err := g.Wait()
	return got, err
}

func TestMapKeepsOrderWhateverTheWorkers(t *testing.T) {
	for _, w := range []int{1, 2, 8, 32} {
		got, err := runSquares(t, 500, w, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 500 {
			t.Fatalf("workers=%d: %d items, want 500", w, len(got))
		}
		for i, v := range got {
			if v != i*i {
				t.Fatalf("workers=%d: item %d is %d, want %d", w, i, v, i*i)
			}
		}
	}
}

func TestFirstErrorCancelsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	_, err := runSquares(t, 100000, 4, 50)
	if err == nil || err.Error() != "square: boom" {
		t.Fatalf("err = %v, want square: boom", err)
	}
	time.Sleep(20 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("%d goroutines left running (before %d)", after, before)
	}
}

func TestCancelStopsSource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := New(ctx)
	src := Source(g, "endless", 1, func(ctx context.Context, st *Stats, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	})
	Sink(g, "slow", src, func(ctx context.Context, st *Stats, v int) error {
		if v == 10 {
			cancel()
		}
		return nil
	})
	done := make(chan error)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("graph did not stop after cancel")
	}
}

func TestStatsCountItemsAndRows(t *testing.T) {
	g := New(context.Background())
	src := Source(g, "src", 0, func(ctx context.Context, st *Stats, emit func(int) error) error {
		for i := 0; i < 10; i++ {
			emit(i)
		}
		return nil
	})
	out := Map(g, "double", 3, 0, src, func(ctx context.Context, st *Stats, v int) (int, error) {
		st.AddRows(2)
		return v, nil
	})
	Sink(g, "sink", out, func(ctx context.Context, st *Stats, v int) error { return nil })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	s := g.Stats()
	if len(s) != 3 || s[0].Items != 10 || s[1].Items != 10 || s[1].Rows != 20 || s[2].Items != 10 || s[1].Workers != 3 {
		t.Fatalf("stats %+v", s)
	}
}

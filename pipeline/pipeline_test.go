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

// Regroup cuts a stream into pieces of another size, flushes the remainder at
// the end, and a Map after it keeps the regrouped order.
func TestRegroupCutsAndFlushes(t *testing.T) {
	for _, w := range []int{1, 4} {
		g := New(context.Background())
		src := Source(g, "numbers", 2, func(ctx context.Context, st *Stats, emit func(int) error) error {
			for i := 0; i < 23; i++ {
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		})
		var cur []int
		groups := Regroup(g, "cut", 1, src, func(ctx context.Context, st *Stats, v int, emit func([]int) error) error {
			cur = append(cur, v)
			if len(cur) == 5 {
				g := cur
				cur = nil
				return emit(g)
			}
			return nil
		}, func(ctx context.Context, st *Stats, emit func([]int) error) error {
			if len(cur) > 0 {
				return emit(cur)
			}
			return nil
		})
		sums := Map(g, "sum", w, 1, groups, func(ctx context.Context, st *Stats, v []int) (int, error) {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
			s := 0
			for _, x := range v {
				s += x
			}
			return s, nil
		})
		var got []int
		Sink(g, "collect", sums, func(ctx context.Context, st *Stats, v int) error {
			got = append(got, v)
			return nil
		})
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		want := []int{10, 35, 60, 85, 20 + 21 + 22}
		if len(got) != len(want) {
			t.Fatalf("workers=%d: got %v, want %v", w, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("workers=%d: got %v, want %v", w, got, want)
			}
		}
		if st := g.Stats(); st[1].Name != "cut" || st[1].Items != 23 {
			t.Fatalf("cut stage stats: %+v", st[1])
		}
	}
}

// A failing Regroup stops the graph with its error, named by the stage, and
// its end function never runs.
func TestRegroupErrorStopsGraph(t *testing.T) {
	g := New(context.Background())
	src := Source(g, "numbers", 0, func(ctx context.Context, st *Stats, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	})
	ended := false
	out := Regroup(g, "cut", 0, src, func(ctx context.Context, st *Stats, v int, emit func(int) error) error {
		if v == 7 {
			return errors.New("boom")
		}
		return emit(v)
	}, func(ctx context.Context, st *Stats, emit func(int) error) error {
		ended = true
		return nil
	})
	Sink(g, "drain", out, func(ctx context.Context, st *Stats, v int) error { return nil })
	err := g.Wait()
	if err == nil || err.Error() != "cut: boom" || ended {
		t.Fatalf("err = %v, ended = %v", err, ended)
	}
}

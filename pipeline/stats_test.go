package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// A finished stage's wall time is fixed at its end; the rate is rows per
// second of that wall time, or items per second when it counts no rows.
func TestSnapshotWallAndRate(t *testing.T) {
	g := New(context.Background())
	src := Source(g, "src", 0, func(ctx context.Context, st *Stats, emit func(int) error) error {
		for i := range 4 {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	})
	rows := Map(g, "rows", 2, 0, src, func(ctx context.Context, st *Stats, v int) (int, error) {
		st.AddRows(25)
		time.Sleep(time.Millisecond)
		return v, nil
	})
	Sink(g, "sink", rows, func(ctx context.Context, st *Stats, v int) error { return nil })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	first := g.Stats()
	time.Sleep(20 * time.Millisecond)
	again := g.Stats()
	for i := range first {
		if first[i].Wall != again[i].Wall || first[i].Wall <= 0 {
			t.Errorf("%s: wall %v then %v after the stage ended", first[i].Name, first[i].Wall, again[i].Wall)
		}
	}
	m, s := first[1], first[2]
	if m.Rows != 100 || m.RowsPerSecond != 100/m.Wall.Seconds() {
		t.Errorf("map: %d rows in %v at %v rows/s, want 100/wall", m.Rows, m.Wall, m.RowsPerSecond)
	}
	if s.Rows != 0 || s.RowsPerSecond != 4/s.Wall.Seconds() {
		t.Errorf("sink: %d items in %v at %v/s, want items/wall", s.Items, s.Wall, s.RowsPerSecond)
	}
}

// A stage whose wall time reads as zero (a coarse clock) reports a rate of
// 0, not NaN, so that prep --json can still encode it.
func TestSnapshotOfZeroWallIsEncodable(t *testing.T) {
	at := time.Unix(100, 0)
	s := &Stats{Name: "instant", started: at}
	s.ended.Store(at.UnixNano())
	sn := s.Snapshot()
	if sn.Wall != 0 || sn.RowsPerSecond != 0 {
		t.Fatalf("snapshot %+v, want wall 0 and rate 0", sn)
	}
	if _, err := json.Marshal(sn); err != nil {
		t.Fatal(err)
	}
}

// A Regroup stage's busy time leaves out the time its emit waits for a slow
// next stage, in fn and in end alike: the stage report must not blame the
// router for the writer's time.
func TestRegroupBusyLeavesOutBlockedEmit(t *testing.T) {
	const pause = 60 * time.Millisecond
	g := New(context.Background())
	src := Source(g, "src", 0, func(ctx context.Context, st *Stats, emit func(int) error) error {
		for i := range 3 {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	})
	re := Regroup(g, "route", 0, src,
		func(ctx context.Context, st *Stats, v int, emit func(int) error) error { return emit(v) },
		func(ctx context.Context, st *Stats, emit func(int) error) error {
			if err := emit(-1); err != nil {
				return err
			}
			return emit(-2)
		})
	Sink(g, "slow", re, func(ctx context.Context, st *Stats, v int) error {
		time.Sleep(pause)
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	r := g.Stats()[1]
	// Four of the five emits wait about one pause each for the sink; counted
	// as busy they would add up to 4·pause. Unblocked, the router's own work
	// is microseconds; a whole pause leaves room for a loaded machine.
	if r.Items != 3 || r.Busy >= pause {
		t.Fatalf("route: %d items, busy %v (the sink slept %v per item)", r.Items, r.Busy, pause)
	}
}

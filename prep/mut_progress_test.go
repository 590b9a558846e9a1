package prep

import (
	"context"
	"sync"
	"testing"
)

// Progress reports the rows of the last stage (rows whose shard is on disk)
// against the rows the build writes, and reports once more when the graph
// ends: the last report of a finished build says every row is done. In a
// partitioned build the total is the rows of the partition's own shards.
func TestProgressEndsAtTheRowsWritten(t *testing.T) {
	ts := writeTiny(t, 150, 40, 4, 4, 23)
	cfg := ts.config(t, "split: {seed: 3, val_fraction: 0.2}\nshards: {rows: 30, batch_rows: 16}\n"+
		"augment: {copies: 1, seed: 2, ops: [{translate: {pixels: 1}}]}\n")
	record := func(opts *Options) func() []Progress {
		var mu sync.Mutex
		var got []Progress
		opts.Progress = func(p Progress) {
			mu.Lock()
			got = append(got, p)
			mu.Unlock()
		}
		return func() []Progress {
			mu.Lock()
			defer mu.Unlock()
			return got
		}
	}

	opts := testOptions(t, t.TempDir())
	reports := record(&opts)
	res := build(t, cfg, opts)
	var rows int64
	for _, sp := range res.Manifest.Splits {
		rows += int64(sp.Rows)
	}
	if rows != 150*2-30+40 { // train doubled by its copy; val and test not augmented
		t.Fatalf("%d rows written", rows)
	}
	got := reports()
	if len(got) == 0 {
		t.Fatal("no progress report")
	}
	last := got[len(got)-1]
	if last.RowsDone != rows || last.RowsTotal != rows {
		t.Errorf("last report %d of %d rows, want %d of %d", last.RowsDone, last.RowsTotal, rows, rows)
	}
	if n := len(last.Stages); n == 0 || last.Stages[n-1].Name != "collect" {
		t.Errorf("stages %+v: want the collect stage last", last.Stages)
	}
	for _, p := range got {
		if p.RowsDone > p.RowsTotal || p.RowsTotal != rows {
			t.Errorf("report %d of %d rows", p.RowsDone, p.RowsTotal)
		}
	}

	// Partition 1 of 3 writes its own shards only, and counts to their rows.
	out := t.TempDir()
	popts := testOptions(t, out)
	preports := record(&popts)
	pres, err := BuildPartition(context.Background(), cfg, popts, Partition{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	var own int64
	for _, sh := range pres.Receipt.Shards {
		own += int64(sh.Rows)
	}
	pgot := preports()
	if len(pgot) == 0 {
		t.Fatal("no progress report from the partition")
	}
	plast := pgot[len(pgot)-1]
	if own == 0 || own >= rows || plast.RowsDone != own || plast.RowsTotal != own {
		t.Errorf("partition: last report %d of %d rows, want %d of %d", plast.RowsDone, plast.RowsTotal, own, own)
	}
}

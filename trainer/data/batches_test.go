package data

import (
	"context"
	"slices"
	"testing"
)

// Batches is the number of batches an epoch yields: the rows over the batch
// size rounded up, or down with DropLast; every batch is full but the last.
func TestBatchesCountsWhatAnEpochYields(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "b", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size     int
		dropLast bool
		want     []int // batch sizes
	}{
		{32, false, append(slices.Repeat([]int{32}, 12), 16)},
		{32, true, slices.Repeat([]int{32}, 12)},
		{100, false, []int{100, 100, 100, 100}},
		{100, true, []int{100, 100, 100, 100}},
		{399, false, []int{399, 1}},
		{400, false, []int{400}},
		{401, false, []int{400}},
		{401, true, nil},
	} {
		l, err := d.Loader("train", Options{BatchSize: tc.size, DropLast: tc.dropLast, Shuffle: true, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		err = l.Epoch(context.Background(), 0, func(b *Batch) error {
			sizes = append(sizes, b.Len())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sizes, tc.want) || l.Batches() != len(tc.want) {
			t.Errorf("batch size %d, drop last %v: batches %v, Batches() = %d, want %v", tc.size, tc.dropLast, sizes, l.Batches(), tc.want)
		}
	}
}

// A batch size of 1 is valid (one row per step); 0 is not.
func TestBatchSizeOne(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "one", ""))
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Loader("val", Options{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l.Batches() != 100 {
		t.Errorf("%d batches of one val row, want 100", l.Batches())
	}
	if _, err := d.Loader("val", Options{BatchSize: 0}); err == nil {
		t.Error("batch size 0 accepted")
	}
}

package data

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// An epoch's batches are allocated once, at their full size, and serve the
// epochs after it: a streamed pass and a resident one cycle through the same
// inFlight buffers epoch after epoch, never regrowing them, and still yield
// the same rows (a reused buffer holds no stale values).
func TestBatchesAreReusedAcrossEpochs(t *testing.T) {
	for _, extra := range []string{"", "normalize: {mode: none}\n"} {
		d, err := Open(makeDataset(t, t.TempDir(), "a", extra))
		if err != nil {
			t.Fatal(err)
		}
		elems := d.Elems()
		for _, opts := range []Options{{BatchSize: 24}, {BatchSize: 24, Shuffle: true, Seed: 2}} {
			l, _ := d.Loader("train", opts)
			buffers := map[*float32]bool{}
			var first []string
			for epoch := range 3 {
				var rows []string
				err := l.Epoch(context.Background(), 0, func(b *Batch) error {
					if cap(b.X) != opts.BatchSize*elems || cap(b.Y) != opts.BatchSize {
						t.Fatalf("%s shuffle %v epoch %d: batch capacity %d values, %d labels; want %d, %d",
							d.Manifest.Image.DType, opts.Shuffle, epoch, cap(b.X), cap(b.Y), opts.BatchSize*elems, opts.BatchSize)
					}
					buffers[&b.X[0]] = true
					for i := range b.Y {
						rows = append(rows, fmt.Sprint(b.Y[i], b.X[i*elems:(i+1)*elems]))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if epoch == 0 {
					first = rows
				} else if strings.Join(rows, "\n") != strings.Join(first, "\n") {
					t.Fatalf("%s shuffle %v: epoch %d (same seed) yields other rows from reused batches", d.Manifest.Image.DType, opts.Shuffle, epoch)
				}
			}
			if len(buffers) > inFlight {
				t.Errorf("%s shuffle %v: 3 epochs used %d batch buffers, want at most %d", d.Manifest.Image.DType, opts.Shuffle, len(buffers), inFlight)
			}
		}
	}
}

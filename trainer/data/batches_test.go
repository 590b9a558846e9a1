package data

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/shard"
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

// A raw loader hands out the stored bytes: normalized through the version's
// table they are exactly the floats the ordinary loader yields, row for row,
// streamed and shuffled; a float32 version is refused.
func TestRawU8BatchesHoldTheStoredBytes(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "u", "normalize: {mode: none}\n"))
	if err != nil {
		t.Fatal(err)
	}
	table, elems := d.Manifest.Normalize.Table(), d.Elems()
	for _, opts := range []Options{{BatchSize: 24}, {BatchSize: 24, Shuffle: true, Seed: 2}} {
		want := collect(t, mustLoader(t, d, opts), 1)
		raw := opts
		raw.RawU8 = true
		var got []string
		err := mustLoader(t, d, raw).Epoch(context.Background(), 1, func(b *Batch) error {
			if b.X != nil || len(b.XU8) != b.Len()*elems {
				t.Fatalf("raw batch: %d floats, %d bytes for %d rows", len(b.X), len(b.XU8), b.Len())
			}
			for i := range b.Y {
				x := make([]float32, elems)
				for j, v := range b.XU8[i*elems : (i+1)*elems] {
					x[j] = table[0][v]
				}
				got = append(got, fmt.Sprint(b.Y[i], x))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("shuffle %v: raw bytes through the table differ from the loader's floats", opts.Shuffle)
		}
	}
	f, err := Open(makeDataset(t, t.TempDir(), "f", ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Loader("train", Options{BatchSize: 8, RawU8: true}); err == nil || !strings.Contains(err.Error(), "uint8") {
		t.Errorf("raw pixels from a float32 version: %v", err)
	}
}

// A pass in storage order copies each row once, straight from its record
// batch into a batch: it allocates no window, and yields every row of every
// shard in order, across record batches (50 rows) and shards (128) that
// batches (24) straddle.
func TestStreamedPassCopiesRowsStraightIntoBatches(t *testing.T) {
	for _, extra := range []string{"", "normalize: {mode: none}\n"} {
		d, err := Open(makeDataset(t, t.TempDir(), "s", extra))
		if err != nil {
			t.Fatal(err)
		}
		var all shard.Rows
		for i := range d.Manifest.Split("train").Shards {
			r, err := d.ds.OpenShard("train", i)
			if err != nil {
				t.Fatal(err)
			}
			if err := readAll(t.Context(), r, &all); err != nil {
				t.Fatal(err)
			}
			r.Close()
		}
		elems, table := d.Elems(), d.Manifest.Normalize.Table()
		var want []string
		for i := range all.Len() {
			var x []float32
			if all.ImageU8 != nil {
				x = make([]float32, elems)
				for j, v := range all.ImageU8[i*elems : (i+1)*elems] {
					x[j] = table[0][v]
				}
			} else {
				x = all.ImageF32[i*elems : (i+1)*elems]
			}
			want = append(want, fmt.Sprint(all.Label[i], x))
		}
		l := mustLoader(t, d, Options{BatchSize: 24})
		if got := collect(t, l, 0); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the streamed pass differs from the shards read in order (%d rows, want %d)", d.Manifest.Image.DType, len(got), len(want))
		}
		if l.window.Label != nil || l.window.ImageU8 != nil || l.window.ImageF32 != nil {
			t.Errorf("%s: a streamed pass allocated a window of %d rows", d.Manifest.Image.DType, cap(l.window.Label))
		}
	}
}

func mustLoader(t *testing.T, d *Dataset, opts Options) *Loader {
	t.Helper()
	l, err := d.Loader("train", opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

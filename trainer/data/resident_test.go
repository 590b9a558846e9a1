package data

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
)

// A resident split yields, epoch after epoch, exactly the batches of
// reading every shard every epoch (and so the order Order spells out), from
// float32 and uint8 shards alike.
func TestResidentEpochsMatchReadingEveryEpoch(t *testing.T) {
	t.Cleanup(func() { noResident.Store(false) })
	for _, extra := range []string{"", "normalize: {mode: none}\n"} {
		d, err := Open(makeDataset(t, t.TempDir(), "a", extra))
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{BatchSize: 24, Shuffle: true, Seed: 4}
		res, _ := d.Loader("train", opts)
		var got [][]string
		for epoch := range 3 {
			got = append(got, collect(t, res, epoch))
		}
		if !res.resident {
			t.Fatalf("%s: a 400-row split in a 65,536-row window is not resident", d.Manifest.Image.DType)
		}
		noResident.Store(true)
		read, _ := d.Loader("train", opts)
		for epoch := range 3 {
			want := collect(t, read, epoch)
			if strings.Join(got[epoch], "\n") != strings.Join(want, "\n") {
				t.Fatalf("%s epoch %d: the resident loader's order differs from reading every epoch", d.Manifest.Image.DType, epoch)
			}
		}
		noResident.Store(false)
		if read.resident {
			t.Fatal("residency was off, yet the loader kept the split")
		}
	}
}

// A split is resident exactly when it fits in the window: at 400 rows,
// a window of 400 keeps it and one of 399 does not.
func TestResidentWhenTheSplitFits(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	for window, want := range map[int]bool{400: true, 399: false} {
		l, _ := d.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 1, Window: window})
		collect(t, l, 0)
		if l.resident != want {
			t.Errorf("window %d over 400 rows: resident %v, want %v", window, l.resident, want)
		}
	}
}

// After its first epoch a resident split is not read again: removing the
// shard files does not stop later epochs. A split larger than the window
// is read every epoch and does stop.
func TestResidentSplitIsReadOnce(t *testing.T) {
	out := makeDataset(t, t.TempDir(), "a", "")
	d, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := d.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 2})
	windowed, _ := d.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 2, Window: 100})
	first := collect(t, res, 0)
	collect(t, windowed, 0)
	for _, sh := range d.Manifest.Split("train").Shards {
		if err := os.Remove(filepath.Join(d.Dir, sh.Path)); err != nil {
			t.Fatal(err)
		}
	}
	again := collect(t, res, 1)
	if len(again) != len(first) || fmt.Sprint(sortedCopy(again)) != fmt.Sprint(sortedCopy(first)) {
		t.Fatalf("epoch 1 of the resident split: %d rows, not a permutation of epoch 0's %d", len(again), len(first))
	}
	if fmt.Sprint(again) == fmt.Sprint(first) {
		t.Fatal("epoch 1 repeated epoch 0's order")
	}
	err = windowed.Epoch(context.Background(), 1, func(*Batch) error { return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a split larger than its window, shards removed: %v, want a missing file", err)
	}
}

// Shards that contradict the manifest stop a resident fill before any
// batch is yielded, naming a bad shard, and leave nothing resident; once
// the manifest is right again the next epoch reads every shard.
func TestResidentFillRefusesABadShard(t *testing.T) {
	out := makeDataset(t, t.TempDir(), "a", "")
	dir := filepath.Join(out, "a", "latest")
	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	good, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Shard 2 is listed a row short and shard 1 a row long (the split's
	// totals still hold): the shards are read at once, so either may be
	// the one refused.
	sp := m.Split("train")
	sp.Shards[2].Rows--
	sp.Shards[1].Rows++
	b, _ := m.Marshal()
	d := openWithManifest(t, out, b)
	l, _ := d.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 1})
	batches := 0
	err = l.Epoch(context.Background(), 0, func(*Batch) error { batches++; return nil })
	long := fmt.Sprintf("%s: more than the %d rows the manifest lists", sp.Shards[2].Path, sp.Shards[2].Rows)
	short := fmt.Sprintf("%s: %d rows, manifest lists %d", sp.Shards[1].Path, sp.Shards[1].Rows-1, sp.Shards[1].Rows)
	if err == nil || !strings.Contains(err.Error(), long) && !strings.Contains(err.Error(), short) {
		t.Fatalf("error %v, want one with %q or %q", err, long, short)
	}
	if batches != 0 || l.resident {
		t.Fatalf("%d batches yielded, resident %v, after a refused shard", batches, l.resident)
	}
	d2 := openWithManifest(t, out, good)
	l2, _ := d2.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 1})
	if n := len(collect(t, l2, 0)); n != 400 || !l2.resident {
		t.Fatalf("good manifest again: %d rows, resident %v", n, l2.resident)
	}
}

// openWithManifest replaces the manifest of makeDataset's version under
// out with b and opens the version.
func openWithManifest(t *testing.T, out string, b []byte) *Dataset {
	t.Helper()
	if err := os.WriteFile(filepath.Join(out, "a", "latest", manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A pass without shuffling streams: the loader's buffer holds at most a
// shard's rows (one record batch at a time), not the split, and the
// batches are the split in manifest order.
func TestUnshuffledPassStreams(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := d.Loader("train", Options{BatchSize: 32})
	got := collect(t, l, 0)
	if c, most := cap(l.window.Label), maxBatchRows(l.split); c > most {
		t.Fatalf("the unshuffled pass buffered %d rows, more than a shard's %d", c, most)
	}
	rows, err := d.ds.ReadSplit("train")
	if err != nil {
		t.Fatal(err)
	}
	elems := d.Elems()
	norm := d.Manifest.Normalize.Table()
	if len(got) != rows.Len() {
		t.Fatalf("%d rows streamed, split has %d", len(got), rows.Len())
	}
	x := make([]float32, elems)
	for i := range got {
		if rows.ImageF32 != nil {
			copy(x, rows.ImageF32[i*elems:])
		} else {
			norm.Apply(x, rows.ImageU8[i*elems:(i+1)*elems])
		}
		if want := fmt.Sprint(rows.Label[i], x); got[i] != want {
			t.Fatalf("row %d streamed out of manifest order", i)
		}
	}
}

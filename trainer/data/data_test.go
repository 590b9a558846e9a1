package data

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
)

// makeDataset builds a small dataset with prep and returns the output root.
func makeDataset(t *testing.T, out, name, extra string) string {
	t.Helper()
	tinybuild.Build(t, out, name, tinyset.Spec{Train: 500, Test: 100, Side: 4, Seed: 5},
		"split: {seed: 1, val_fraction: 0.2}\nshards: {rows: 128, batch_rows: 50}\n"+extra)
	return out
}

func TestResolve(t *testing.T) {
	out := makeDataset(t, t.TempDir(), "a", "")
	for _, p := range []string{out, filepath.Join(out, "a"), filepath.Join(out, "a", "latest")} {
		d, err := Open(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if d.Manifest.Dataset != "a" || d.Rows("train") != 400 {
			t.Fatalf("%s: %+v", p, d.Manifest)
		}
	}
	makeDataset(t, out, "b", "")
	_, err := Open(out)
	if err == nil || !strings.Contains(err.Error(), "2 datasets") || !strings.Contains(err.Error(), filepath.Join(out, "b")) {
		t.Fatalf("ambiguous root: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Fatal("empty dir accepted")
	}
}

// collect runs one epoch and returns the examples as strings (label + pixels).
func collect(t *testing.T, l *Loader, epoch int) []string {
	t.Helper()
	var out []string
	elems := l.ds.Elems()
	err := l.Epoch(context.Background(), epoch, func(b *Batch) error {
		if b.Len() > l.opts.BatchSize || len(b.X) != b.Len()*elems {
			t.Fatalf("batch of %d rows with %d values", b.Len(), len(b.X))
		}
		for i := range b.Y {
			out = append(out, fmt.Sprint(b.Y[i], b.X[i*elems:(i+1)*elems]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestEpochsArePermutationsOfTheSplit(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := d.Loader("train", Options{BatchSize: 32})
	base := collect(t, plain, 0)
	if len(base) != 400 {
		t.Fatalf("%d rows, want 400", len(base))
	}
	for _, window := range []int{0, 100} { // full permutation and a bounded window
		l, _ := d.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 9, Window: window})
		e0, e0again, e1 := collect(t, l, 0), collect(t, l, 0), collect(t, l, 1)
		if fmt.Sprint(e0) != fmt.Sprint(e0again) {
			t.Fatal("same seed and epoch gave a different order")
		}
		if fmt.Sprint(e0) == fmt.Sprint(e1) || fmt.Sprint(e0) == fmt.Sprint(base) {
			t.Fatal("shuffle did not change the order")
		}
		if fmt.Sprint(sortedCopy(e0)) != fmt.Sprint(sortedCopy(base)) || fmt.Sprint(sortedCopy(e1)) != fmt.Sprint(sortedCopy(base)) {
			t.Fatal("a shuffled epoch is not a permutation of the split")
		}
	}
	dl, _ := d.Loader("train", Options{BatchSize: 32, DropLast: true})
	if got := len(collect(t, dl, 0)); got != 384 || dl.Batches() != 12 {
		t.Fatalf("drop last: %d rows, %d batches", got, dl.Batches())
	}
}

// A normalize: none version and the equivalent normalized one give the
// model bitwise the same floats, in the same order.
func TestUint8ShardsAreNormalizedLikeFloatShards(t *testing.T) {
	f, _ := Open(makeDataset(t, t.TempDir(), "a", ""))
	u, _ := Open(makeDataset(t, t.TempDir(), "a", "normalize: {mode: none}\n"))
	if u.Manifest.Image.DType != "uint8" || f.Manifest.Image.DType != "float32" {
		t.Fatal("expected uint8 and float32 shards")
	}
	if !f.Manifest.Normalize.Mean.Equal(u.Manifest.Normalize.Mean) || !f.Manifest.Normalize.Std.Equal(u.Manifest.Normalize.Std) {
		t.Fatalf("train statistics differ: %+v, %+v", f.Manifest.Normalize, u.Manifest.Normalize)
	}
	for _, split := range []vocab.Split{vocab.Train, vocab.Test} {
		var xf, xu []float32
		var yf, yu []uint8
		for _, c := range []struct {
			d *Dataset
			x *[]float32
			y *[]uint8
		}{{f, &xf, &yf}, {u, &xu, &yu}} {
			l, _ := c.d.Loader(split, Options{BatchSize: 64, Shuffle: true, Seed: 3, Window: 150})
			err := l.Epoch(context.Background(), 0, func(b *Batch) error {
				*c.x, *c.y = append(*c.x, b.X...), append(*c.y, b.Y...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(xf) != f.Rows(split)*16 || len(xf) != len(xu) || string(yf) != string(yu) {
			t.Fatalf("%s: %d and %d values, labels equal: %v", split, len(xf), len(xu), string(yf) == string(yu))
		}
		for i := range xf {
			if math.Float32bits(xf[i]) != math.Float32bits(xu[i]) {
				t.Fatalf("%s value %d: float shard %v, uint8 shard normalized %v", split, i, xf[i], xu[i])
			}
		}
	}
}

func TestEpochStopsOnCallbackError(t *testing.T) {
	d, _ := Open(makeDataset(t, t.TempDir(), "a", ""))
	l, _ := d.Loader("train", Options{BatchSize: 10})
	n := 0
	stop := fmt.Errorf("enough")
	err := l.Epoch(context.Background(), 0, func(b *Batch) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("err %v after %d batches", err, n)
	}
}

// The loader reads through formats/dataset: a shard whose row count
// disagrees with the manifest is refused, naming the shard and the rows.
func TestLoaderRefusesShardsTheManifestContradicts(t *testing.T) {
	out := makeDataset(t, t.TempDir(), "a", "")
	dir := filepath.Join(out, "a", "latest")
	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sp := m.Split("train")
	sp.Shards[0].Rows--
	sp.Shards[1].Rows++ // the split's totals still hold
	b, _ := m.Marshal()
	d := openWithManifest(t, out, b)
	l, _ := d.Loader("train", Options{BatchSize: 32})
	err = l.Epoch(context.Background(), 0, func(*Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), sp.Shards[0].Path) || !strings.Contains(err.Error(), fmt.Sprintf("more than the %d rows the manifest lists", sp.Shards[0].Rows)) {
		t.Fatalf("error %v", err)
	}
}

// The read hook sees one call per pass over a split, naming the split, and
// nothing once restored.
func TestReadHookSeesEachPass(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	restore := SetReadHook(func(dir, split string) {
		if dir != d.Dir {
			t.Errorf("hook got dir %s, want %s", dir, d.Dir)
		}
		seen = append(seen, split)
	})
	for _, split := range []string{"train", "val", "train"} {
		l, err := d.Loader(vocab.Split(split), Options{BatchSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Epoch(context.Background(), 0, func(*Batch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	restore()
	l, _ := d.Loader("test", Options{BatchSize: 64})
	if err := l.Epoch(context.Background(), 0, func(*Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "train,val,train" {
		t.Fatalf("hook saw %v, want train,val,train and nothing after restore", seen)
	}
}

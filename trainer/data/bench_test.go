package data

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
)

// BenchmarkEpoch times the loader alone over a real version (set
// SHARDSMITH_BENCH_SHARDS to its directory, e.g. out/mnist/latest after
// prep run configs/mnist.yaml; skipped otherwise): a shuffled train epoch,
// the first of a loader (which reads the split) and a later one (resident:
// no reading), and an unshuffled test pass, as trainer eval streams it. It
// reports the wait for the first batch, which a training step spends
// idle, and images/s over the whole epoch with no model consuming them.
func BenchmarkEpoch(b *testing.B) {
	dir := os.Getenv("SHARDSMITH_BENCH_SHARDS")
	if dir == "" {
		b.Skip("set SHARDSMITH_BENCH_SHARDS to a dataset version")
	}
	if loc, err := store.Parse(dir); err == nil && loc.Local() && !filepath.IsAbs(loc.Path) {
		// As the example says, relative to the repository root: go test
		// runs the benchmark in this package's directory.
		dir = filepath.Join("..", "..", loc.Path)
	}
	d, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name    string
		split   vocab.Split
		shuffle bool
		warm    bool // time the loader's second epoch
		raw     bool // RawU8: the stored bytes, as an int8 evaluation reads them
	}{
		{"train-first", vocab.Train, true, false, false},
		{"train-later", vocab.Train, true, true, false},
		{"test-stream", vocab.Test, false, false, false},
		{"test-stream-raw", vocab.Test, false, false, true},
	} {
		if bc.raw && d.Manifest.Image.DType != "uint8" {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			var first, all time.Duration
			rows := 0
			for b.Loop() {
				l, err := d.Loader(bc.split, Options{BatchSize: 128, Shuffle: bc.shuffle, Seed: 1, RawU8: bc.raw})
				if err != nil {
					b.Fatal(err)
				}
				epoch := 0
				if bc.warm {
					b.StopTimer()
					if err := l.Epoch(context.Background(), 0, func(*Batch) error { return nil }); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					epoch = 1
				}
				start := time.Now()
				n := 0
				err = l.Epoch(context.Background(), epoch, func(bt *Batch) error {
					if n == 0 {
						first += time.Since(start)
					}
					n++
					rows += bt.Len()
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				all += time.Since(start)
			}
			b.ReportMetric(float64(first.Microseconds())/1e3/float64(b.N), "ms-to-first-batch")
			b.ReportMetric(float64(rows)/all.Seconds(), "images/s")
		})
	}
}

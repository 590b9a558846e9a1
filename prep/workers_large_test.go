package prep

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
)

// sameFilesAcrossWorkers builds cfg with each worker count and requires
// byte-identical files (the manifest aside, which holds the build time).
func sameFilesAcrossWorkers(t *testing.T, build1 func(workers int) map[string][]byte, workers ...int) map[string][]byte {
	t.Helper()
	ref := build1(workers[0])
	for _, w := range workers[1:] {
		got := build1(w)
		if len(got) != len(ref) {
			t.Fatalf("workers=%d wrote %d files, workers=%d %d", w, len(got), workers[0], len(ref))
		}
		for name, b := range ref {
			if name != manifest.FileName && !bytes.Equal(b, got[name]) {
				t.Fatalf("%s differs between workers=%d and workers=%d", name, workers[0], w)
			}
		}
	}
	return ref
}

// Large enough that every stage has several items in flight: 5000 train
// images are five decode batches of 1024, each augmented and normalized as
// its own item by up to eight workers, and routed into 32 train shards that
// the write stage encodes concurrently. An order bug in any stage (items
// finished out of order, a shard slot filled by the wrong result) changes
// the bytes.
func TestBytesIdenticalAcrossWorkersManyItems(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("builds three 6000-image versions (too slow under -race; the smaller worker tests run there)")
	}
	ts := writeTiny(t, 5000, 1100, 4, 4, 77)
	cfg := ts.config(t, "split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 250, batch_rows: 64}\n"+
		"augment:\n  copies: 1\n  seed: 5\n  ops:\n    - rotate: {degrees: 15}\n    - noise: {stddev: 0.1, p: 0.5}\n")
	files := sameFilesAcrossWorkers(t, func(w int) map[string][]byte {
		o := testOptions(t, t.TempDir())
		o.Workers = w
		return dirFiles(t, build(t, cfg, o).Dir)
	}, 1, 3, 8)
	// 4000 train × 2 = 8000 rows in 32 shards, 1000 val in 4, 1100 test in 5.
	if len(files) != 1+32+4+5 {
		t.Fatalf("%d files", len(files))
	}
}

// The same for an image tree, whose decode stage is a pipeline.Map of
// batches of 256 files: 1100 files are five batches.
func TestImageTreeBytesIdenticalAcrossWorkersManyItems(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("writes and builds 1100 PNG files three times (too slow under -race)")
	}
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 5, map[string]int{"cat": 500, "dog": 400})
	imageTree(t, filepath.Join(dir, "test"), 6, map[string]int{"cat": 100, "dog": 100})
	cfg := treeConfig(t, dir, "")
	cfg.Shards.Rows, cfg.Shards.BatchRows = 60, 16
	files := sameFilesAcrossWorkers(t, func(w int) map[string][]byte {
		o := testOptions(t, t.TempDir())
		o.Workers = w
		return dirFiles(t, build(t, cfg, o).Dir)
	}, 1, 3, 8)
	// 675 train rows in 12 shards of 60, 225 val in 4, 200 test in 4.
	if len(files) != 1+12+4+4 {
		t.Fatalf("%d files", len(files))
	}
}

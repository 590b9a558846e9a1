package dataset_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
)

// ReadSplit sizes its slices from the manifest's row count: a split of a few
// rows costs a few kilobytes, not the up-front allocation a huge split is
// capped at (1<<27 values).
func TestReadSplitAllocatesForTheRowsItReads(t *testing.T) {
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	train := tinyRows(meta, 0, 23)
	if _, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", train, 10}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rows, err := ds.ReadSplit("train")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if !equalRows(rows, train) {
		t.Fatal("rows differ from those written")
	}
	// Decoding three small shards takes well under a megabyte; the cap
	// alone would be 512 MiB of float32.
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("ReadSplit of 23 rows allocated %d bytes", got)
	}
}

package dataset_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/shardsmith/shardsmith/formats/dataset"
)

// Example opens a version directory, streams the train split's record
// batches, and reads the test split into Go slices.
func Example() {
	tmp, err := os.MkdirTemp("", "dataset-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// A version directory as `prep run` writes it (here: 23 train and 5 test
	// rows of 2×3 images, shards of 10 rows, record batches of 4).
	dir := filepath.Join(tmp, "tiny", "abababababab")
	meta := tinyMeta(true)
	if _, err := writeVersion(dir, meta, "arrow", 4,
		splitSpec{"train", tinyRows(meta, 0, 23), 10}, splitSpec{"test", tinyRows(meta, 100, 5), 10}); err != nil {
		log.Fatal(err)
	}

	ds, err := dataset.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	m := ds.Meta()
	fmt.Printf("splits %v, images %dx%dx%d float32=%v, classes %v\n", ds.Splits(), m.Height, m.Width, m.Channels, m.Float(), m.Classes)

	perLabel := make([]int, len(m.Classes))
	batches := 0
	for rec, err := range ds.Batches("train") {
		if err != nil {
			log.Fatal(err)
		}
		batches++
		for _, l := range rec.Column(1).(*array.Uint8).Uint8Values() {
			perLabel[l]++
		}
	}
	fmt.Printf("train: %d rows in %d batches, per label %v\n", ds.NumRows("train"), batches, perLabel)

	test, err := ds.ReadSplit("test")
	if err != nil {
		log.Fatal(err)
	}
	px := m.Elems()
	fmt.Printf("test: %d rows; row 0: source %d, label %s, pixels %.4f\n", test.Len(), test.SourceIndex[0], m.Classes[test.Label[0]], test.ImageF32[:px])
	// Output:
	// splits [train test], images 2x3x1 float32=true, classes [zero one two]
	// train: 23 rows in 7 batches, per label [8 8 7]
	// test: 5 rows; row 0: source 100, label one, pixels [0.9490 1.4353 1.9216 -1.6078 -1.1216 -0.6353]
}

package data

import (
	"context"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
)

// Batches of a 3-channel set are CHW: value (k, y, x) of an example is
// channel k of pixel (y, x) of the stored HWC image, normalized with channel
// k's table; float32 and uint8 shards give the same floats.
func TestBatchesAreCHW(t *testing.T) {
	const side, c = 4, 3
	var got [][]float32
	for _, mode := range []string{"compute", "none"} {
		out := t.TempDir()
		tinybuild.Build(t, out, "rgb", tinyset.Spec{Train: 50, Test: 10, Side: side, Channels: c, Seed: 5},
			"split: {seed: 1, val_fraction: 0.2}\nshards: {rows: 16, batch_rows: 8}\nnormalize: {mode: "+mode+"}\n")
		ds, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ds.Loader(vocab.Test, Options{BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ds.ds.ReadSplit(vocab.Test)
		if err != nil {
			t.Fatal(err)
		}
		table := ds.Manifest.Normalize.Table()
		if table.Channels() != c {
			t.Fatalf("%s: %d tables", mode, table.Channels())
		}
		elems := ds.Elems()
		var all []float32
		row := 0
		err = l.Epoch(context.Background(), 0, func(b *Batch) error {
			for i := range b.Y {
				x := b.X[i*elems : (i+1)*elems]
				for k := range c {
					for p := range side * side {
						want := rows.ImageF32
						var v float32
						if want != nil {
							v = want[row*elems+p*c+k]
						} else {
							v = table[k][rows.ImageU8[row*elems+p*c+k]]
						}
						if x[k*side*side+p] != v {
							t.Fatalf("%s: example %d channel %d pixel %d = %v, want %v", mode, row, k, p, x[k*side*side+p], v)
						}
					}
				}
				row++
			}
			all = append(all, b.X...)
			return nil
		})
		if err != nil || row != 10 {
			t.Fatalf("%s: %d examples, %v", mode, row, err)
		}
		got = append(got, all)
	}
	if !slices.Equal(got[0], got[1]) {
		t.Fatal("float32 and uint8 shards give different inputs")
	}
}

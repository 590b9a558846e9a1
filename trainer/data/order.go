package data

import (
	"fmt"
	"math/rand/v2"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// The row order of an epoch, spelled out for other implementations (the
// Python package shardsmith reproduces it bit for bit, checked against
// testdata/order.json):
//
//  1. rng = math/rand/v2 PCG (PCG-DXSM) seeded (Seed, epoch+0x9e3779b97f4a7c15).
//  2. The split's shards, in manifest order, are permuted by rng.Shuffle.
//  3. Rows are read shard by shard in that order, one record batch (an
//     Arrow IPC record batch or a Parquet row group) at a time, into a
//     window; whenever the window holds ≥ Window rows after a batch, and
//     once more at the end, the window's rows are permuted by rng.Shuffle,
//     emitted, and the window emptied.
//
// rng.Shuffle is Fisher–Yates from the top: for i = n−1 down to 1, swap i
// with j = rng.uint64n(i+1), Lemire's multiply-and-reject bounded integer.
// Without Shuffle the order is the manifest's.

// epochRand is the generator of one epoch's order.
func epochRand(seed uint64, epoch int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(epoch)+0x9e3779b97f4a7c15))
}

// Order returns the order of an epoch as global row indices of the split
// (rows numbered through the shards in manifest order), given the row
// count of every record batch of every shard (batchRows[shard][batch]).
// It is the order in which Loader.Epoch yields rows, without reading them.
func Order(batchRows [][]int, shuffle bool, seed uint64, epoch, window int) []int {
	if window <= 0 {
		window = defaultWindow
	}
	offsets := make([]int, len(batchRows))
	total := 0
	for i, b := range batchRows {
		offsets[i] = total
		for _, n := range b {
			total += n
		}
	}
	order := make([]int, len(batchRows))
	for i := range order {
		order[i] = i
	}
	var rng *rand.Rand
	if shuffle {
		rng = epochRand(seed, epoch)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	out := make([]int, 0, total)
	var win []int // global indices of the rows in the window
	flush := func() {
		if rng != nil {
			rng.Shuffle(len(win), func(i, j int) { win[i], win[j] = win[j], win[i] })
		}
		out = append(out, win...)
		win = win[:0]
	}
	for _, si := range order {
		row := offsets[si]
		for _, n := range batchRows[si] {
			for k := 0; k < n; k++ {
				win = append(win, row+k)
			}
			row += n
			if len(win) >= window {
				flush()
			}
		}
	}
	if len(win) > 0 {
		flush()
	}
	return out
}

// BatchRows reads the row count of every record batch of every shard of a
// split, in manifest order: the input of Order. It reads (and so checks)
// every shard.
func (d *Dataset) BatchRows(split vocab.Split) ([][]int, error) {
	sp := d.Manifest.Split(split)
	if sp == nil {
		return nil, fmt.Errorf("%s: no %s split", d.Dir, split)
	}
	out := make([][]int, len(sp.Shards))
	for i := range sp.Shards {
		r, err := d.ds.OpenShard(split, i)
		if err != nil {
			return nil, err
		}
		for {
			rec, err := r.NextBatch()
			if err != nil {
				r.Close()
				return nil, err
			}
			if rec == nil {
				break
			}
			out[i] = append(out[i], int(rec.NumRows()))
			rec.Release()
		}
		r.Close()
	}
	return out, nil
}

// Order returns the row order of an epoch of the loader (see Order).
func (l *Loader) Order(epoch int) ([]int, error) {
	br, err := l.ds.BatchRows(l.split.Name)
	if err != nil {
		return nil, err
	}
	return Order(br, l.opts.Shuffle, l.opts.Seed, epoch, l.opts.Window), nil
}

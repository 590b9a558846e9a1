package prep

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/stages/split"
)

// A partitioned build splits the shards of one version among N independent
// runs (processes, machines, the pods of a Kubernetes Indexed Job or the
// tasks of a Slurm array) and a final commit:
//
//	prep run CONFIG --partition I/N   (for every I in 0..N-1, in any order, at once)
//	prep commit CONFIG
//
// Assignment. The shards of a version are numbered in one sequence: the
// train split's shards in index order, then val's, then test's (splits
// without rows have none). Shard g of that sequence belongs to partition
// g mod N. It depends only on the shard layout, which the config and the
// labels fix, so every partition and the commit compute it alike, and N
// larger than the number of shards leaves the partitions beyond it empty.
//
// Every partition reads all the sources — the version is a hash of their
// content, and the shard a row lands in depends on the split of every image
// before it — but it augments, normalizes, compresses and writes only the
// images of its own shards, which is where a build spends its time.
//
// Statistics. The train statistics that normalization needs are computed by
// every partition itself, in the same first pass as a one-process build
// (from the statistics cache when it has the entry). They are a function
// of per-channel 256-bin histograms of integer counts, so every partition
// gets the same float64 bits whatever the order it reads in; the pass is a
// decompression of the train images, cheap beside the build; and it needs
// no coordination, no shared writable place before the partitions start and
// no ordering between them — all the pods of an Indexed Job start at once.
// Each receipt records the statistics it used and the commit refuses
// receipts that disagree.

// Partition is one part of a partitioned build: Index of Count (0 ≤ Index < Count).
type Partition struct{ Index, Count int }

// MaxPartitions bounds N: more partitions than this are a typo.
const MaxPartitions = 100000

// String is the I/N form the command line takes.
func (p Partition) String() string { return fmt.Sprintf("%d/%d", p.Index, p.Count) }

// ParsePartition reads "I/N": two decimal integers, 0 ≤ I < N ≤ MaxPartitions.
// "I of N" is accepted too, and so is surrounding white space (a value
// assembled from environment variables).
func ParsePartition(s string) (Partition, error) {
	t := strings.TrimSpace(s)
	a, b, ok := strings.Cut(t, "/")
	if !ok {
		a, b, ok = strings.Cut(t, " of ")
	}
	if !ok {
		return Partition{}, fmt.Errorf("partition %q: want I/N, e.g. 0/4 (partition I of N, I from 0 to N-1)", s)
	}
	num := func(what, v string) (int, error) {
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, fmt.Errorf("partition %q: %s is empty (an unset environment variable?); want I/N, e.g. 0/4", s, what)
		}
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("partition %q: %s %q is not a non-negative decimal integer", s, what, v)
			}
		}
		n, err := strconv.Atoi(v)
		if err != nil || n > MaxPartitions {
			return 0, fmt.Errorf("partition %q: %s %q is more than %d", s, what, v, MaxPartitions)
		}
		return n, nil
	}
	i, err := num("the index I", a)
	if err != nil {
		return Partition{}, err
	}
	n, err := num("the count N", b)
	if err != nil {
		return Partition{}, err
	}
	if n == 0 {
		return Partition{}, fmt.Errorf("partition %q: the count N must be at least 1", s)
	}
	if i >= n {
		return Partition{}, fmt.Errorf("partition %q: the index I must be below N (partitions are numbered 0 to %d)", s, n-1)
	}
	return Partition{Index: i, Count: n}, nil
}

// shardRef names one shard of a layout: its split and index in the split.
type shardRef struct {
	split uint8
	idx   int
}

// assignShards lists, for each of n partitions, the shards it owns under the
// assignment above, given the number of shards of each split (in split id
// order). The commit checks receipts against it.
func assignShards(nShards []int, n int) [][]shardRef {
	out := make([][]shardRef, n)
	g := 0
	for sp, count := range nShards {
		for i := 0; i < count; i++ {
			out[g%n] = append(out[g%n], shardRef{uint8(sp), i})
			g++
		}
	}
	return out
}

// partitionRun carries a partition through the build graph: the partition
// asked for, and the filter buildInto makes for it.
type partitionRun struct {
	p      Partition
	filter *partFilter
}

// partFilter keeps, in a partitioned build, the rows of the partition's
// shards and nothing else, in two places: before augmentation it drops the
// source images none of whose rows is in an owned shard (so they are
// neither augmented nor normalized), and in the route stage it drops the
// rows of an image that straddles an owned and a foreign shard which fall
// in the foreign one. Row r of a split (augmented copies included) is in
// shard r / perShard, and the image of rank k in its split (in source
// order) gives rows k·m … k·m+m−1, m being 1 plus its copies: the filter
// knows every row's shard without counting what it drops.
type partFilter struct {
	plans []*splitPlan
	mult  []int      // rows per source image, per split
	rank  []int      // rank[source index] in its split; -1 if dropped
	owned [][]bool   // owned[split][shard]
	hist  [][][]int  // hist[split][shard][label] of the rows kept
	rows  int64      // rows of the owned shards
	want  []int      // next row position expected, per split (a check)
	refs  []shardRef // the owned shards, in sequence order
}

func newPartFilter(p Partition, lay *layout, cfg *config.Config, classes int) *partFilter {
	f := &partFilter{plans: lay.plans, mult: make([]int, len(lay.plans)), owned: make([][]bool, len(lay.plans)),
		hist: make([][][]int, len(lay.plans)), want: make([]int, len(lay.plans))}
	nShards := make([]int, len(lay.plans))
	for sp, pl := range lay.plans {
		f.mult[sp] = 1
		if pl.augmented {
			f.mult[sp] += cfg.Augment.Copies
		}
		nShards[sp] = pl.nShards
		f.owned[sp] = make([]bool, pl.nShards)
		f.hist[sp] = make([][]int, pl.nShards)
	}
	f.refs = assignShards(nShards, p.Count)[p.Index]
	for _, r := range f.refs {
		f.owned[r.split][r.idx] = true
		f.hist[r.split][r.idx] = make([]int, classes)
		f.rows += int64(lay.plans[r.split].shardRows(r.idx))
	}
	next := make([]int, len(lay.plans))
	f.rank = make([]int, 0, len(lay.trainAssign)+len(lay.testAssign))
	for _, a := range [][]uint8{lay.trainAssign, lay.testAssign} {
		for _, s := range a {
			if s == split.Drop {
				f.rank = append(f.rank, -1)
				continue
			}
			f.rank = append(f.rank, next[s])
			next[s]++
		}
	}
	return f
}

// shardRows is the number of rows of shard i of the split.
func (p *splitPlan) shardRows(i int) int { return min(p.perShard, p.rows-i*p.perShard) }

// imageNeeded reports whether any row of the source image src is in an owned shard.
func (f *partFilter) imageNeeded(sp uint8, src uint64) bool {
	pl := f.plans[sp]
	first := f.rank[src] * f.mult[sp]
	for s := first / pl.perShard; s <= (first+f.mult[sp]-1)/pl.perShard; s++ {
		if f.owned[sp][s] {
			return true
		}
	}
	return false
}

// position is the row position in its split of copy c of image src.
func (f *partFilter) position(sp uint8, src uint64, c uint16) int {
	return f.rank[src]*f.mult[sp] + int(c)
}

// shardOf is the shard a row belongs to.
func (f *partFilter) shardOf(sp uint8, src uint64, c uint16) int {
	return f.position(sp, src, c) / f.plans[sp].perShard
}

// stage is the filter before augmentation: it drops the source images the
// partition does not need, compacting each item in place.
func (f *partFilter) stage(g *pipeline.Graph, in <-chan item, elems int) <-chan item {
	return pipeline.Regroup(g, "partition", 2, in, func(ctx context.Context, st *pipeline.Stats, it item, emit func(item) error) error {
		it.split = compact(&it.rows, it.split, elems, func(i int) bool {
			return it.split[i] != split.Drop && f.imageNeeded(it.split[i], it.rows.SourceIndex[i])
		})
		if it.rows.Len() == 0 {
			bytePool.put(it.rows.ImageU8)
			return nil
		}
		st.AddRows(it.rows.Len())
		return emit(it)
	}, nil)
}

// keepOwned drops, in the route stage, the rows that belong to shards of
// other partitions and counts the labels of the rest per shard. It checks
// that the rows of each owned shard arrive whole and in order, so a row can
// never end up in the wrong shard.
func (f *partFilter) keepOwned(rows *shard.Rows, splits []uint8, elems int) ([]uint8, error) {
	var bad error
	out := compact(rows, splits, elems, func(i int) bool {
		sp := splits[i]
		if sp == split.Drop {
			return false
		}
		pos := f.position(sp, rows.SourceIndex[i], rows.Copy[i])
		s := pos / f.plans[sp].perShard
		if !f.owned[sp][s] {
			return false
		}
		if w, ps := f.want[sp], f.plans[sp].perShard; pos != w && (pos < w || pos%ps != 0 || w%ps != 0) && bad == nil {
			bad = fmt.Errorf("partition filter: split %s row %d arrived where row %d was expected", vocab.Splits[sp], pos, w)
		}
		f.want[sp] = pos + 1
		f.hist[sp][s][rows.Label[i]]++
		return true
	})
	return out, bad
}

// check confirms, after the graph finished, that exactly the owned shards
// were written, each with its planned rows.
func (f *partFilter) check(results [][]manifest.Shard) error {
	for sp, rs := range results {
		for i, r := range rs {
			switch {
			case f.owned[sp][i] && r.Path == "":
				return fmt.Errorf("partition: split %s shard %d was not written", vocab.Splits[sp], i)
			case !f.owned[sp][i] && r.Path != "":
				return fmt.Errorf("partition: split %s shard %d belongs to another partition but was written", vocab.Splits[sp], i)
			case f.owned[sp][i] && r.Rows != f.plans[sp].shardRows(i):
				return fmt.Errorf("partition: split %s shard %d has %d rows, planned %d", vocab.Splits[sp], i, r.Rows, f.plans[sp].shardRows(i))
			}
		}
	}
	return nil
}

// compact keeps, in place, the rows i of r for which keep(i) holds (keep
// sees the rows as they were) and returns their splits in a new slice (the
// one given may be the layout's own).
func compact(r *shard.Rows, splits []uint8, elems int, keep func(i int) bool) []uint8 {
	n := r.Len()
	out := make([]uint8, 0, n)
	w := 0
	for i := 0; i < n; i++ {
		if !keep(i) {
			continue
		}
		out = append(out, splits[i])
		if w != i {
			r.SourceIndex[w], r.Label[w], r.Copy[w] = r.SourceIndex[i], r.Label[i], r.Copy[i]
			if r.SourcePath != nil {
				r.SourcePath[w] = r.SourcePath[i]
			}
			if r.ImageU8 != nil {
				copy(r.ImageU8[w*elems:(w+1)*elems], r.ImageU8[i*elems:(i+1)*elems])
			}
			if r.ImageF32 != nil {
				copy(r.ImageF32[w*elems:(w+1)*elems], r.ImageF32[i*elems:(i+1)*elems])
			}
		}
		w++
	}
	r.SourceIndex, r.Label, r.Copy = r.SourceIndex[:w], r.Label[:w], r.Copy[:w]
	if r.SourcePath != nil {
		r.SourcePath = r.SourcePath[:w]
	}
	if r.ImageU8 != nil {
		r.ImageU8 = r.ImageU8[:w*elems]
	}
	if r.ImageF32 != nil {
		r.ImageF32 = r.ImageF32[:w*elems]
	}
	return out
}

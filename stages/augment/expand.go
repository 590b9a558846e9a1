package augment

import "github.com/shardsmith/shardsmith/formats/shard"

// Expander inserts augmented copies into a run of rows: every row whose split
// is augmented is followed by Copies variants of it (copy 1..Copies), so a
// source image and its variants stay together, in the same split and in
// source order, whatever the worker count.
type Expander struct {
	Aug    *Augmenter
	Copies int
	// Splits[s] says whether split id s gets augmented copies.
	Splits [256]bool
	// Alloc returns a pixel buffer of n bytes whose contents are overwritten
	// (a pool's get); nil allocates.
	Alloc func(n int) []uint8
}

// Expand returns rows with the copies inserted, and the split of each output
// row. When no row of the run is augmented it returns its inputs unchanged
// and expanded is false; otherwise the output is new and the caller may
// recycle rows.ImageU8.
func (e *Expander) Expand(rows shard.Rows, splits []uint8) (out shard.Rows, outSplits []uint8, expanded bool) {
	n := rows.Len()
	extra := 0
	for _, s := range splits {
		if e.Splits[s] {
			extra += e.Copies
		}
	}
	if extra == 0 {
		return rows, splits, false
	}
	elems := e.Aug.Elems()
	total := n + extra
	alloc := e.Alloc
	if alloc == nil {
		alloc = func(n int) []uint8 { return make([]uint8, n) }
	}
	out = shard.Rows{SourceIndex: make([]uint64, 0, total), Label: make([]uint8, 0, total), Copy: make([]uint16, 0, total),
		ImageU8: alloc(total * elems)}
	if rows.SourcePath != nil {
		out.SourcePath = make([]string, 0, total)
	}
	outSplits = make([]uint8, 0, total)
	k := 0
	for i := 0; i < n; i++ {
		src := rows.ImageU8[i*elems : (i+1)*elems]
		c := 0
		if e.Splits[splits[i]] {
			c = e.Copies
		}
		for j := 0; j <= c; j++ {
			dst := out.ImageU8[k*elems : (k+1)*elems]
			if j == 0 {
				copy(dst, src)
			} else {
				e.Aug.Apply(dst, src, rows.SourceIndex[i], j)
			}
			out.SourceIndex = append(out.SourceIndex, rows.SourceIndex[i])
			out.Label = append(out.Label, rows.Label[i])
			out.Copy = append(out.Copy, uint16(j))
			if rows.SourcePath != nil {
				out.SourcePath = append(out.SourcePath, rows.SourcePath[i])
			}
			outSplits = append(outSplits, splits[i])
			k++
		}
	}
	return out, outSplits, true
}

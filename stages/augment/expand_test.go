package augment

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/shardsmith/shardsmith/formats/shard"
)

// Expand puts each augmented row's copies right after it, with the copy
// index, the source's label and split, and the pixels Apply makes for
// (source index, copy); rows of other splits pass through alone.
func TestExpandInsertsCopiesAfterTheirOriginal(t *testing.T) {
	const w, h = 8, 8
	a, err := New(3, w, h, []Spec{{Op: "rotate", Params: map[string]float64{"degrees": 20}}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	rows := shard.Rows{SourceIndex: []uint64{10, 11, 12}, Label: []uint8{1, 2, 3}, Copy: make([]uint16, 3)}
	for range 3 {
		rows.ImageU8 = append(rows.ImageU8, synthDigit(r, w, h)...)
	}
	splits := []uint8{0, 2, 0} // train, test, train
	e := &Expander{Aug: a, Copies: 2}
	e.Splits[0] = true
	out, outSplits, expanded := e.Expand(rows, splits)
	if !expanded || out.Len() != 7 || len(outSplits) != 7 {
		t.Fatalf("expanded=%v, %d rows, %d splits; want 7", expanded, out.Len(), len(outSplits))
	}
	wantSrc := []uint64{10, 10, 10, 11, 12, 12, 12}
	wantCopy := []uint16{0, 1, 2, 0, 0, 1, 2}
	wantSplit := []uint8{0, 0, 0, 2, 0, 0, 0}
	orig := []int{0, 0, 0, 1, 2, 2, 2}
	dst := make([]uint8, w*h)
	for k := range wantSrc {
		if out.SourceIndex[k] != wantSrc[k] || out.Copy[k] != wantCopy[k] || outSplits[k] != wantSplit[k] || out.Label[k] != rows.Label[orig[k]] {
			t.Fatalf("row %d: src %d copy %d split %d label %d", k, out.SourceIndex[k], out.Copy[k], outSplits[k], out.Label[k])
		}
		src := rows.ImageU8[orig[k]*w*h : (orig[k]+1)*w*h]
		want := src
		if wantCopy[k] > 0 {
			a.Apply(dst, src, wantSrc[k], int(wantCopy[k]))
			want = dst
		}
		if !bytes.Equal(out.ImageU8[k*w*h:(k+1)*w*h], want) {
			t.Fatalf("row %d: pixels differ from Apply", k)
		}
	}
	// Nothing augmented: the input comes back as is.
	none, s, expanded := e.Expand(rows.Slice(1, 2, w*h), splits[1:2])
	if expanded || none.Len() != 1 || s[0] != 2 {
		t.Fatalf("unaugmented run: expanded=%v, %d rows", expanded, none.Len())
	}
}

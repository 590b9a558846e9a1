package shard

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// A row group's image chunk holds rows × H·W·C values; a row count whose
// product overflows int64 is refused as such, and one just below the
// overflow is compared like any other (here the next row group then finds
// no rows left). The seed's images have 6 pixels; its first row group is
// declared to have n rows, with every chunk agreeing.
func TestParquetImageValueCountOverflow(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{math.MaxInt64 / 6, "row group 1 declares 4 rows, more than the 0 the footer leaves for it"},
		{1 << 62, "row group 0 declares 4611686018427387904 rows of 6 pixels"},
	} {
		d := parquetDamage{float: true, comp: "zstd", meta: func(md *metadata.FileMetaData) {
			md.FileMetaData.NumRows = c.n
			rg := md.FileMetaData.RowGroups[0]
			rg.NumRows = c.n
			for i, col := range rg.Columns {
				col.MetaData.NumValues = c.n
				if i == 3 {
					col.MetaData.NumValues = c.n * 6 // wraps for 2⁶²
				}
			}
		}}
		_, err := parquetBytes(d.damaged(t), "s.parquet", memory.DefaultAllocator)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%d rows: %v, want it to end with %q", c.n, err, c.want)
		}
	}
}

// An image dimension may be 65536: a Parquet shard of 1×65536 images reads
// back.
func TestParquetWidestImage(t *testing.T) {
	meta := testMeta(false)
	meta.Height, meta.Width = 1, 1<<16
	rows := randomRows(rand.New(rand.NewPCG(6, 6)), 2, meta)
	p, _ := writeParquetFile(t, meta, rows)
	r, err := OpenParquet(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back, err := r.ReadAll()
	if err != nil || !equalRows(back, rows) {
		t.Fatalf("rows differ after the round trip (%v)", err)
	}
}

// The key/value metadata may come in any order: a shard whose entries are
// reordered (height first) reads back the same rows.
func TestParquetKeyValuesInAnyOrder(t *testing.T) {
	d := parquetDamage{float: true, comp: "zstd", meta: func(md *metadata.FileMetaData) {
		kv := md.FileMetaData.KeyValueMetadata
		i := 0
		for i < len(kv) && kv[i].Key != "height" {
			i++
		}
		if i == 0 || i == len(kv) {
			t.Fatalf("height at %d of %d", i, len(kv))
		}
		kv[0], kv[i] = kv[i], kv[0]
	}}
	data := d.damaged(t)
	r, err := parquetBytes(data, "s.parquet", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back, err := r.ReadAll()
	want := readParquetBytes(t, seedParquet(t, true, "zstd"))
	if err != nil || !sameRows(back, want) || r.Meta().Height != 3 {
		t.Fatalf("rows or metadata differ (%v)", err)
	}
}

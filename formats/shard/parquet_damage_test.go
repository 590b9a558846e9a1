package shard

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Precise damages of a Parquet shard, each of something arrow-go trusts:
// the footer (rewritten with one field changed) or a page of column data.
// The seed is seedParquet: 9 rows in row groups of 4, 4 and 1, images of
// 3×2×1 pixels. Every damaged file must be refused with the error given;
// the files are also the bad-* seeds of FuzzOpenParquet (written with
// -update-corpus).

// parquetDamage is one damage: apply changes the seed's footer metadata (or,
// with raw, the file bytes).
type parquetDamage struct {
	name  string
	float bool
	comp  vocab.Compression
	meta  func(*metadata.FileMetaData)
	raw   func(t *testing.T, data []byte, md *metadata.FileMetaData)
	want  string
}

var parquetDamages = []parquetDamage{
	{name: "bad-pq-file-rows", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.NumRows = 33 },
		want: "row groups hold 9 rows, the footer declares 33"},
	{name: "bad-pq-file-rows-fewer", float: false, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.NumRows = 5 },
		want: "row group 1 declares 4 rows, more than the 1 the footer leaves for it"},
	{name: "bad-pq-file-rows-negative", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.NumRows = -1 },
		want: "footer declares -1 rows"},
	{name: "bad-pq-row-group-rows", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.RowGroups[2].NumRows = 0 },
		want: "row group 2 column source_index: the column chunk holds 1 values, want 0 for 0 rows"},
	{name: "bad-pq-row-group-rows-huge", float: false, comp: "lz4",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.RowGroups[0].NumRows = 1 << 40 },
		want: "row group 0 declares 1099511627776 rows"},
	{name: "bad-pq-rows-moved", float: true, comp: "none",
		// Both counts agree with the file's 9 rows; the chunks do not.
		meta: func(md *metadata.FileMetaData) {
			md.FileMetaData.RowGroups[0].NumRows = 3
			md.FileMetaData.RowGroups[1].NumRows = 5
		},
		want: "row group 0 column source_index: the column chunk holds 4 values, want 3 for 3 rows"},
	{name: "bad-pq-chunk-values", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.RowGroups[1].Columns[1].MetaData.NumValues = 3 },
		want: "row group 1 column label: the column chunk holds 3 values, want 4 for 4 rows"},
	{name: "bad-pq-image-values", float: false, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { md.FileMetaData.RowGroups[0].Columns[3].MetaData.NumValues = 23 },
		want: "row group 0 column image: the column chunk holds 23 values, want 24 for 4 rows"},
	{name: "bad-pq-missing-chunk", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) {
			rg := md.FileMetaData.RowGroups[1]
			rg.Columns = rg.Columns[:3]
		},
		want: "row group 1 has 3 column chunks, want 4"},
	{name: "bad-pq-external-chunk", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) {
			p := "other.parquet"
			md.FileMetaData.RowGroups[0].Columns[2].FilePath = &p
		},
		want: `row group 0 column copy: data in another file ("other.parquet")`},
	{name: "bad-pq-height", float: true, comp: "zstd",
		// The key/value metadata and the image lists disagree.
		meta: func(md *metadata.FileMetaData) { setKV(md, "height", "4") },
		want: "row group 0 column image: the column chunk holds 24 values, want 32 for 4 rows"},
	{name: "bad-pq-duplicate-key", float: false, comp: "zstd",
		meta: func(md *metadata.FileMetaData) {
			kv := md.FileMetaData.KeyValueMetadata
			var width int
			for i, e := range kv {
				if e.Key == "width" {
					width = i
				}
			}
			dup := *kv[width] // a second "width", with another value
			v := "3"
			dup.Value = &v
			md.FileMetaData.KeyValueMetadata = append(kv, &dup)
		},
		want: `key/value metadata has "width" twice`},
	{name: "bad-pq-shard-format", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) { setKV(md, "shard_format", "shard/99") },
		want: `shard_format "shard/99", this reader reads "shard/1"`},
	{name: "bad-pq-schema-children", float: false, comp: "zstd",
		// arrow-go would make a slice of 2³⁰ schema nodes for the root.
		meta: func(md *metadata.FileMetaData) {
			v := int32(1 << 30)
			md.FileMetaData.Schema[0].NumChildren = &v
		},
		want: "footer: schema element 0 declares 1073741824 children, but only 6 elements follow it"},
	{name: "bad-pq-schema-children-negative", float: true, comp: "zstd",
		meta: func(md *metadata.FileMetaData) {
			v := int32(-2)
			md.FileMetaData.Schema[4].NumChildren = &v
		},
		want: "footer: schema element 4 declares -2 children"},
	{name: "bad-pq-page-values", float: true, comp: "zstd",
		// The footer is intact; the data page of row group 1's label column
		// says it holds 3 values, not 4.
		raw: func(t *testing.T, data []byte, md *metadata.FileMetaData) {
			setPageValues(t, data, md, 1, 1, 3)
		},
		want: "row group 1: column label: its pages hold 3 rows, the footer declares 4"},
	{name: "bad-pq-page-values-image", float: false, comp: "none",
		raw: func(t *testing.T, data []byte, md *metadata.FileMetaData) {
			setPageValues(t, data, md, 0, 3, 18)
		},
		want: "row group 0: column image: its pages hold 3 rows, the footer declares 4"},
	{name: "bad-pq-null-pixels", float: true, comp: "none",
		// The definition levels of row group 0's pixels say "null".
		raw: func(t *testing.T, data []byte, md *metadata.FileMetaData) {
			setDefLevels(t, data, md, 0, 1)
		},
		want: "row group 0: column image: 24 null pixels"},
	{name: "bad-pq-empty-images", float: true, comp: "none",
		// ... or "empty list", with the repetition levels saying
		// "same list": arrow-go makes lists of 5, 6, ... pixels of that.
		raw: func(t *testing.T, data []byte, md *metadata.FileMetaData) {
			setDefLevels(t, data, md, 0, 0)
		},
		want: "row group 0: column image: row 0 has 5 pixels at offset 0, want 6"},
}

func setKV(md *metadata.FileMetaData, key, value string) {
	for _, kv := range md.FileMetaData.KeyValueMetadata {
		if kv.Key == key {
			kv.Value = &value
		}
	}
}

// damaged returns the seed of d with d applied.
func (d parquetDamage) damaged(t *testing.T) []byte {
	t.Helper()
	data := seedParquet(t, d.float, d.comp)
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	md := pf.MetaData()
	if d.raw != nil {
		d.raw(t, data, md)
		return data
	}
	d.meta(md)
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	out := bytes.Clone(data[:len(data)-8-footerLen])
	var footer bytes.Buffer
	if _, err := md.WriteTo(&footer, nil); err != nil {
		t.Fatal(err)
	}
	out = append(out, footer.Bytes()...)
	out = binary.LittleEndian.AppendUint32(out, uint32(footer.Len()))
	return append(out, "PAR1"...)
}

// pageHeader returns the file offset of the first data page of column c in
// row group g, and the offset and length of the varint holding its value
// count. Page headers are Thrift compact structs: PageHeader's field 5
// (DataPageHeader) or 8 (DataPageHeaderV2) starts with num_values (i32).
func pageHeader(t *testing.T, data []byte, md *metadata.FileMetaData, g, c int) (page, numValues, n int) {
	t.Helper()
	cc, err := md.RowGroup(g).ColumnChunk(c)
	if err != nil {
		t.Fatal(err)
	}
	pos := int(cc.DataPageOffset())
	page = pos
	field := 0
	for {
		b := data[pos]
		pos++
		if b == 0 {
			t.Fatalf("row group %d column %d: no data page header at %d", g, c, page)
		}
		field += int(b >> 4)
		switch b & 0x0f {
		case 5: // i32: a zigzag varint
			for data[pos]&0x80 != 0 {
				pos++
			}
			pos++
		case 12: // struct
			if field != 5 && field != 8 {
				t.Fatalf("unexpected struct field %d in a page header", field)
			}
			if data[pos]&0x0f != 5 || data[pos]>>4 != 1 {
				t.Fatalf("data page header does not start with num_values")
			}
			start := pos + 1
			end := start
			for data[end]&0x80 != 0 {
				end++
			}
			return page, start, end + 1 - start
		default:
			t.Fatalf("unexpected field type %d in a page header", b&0x0f)
		}
	}
}

// setPageValues sets the value count of the first data page of column c in
// row group g (written in the same number of varint bytes).
func setPageValues(t *testing.T, data []byte, md *metadata.FileMetaData, g, c, v int) {
	t.Helper()
	_, at, n := pageHeader(t, data, md, g, c)
	enc := binary.AppendUvarint(nil, uint64(v)<<1) // zigzag of v ≥ 0
	if len(enc) != n {
		t.Fatalf("varint of %d takes %d bytes, the field has %d", v, len(enc), n)
	}
	copy(data[at:], enc)
}

// setDefLevels sets every definition level of the first data page of row
// group g's (uncompressed) image column to level. The page data of a v1
// page starts with the levels: a 4-byte length, then RLE runs (a varint
// count<<1, one byte value at bit width 2).
func setDefLevels(t *testing.T, data []byte, md *metadata.FileMetaData, g int, level byte) {
	t.Helper()
	_, at, n := pageHeader(t, data, md, g, 3)
	// Skip the rest of the header: after num_values come encoding fields
	// (i32) and an optional statistics struct, then the end of both
	// structs. Find the RLE run that follows the 4-byte levels length.
	values, _ := binary.Uvarint(data[at : at+n])
	count := int(values >> 1)
	run := binary.AppendUvarint(nil, uint64(count)<<1)
	for p := at + n; p+4+len(run)+1 <= len(data); p++ {
		if int(binary.LittleEndian.Uint32(data[p:])) == len(run)+1 && bytes.Equal(data[p+4:p+4+len(run)], run) && data[p+4+len(run)] == 2 {
			data[p+4+len(run)] = level
			return
		}
	}
	t.Fatalf("row group %d: no single RLE run of %d definition levels found", g, count)
}

// TestParquetDamagesRefused applies every damage and checks the error, and
// that the committed FuzzOpenParquet seeds are these damages.
func TestParquetDamagesRefused(t *testing.T) {
	maxBuffer = fuzzMaxBuffer
	defer func() { maxBuffer = 1 << 30 }()
	dir := "testdata/fuzz/FuzzOpenParquet"
	for _, d := range parquetDamages {
		data := d.damaged(t)
		err := checkParquet(t, data)
		if err == nil || !strings.Contains(err.Error(), d.want) {
			t.Errorf("%s: error %v, want one containing %q", d.name, err, d.want)
		}
		text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		p := filepath.Join(dir, d.name)
		if *updateCorpus {
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != text {
			t.Errorf("%s: the committed seed differs from the damage (run go test ./formats/shard -run TestParquetDamagesRefused -update-corpus): %v", d.name, err)
		}
	}
}

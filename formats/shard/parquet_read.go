package shard

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// The Parquet reader ignores ARROW:schema: arrow-go decodes it without
// bounds checks, so a damaged value can make it allocate without limit. The
// plain Parquet schema already says everything (unsigned logical types, a
// list of pixels that the reader checks to have exactly H·W·C values per
// row), and the key/value metadata carries the shard metadata.
//
// arrow-go trusts the footer in two more ways that the reader must not:
//
//   - It sizes a column's buffers from the row group's declared row count
//     before reading a page, so a damaged count asks for any amount of
//     memory. The reader's allocator is bounded like the IPC reader's
//     (maxBuffer), which turns that into an error.
//   - It reads a column chunk until its pages run out and returns what it
//     got, without comparing it with the row group's row count or the
//     chunk's value count. A damaged page header thus reads as a shorter
//     row group, without an error.
//
// So before any page is read, checkRowGroups compares the row counts of the
// footer and of every row group and the value count of every column chunk
// with each other and with the image size; and every row group read is
// checked against what the footer declared for it.

// ParquetReader reads one Parquet shard, one row group per batch. It has the
// methods of Reader and is not safe for concurrent use.
type ParquetReader struct {
	path   string
	pf     *file.Reader
	fr     *pqarrow.FileReader
	meta   Meta
	schema *arrow.Schema
	mem    memory.Allocator
}

// OpenParquet opens a Parquet shard and validates its schema, its key/value
// metadata and what its footer says about every row group. Options:
// WithAllocator.
func OpenParquet(path string, opts ...Option) (*ParquetReader, error) {
	o, err := readOptions(opts)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	r, err := newParquetReader(f, path, o.mem)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// parquetBytes opens a Parquet shard held in memory; name stands for its
// path in errors. The fuzz tests use it.
func parquetBytes(data []byte, name string, mem memory.Allocator) (*ParquetReader, error) {
	return newParquetReader(bytes.NewReader(data), name, mem)
}

// newParquetReader reads and checks the footer of the Parquet file in src.
// On success the reader owns src (closing it if it is an io.Closer).
func newParquetReader(src parquet.ReaderAtSeeker, path string, mem memory.Allocator) (*ParquetReader, error) {
	mem = &boundedAllocator{Allocator: mem, max: maxBuffer}
	size, err := src.Seek(0, io.SeekEnd)
	if err == nil {
		err = checkParquetFooter(src, size)
	}
	if err != nil {
		return nil, fmt.Errorf("shard %s: not a readable Parquet shard: %w", path, err)
	}
	r, err := openParquet(src, mem)
	if err != nil {
		return nil, fmt.Errorf("shard %s: not a readable Parquet shard: %w", path, err)
	}
	r.path = path
	return r, nil
}

// openParquet reads the footer of a Parquet file, turning a panic inside the
// decoder on malformed input into an error.
func openParquet(src parquet.ReaderAtSeeker, mem memory.Allocator) (r *ParquetReader, err error) {
	var pf *file.Reader
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("malformed file: %v", p)
		}
		if err != nil && pf != nil {
			pf.Close()
		}
	}()
	pf, err = file.NewParquetReader(src, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, err
	}
	md := pf.MetaData()
	dropArrowSchema(md)
	kv := md.KeyValueMetadata()
	if err := checkKeyValues(kv); err != nil {
		return nil, err
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, err
	}
	stored, err := fr.Schema()
	if err != nil {
		return nil, err
	}
	// Without ARROW:schema the shard metadata stays in the file's key/value
	// metadata; give it to the schema.
	amd := arrow.NewMetadata(kv.Keys(), kv.Values())
	meta, err := MetaFromSchema(canonicalSchema(arrow.NewSchema(stored.Fields(), &amd)))
	if err != nil {
		return nil, err
	}
	if err := checkRowGroups(md, columnsOf(meta), int64(meta.Elems())); err != nil {
		return nil, err
	}
	return &ParquetReader{pf: pf, fr: fr, meta: meta, schema: Schema(meta), mem: mem}, nil
}

// checkKeyValues refuses key/value metadata that names a key twice (which
// of the values counts would be up to the reader) or that is not UTF-8, as
// the Parquet format requires (and arrow-go's writer would drop the entry
// if the shard were written again).
func checkKeyValues(kv metadata.KeyValueMetadata) error {
	seen := make(map[string]bool, kv.Len())
	for i, k := range kv.Keys() {
		if seen[k] {
			return fmt.Errorf("key/value metadata has %q twice", k)
		}
		seen[k] = true
		if v := kv.Values()[i]; !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("key/value metadata %q = %q is not valid UTF-8", k, v)
		}
	}
	return nil
}

// shardColumns are the shard's columns in schema order; in Parquet each is
// one leaf column, in the same order.
var shardColumns = []string{ColSourceIndex, ColLabel, ColCopy, ColImage}

// columnsOf are the columns of shards described by m.
func columnsOf(m Meta) []string {
	if m.SourcePaths {
		return append(shardColumns[:len(shardColumns):len(shardColumns)], ColSourcePath)
	}
	return shardColumns
}

// checkRowGroups checks what the footer says about the row groups before
// any page is read: the row groups' row counts add up to the file's, every
// row group has the four column chunks, in this file, and every chunk holds
// one value per row (elems per row for the image column, whose rows are
// lists of exactly elems pixels).
func checkRowGroups(md *metadata.FileMetaData, shardColumns []string, elems int64) error {
	if md.NumRows < 0 {
		return fmt.Errorf("footer declares %d rows", md.NumRows)
	}
	var total int64
	for g := 0; g < md.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		n := rg.NumRows()
		if n < 0 || n > md.NumRows-total {
			return fmt.Errorf("row group %d declares %d rows, more than the %d the footer leaves for it", g, n, md.NumRows-total)
		}
		total += n
		if rg.NumColumns() != len(shardColumns) {
			return fmt.Errorf("row group %d has %d column chunks, want %d", g, rg.NumColumns(), len(shardColumns))
		}
		for c, name := range shardColumns {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				return fmt.Errorf("row group %d column %s: %w", g, name, err)
			}
			if p := cc.FilePath(); p != "" {
				return fmt.Errorf("row group %d column %s: data in another file (%q)", g, name, p)
			}
			want := n
			if name == ColImage {
				if elems > 0 && n > math.MaxInt64/elems {
					return fmt.Errorf("row group %d declares %d rows of %d pixels", g, n, elems)
				}
				want = n * elems
			}
			if got := cc.NumValues(); got != want {
				return fmt.Errorf("row group %d column %s: the column chunk holds %d values, want %d for %d rows", g, name, got, want, n)
			}
		}
	}
	if total != md.NumRows {
		return fmt.Errorf("row groups hold %d rows, the footer declares %d", total, md.NumRows)
	}
	return nil
}

// arrowSchemaKey is the key under which pqarrow stores the Arrow schema.
const arrowSchemaKey = "ARROW:schema"

// dropArrowSchema removes the stored Arrow schema from a file's key/value
// metadata (see the comment on the Parquet reader).
func dropArrowSchema(md *metadata.FileMetaData) {
	if md == nil || md.FileMetaData == nil {
		return
	}
	kv := md.FileMetaData.KeyValueMetadata[:0]
	for _, e := range md.FileMetaData.KeyValueMetadata {
		if e != nil && e.Key != arrowSchemaKey {
			kv = append(kv, e)
		}
	}
	md.FileMetaData.KeyValueMetadata = kv
}

// canonicalSchema maps the schema Parquet's own types give a shard to the
// shard schema: no field metadata (PARQUET:field_id), and the image column
// as a fixed-size list of H·W·C pixels instead of a variable-length list
// (with the sizes from the metadata; record checks every row). Other
// differences are left for MetaFromSchema to reject.
func canonicalSchema(s *arrow.Schema) *arrow.Schema {
	md := s.Metadata()
	elems := 1
	for _, k := range []string{"height", "width", "channels"} {
		v, err := strconv.Atoi(valueOf(md, k))
		if err != nil || v < 1 || v > 1<<16 || elems > (1<<31-1)/v {
			elems = 0
			break
		}
		elems *= v
	}
	fields := s.Fields()
	for i, f := range fields {
		fields[i].Metadata = arrow.Metadata{}
		if f.Name != ColImage || elems == 0 {
			continue
		}
		switch t := f.Type.(type) {
		case *arrow.ListType:
			fields[i].Type = arrow.FixedSizeListOf(int32(elems), t.Elem())
		case *arrow.FixedSizeListType:
			fields[i].Type = arrow.FixedSizeListOf(t.Len(), t.Elem())
		}
	}
	return arrow.NewSchema(fields, &md)
}

func valueOf(md arrow.Metadata, key string) string {
	if i := md.FindKey(key); i >= 0 {
		return md.Values()[i]
	}
	return ""
}

// Meta returns the shard's metadata.
func (r *ParquetReader) Meta() Meta { return r.meta }

// Schema returns the shard's Arrow schema, the same as an IPC shard's.
func (r *ParquetReader) Schema() *arrow.Schema { return r.schema }

// NumBatches is the number of row groups in the shard.
func (r *ParquetReader) NumBatches() int { return r.pf.NumRowGroups() }

// NumRows is the number of rows the footer reports (OpenParquet checked that
// the row groups hold as many).
func (r *ParquetReader) NumRows() int64 { return r.pf.NumRows() }

// Batch reads row group i as one record batch with the shard schema; the
// caller owns it and must Release it. It holds exactly the rows the footer
// declares for the row group.
func (r *ParquetReader) Batch(i int) (rec arrow.RecordBatch, err error) {
	if i < 0 || i >= r.NumBatches() {
		return nil, fmt.Errorf("shard %s: row group %d out of range [0, %d)", r.path, i, r.NumBatches())
	}
	defer func() {
		if p := recover(); p != nil {
			rec, err = nil, fmt.Errorf("shard %s: row group %d: malformed: %v", r.path, i, p)
		}
	}()
	rec, err = r.record(i, r.pf.MetaData().RowGroup(i).NumRows())
	if err != nil {
		return nil, fmt.Errorf("shard %s: row group %d: %w", r.path, i, err)
	}
	if err := validate(rec, r.meta); err != nil {
		rec.Release()
		return nil, fmt.Errorf("shard %s: row group %d: %w", r.path, i, err)
	}
	return rec, nil
}

// record reads row group g, which the footer says holds n rows, as a record
// batch with the shard schema. Each column is read on its own (pqarrow's
// table of several columns takes its row count from the first and panics
// when another is shorter) and must hold exactly n rows.
func (r *ParquetReader) record(g int, n int64) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, r.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i := range r.schema.NumFields() {
		col, err := r.column(g, i)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", r.schema.Field(i).Name, err)
		}
		cols = append(cols, col)
		if int64(col.Len()) != n {
			return nil, fmt.Errorf("column %s: its pages hold %d rows, the footer declares %d", r.schema.Field(i).Name, col.Len(), n)
		}
	}
	return array.NewRecordBatch(r.schema, cols, n), nil
}

// column reads column i of row group g as one array of the shard schema's
// type, concatenating chunks if the reader split it.
func (r *ParquetReader) column(g, i int) (arrow.Array, error) {
	tbl, err := r.fr.ReadRowGroups(context.Background(), []int{i}, []int{g})
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	if tbl.NumCols() != 1 {
		return nil, fmt.Errorf("read %d columns, want 1", tbl.NumCols())
	}
	want := r.schema.Field(i).Type
	chunks := tbl.Column(0).Data().Chunks()
	var col arrow.Array
	switch len(chunks) {
	case 0:
		col = array.MakeArrayOfNull(r.mem, want, 0)
	case 1:
		col = chunks[0]
		col.Retain()
	default:
		if col, err = array.Concatenate(chunks, r.mem); err != nil {
			return nil, err
		}
	}
	if arrow.TypeEqual(col.DataType(), want) {
		return col, nil
	}
	defer col.Release()
	return fixedSizeImage(col, want)
}

// fixedSizeImage turns the image column as Parquet's types give it (a list
// of pixels) into the shard's fixed-size list, without copying the pixels.
// Every row must hold exactly the list size's values, none of them null.
func fixedSizeImage(col arrow.Array, want arrow.DataType) (arrow.Array, error) {
	fsl, ok := want.(*arrow.FixedSizeListType)
	l, isList := col.(*array.List)
	if !ok || !isList {
		return nil, fmt.Errorf("type %s, want %s", col.DataType(), want)
	}
	vals := l.ListValues()
	if !arrow.TypeEqual(vals.DataType(), fsl.Elem()) {
		return nil, fmt.Errorf("pixels are %s, want %s", vals.DataType(), fsl.Elem())
	}
	if l.NullN() != 0 {
		return nil, fmt.Errorf("%d null images", l.NullN())
	}
	n, elems := l.Len(), int64(fsl.Len())
	var start int64
	if n > 0 {
		start, _ = l.ValueOffsets(0)
	}
	for i := 0; i < n; i++ {
		lo, hi := l.ValueOffsets(i)
		if lo != start+int64(i)*elems || hi-lo != elems {
			return nil, fmt.Errorf("row %d has %d pixels at offset %d, want %d", i, hi-lo, lo, elems)
		}
	}
	end := start + int64(n)*elems
	if start < 0 || end > int64(vals.Len()) {
		return nil, fmt.Errorf("pixel offsets [%d, %d) outside the %d values", start, end, vals.Len())
	}
	pixels := array.NewSlice(vals, start, end)
	defer pixels.Release()
	if pixels.NullN() != 0 {
		return nil, fmt.Errorf("%d null pixels", pixels.NullN())
	}
	d := array.NewData(fsl, n, []*memory.Buffer{nil}, []arrow.ArrayData{pixels.Data()}, 0, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// ReadRows appends the rows of row group i to dst as Go slices (copying).
func (r *ParquetReader) ReadRows(i int, dst *Rows) error { return readRows(r.Batch, i, dst) }

// ReadAll reads every row of the shard.
func (r *ParquetReader) ReadAll() (Rows, error) { return readAll(r.NumBatches(), r.ReadRows) }

// Close releases the reader and closes the file.
func (r *ParquetReader) Close() error { return r.pf.Close() }

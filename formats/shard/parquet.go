package shard

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Parquet shards hold the same four columns and the same schema metadata as
// IPC shards, for tools that read Parquet but not Arrow IPC (DuckDB, Spark,
// most warehouses). The Arrow schema is stored in the file as well
// (ARROW:schema), so Arrow-based readers get uint8/uint16 columns and the
// fixed-size image list back rather than Parquet's widened INT32 and
// variable-length LIST.
//
// The reader ignores ARROW:schema: arrow-go decodes it without bounds checks,
// so a damaged value can make it allocate without limit. The plain Parquet
// schema already says everything (unsigned logical types, a list of pixels
// that the reader checks to have exactly H·W·C values per row), and the
// key/value metadata carries the shard metadata.
//
// One record batch of the IPC writer becomes one row group, so WithBatchRows
// sets the row-group length. Dictionary encoding is left on: normalized pixels
// of 8-bit images take at most 256 distinct values, which a dictionary stores
// in one byte per pixel before zstd sees them.

// ParquetCreatedBy is the created_by string of Parquet shards. arrow-go's
// default names only the library version, which ArrowLibrary already pins, so
// the same rows always give the same bytes.
const ParquetCreatedBy = parquet.DefaultCreatedBy

// WriteParquet writes rows as one Parquet shard to w. Options: WithAllocator,
// WithBatchRows (rows per row group, default 1024) and WithCompression
// ("zstd" (default), "lz4" (Parquet's LZ4_RAW) or "none"). The Result's
// DataSHA256 equals Write's for the same rows.
func WriteParquet(w io.Writer, meta Meta, rows Rows, opts ...Option) (Result, error) {
	o := options{mem: memory.DefaultAllocator, batchRows: 1024, compression: "zstd"}
	for _, f := range opts {
		f(&o)
	}
	if o.batchRows < 1 {
		return Result{}, fmt.Errorf("shard: batch rows must be ≥ 1, got %d", o.batchRows)
	}
	if err := checkRows(meta, &rows); err != nil {
		return Result{}, err
	}
	codec, err := parquetCodec(o.compression)
	if err != nil {
		return Result{}, err
	}
	schema := Schema(meta)
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(o.mem),
		parquet.WithCompression(codec),
		parquet.WithMaxRowGroupLength(int64(o.batchRows)),
		parquet.WithCreatedBy(ParquetCreatedBy),
	)
	arrProps := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(o.mem))
	// pqarrow closes a writer that is an io.Closer; the caller owns w.
	fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{w}, props, arrProps)
	if err != nil {
		return Result{}, fmt.Errorf("shard: parquet: %w", err)
	}
	res, err := writeBatches(fw, schema, meta, rows, o.batchRows)
	if err != nil {
		return Result{}, fmt.Errorf("shard: parquet: %w", err)
	}
	return res, nil
}

func parquetCodec(c string) (compress.Compression, error) {
	switch c {
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "lz4":
		return compress.Codecs.Lz4Raw, nil
	case "none":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("shard: unknown compression %q", c)
}

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

// OpenParquet opens a Parquet shard and validates its schema. Options:
// WithAllocator.
func OpenParquet(path string, opts ...Option) (*ParquetReader, error) {
	o := options{mem: memory.DefaultAllocator}
	for _, f := range opts {
		f(&o)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	r, err := openParquet(f, o.mem)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shard %s: not a readable Parquet shard: %w", path, err)
	}
	r.path = path
	return r, nil
}

// openParquet reads the footer of a Parquet file, turning a panic inside the
// decoder on malformed input into an error. On success the returned reader
// owns f.
func openParquet(f *os.File, mem memory.Allocator) (r *ParquetReader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("malformed file: %v", p)
		}
	}()
	pf, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, err
	}
	dropArrowSchema(pf.MetaData())
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		pf.Close()
		return nil, err
	}
	stored, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, err
	}
	// Without ARROW:schema the shard metadata stays in the file's key/value
	// metadata; give it to the schema.
	kv := pf.MetaData().KeyValueMetadata()
	md := arrow.NewMetadata(kv.Keys(), kv.Values())
	meta, err := MetaFromSchema(canonicalSchema(arrow.NewSchema(stored.Fields(), &md)))
	if err != nil {
		pf.Close()
		return nil, err
	}
	if pf.NumRows() < 0 || pf.NumRowGroups() < 0 {
		pf.Close()
		return nil, fmt.Errorf("footer claims %d rows in %d row groups", pf.NumRows(), pf.NumRowGroups())
	}
	return &ParquetReader{pf: pf, fr: fr, meta: meta, schema: Schema(meta), mem: mem}, nil
}

// arrowSchemaKey is the key under which pqarrow stores the Arrow schema.
const arrowSchemaKey = "ARROW:schema"

// dropArrowSchema removes the stored Arrow schema from a file's key/value
// metadata (see the package comment on Parquet shards).
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

// NumRows is the number of rows the footer reports.
func (r *ParquetReader) NumRows() int64 { return r.pf.NumRows() }

// Batch reads row group i as one record batch with the shard schema; the
// caller owns it and must Release it.
func (r *ParquetReader) Batch(i int) (rec arrow.RecordBatch, err error) {
	if i < 0 || i >= r.NumBatches() {
		return nil, fmt.Errorf("shard %s: row group %d out of range [0, %d)", r.path, i, r.NumBatches())
	}
	defer func() {
		if p := recover(); p != nil {
			rec, err = nil, fmt.Errorf("shard %s: row group %d: malformed: %v", r.path, i, p)
		}
	}()
	tbl, err := r.fr.ReadRowGroups(context.Background(), []int{0, 1, 2, 3}, []int{i})
	if err != nil {
		return nil, fmt.Errorf("shard %s: row group %d: %w", r.path, i, err)
	}
	defer tbl.Release()
	rec, err = r.record(tbl)
	if err != nil {
		return nil, fmt.Errorf("shard %s: row group %d: %w", r.path, i, err)
	}
	if err := validate(rec, r.meta); err != nil {
		rec.Release()
		return nil, fmt.Errorf("shard %s: row group %d: %w", r.path, i, err)
	}
	return rec, nil
}

// record turns a table read from one row group into a record batch with the
// shard schema, concatenating chunks if the reader split a column.
func (r *ParquetReader) record(tbl arrow.Table) (arrow.RecordBatch, error) {
	if int(tbl.NumCols()) != r.schema.NumFields() {
		return nil, fmt.Errorf("%d columns, want %d", tbl.NumCols(), r.schema.NumFields())
	}
	n := tbl.NumRows()
	cols := make([]arrow.Array, 0, tbl.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i := 0; i < int(tbl.NumCols()); i++ {
		chunks := tbl.Column(i).Data().Chunks()
		var col arrow.Array
		switch len(chunks) {
		case 0:
			col = array.MakeArrayOfNull(r.mem, r.schema.Field(i).Type, 0)
		case 1:
			col = chunks[0]
			col.Retain()
		default:
			var err error
			if col, err = array.Concatenate(chunks, r.mem); err != nil {
				return nil, fmt.Errorf("column %s: %w", r.schema.Field(i).Name, err)
			}
		}
		if want := r.schema.Field(i).Type; !arrow.TypeEqual(col.DataType(), want) {
			fixed, err := fixedSizeImage(col, want)
			col.Release()
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", r.schema.Field(i).Name, err)
			}
			col = fixed
		}
		if int64(col.Len()) != n {
			col.Release()
			return nil, fmt.Errorf("column %s has %d rows, table has %d", r.schema.Field(i).Name, col.Len(), n)
		}
		cols = append(cols, col)
	}
	return array.NewRecordBatch(r.schema, cols, n), nil
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

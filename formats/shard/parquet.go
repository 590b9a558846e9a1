package shard

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Parquet shards hold the same four columns and the same schema metadata as
// IPC shards, for tools that read Parquet but not Arrow IPC (DuckDB, Spark,
// most warehouses). The Arrow schema is stored in the file as well
// (ARROW:schema), so Arrow-based readers get uint8/uint16 columns and the
// fixed-size image list back rather than Parquet's widened INT32 and
// variable-length LIST.
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
	o, err := newOptions(opts)
	if err != nil {
		return Result{}, err
	}
	if err := checkWritable(meta, &rows); err != nil {
		return Result{}, err
	}
	codec := parquetCodecs[o.compression]
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

// parquetCodecs maps the compression option to Parquet's codecs.
var parquetCodecs = map[vocab.Compression]compress.Compression{
	vocab.CompressionZstd: compress.Codecs.Zstd,
	vocab.CompressionLZ4:  compress.Codecs.Lz4Raw,
	vocab.CompressionNone: compress.Codecs.Uncompressed,
}

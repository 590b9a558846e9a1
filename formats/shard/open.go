package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// File is an opened shard of either format.
type File interface {
	Meta() Meta
	NumBatches() int
	// Batch returns record batch i; the caller must Release it.
	Batch(i int) (arrow.RecordBatch, error)
	// ReadRows appends the rows of batch i to dst.
	ReadRows(i int, dst *Rows) error
	ReadAll() (Rows, error)
	Close() error
}

// OpenFile opens a shard by its extension: .parquet with OpenParquet,
// anything else as an Arrow IPC file with Open.
func OpenFile(path string, opts ...Option) (File, error) {
	if filepath.Ext(path) == vocab.FormatParquet.Ext() {
		return OpenParquet(path, opts...)
	}
	return Open(path, opts...)
}

// CheckSHA256 hashes the file at path and compares it with want (hex). A
// reader that knows a shard's hash from its manifest checks it before
// decoding: a damaged file is then reported as such, and never reaches the
// decoder.
func CheckSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("shard: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("shard %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("shard %s: SHA-256 %s, manifest says %s (the file is damaged or was replaced; prep verify tells more)", path, got, want)
	}
	return nil
}

// recordWriter is what both shard formats' writers offer.
type recordWriter interface {
	Write(rec arrow.RecordBatch) error
	Close() error
}

// writeBatches writes rows through w in record batches of batchRows rows,
// closes w, and returns the result with the hash of the uncompressed data.
func writeBatches(w recordWriter, schema *arrow.Schema, meta Meta, rows Rows, batchRows int) (Result, error) {
	n, elems := rows.Len(), meta.Elems()
	for i := 0; i < n; i += batchRows {
		j := min(i+batchRows, n)
		rec := Record(schema, rows.Slice(i, j, elems))
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Close()
			return Result{}, fmt.Errorf("writing rows %d-%d: %w", i, j, err)
		}
	}
	if err := w.Close(); err != nil {
		return Result{}, err
	}
	h := NewDataHasher()
	h.Add(rows)
	return Result{Rows: n, DataSHA256: h.Sum()}, nil
}

// readRows appends the rows of batch i (from batch) to dst.
func readRows(batch func(int) (arrow.RecordBatch, error), i int, dst *Rows) error {
	rec, err := batch(i)
	if err != nil {
		return err
	}
	defer rec.Release()
	AppendRows(dst, rec)
	return nil
}

// readAll reads the n batches of a shard into one Rows.
func readAll(n int, read func(int, *Rows) error) (Rows, error) {
	var rows Rows
	for i := 0; i < n; i++ {
		if err := read(i, &rows); err != nil {
			return Rows{}, err
		}
	}
	return rows, nil
}

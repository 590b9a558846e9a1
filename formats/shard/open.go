package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
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
	if filepath.Ext(path) == ".parquet" {
		return OpenParquet(path, opts...)
	}
	return Open(path, opts...)
}

// Ext returns the file extension of shards in a format ("arrow" or "parquet").
func Ext(format string) string {
	if format == "parquet" {
		return ".parquet"
	}
	return ".arrow"
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

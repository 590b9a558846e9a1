package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// writeAtomic writes a file so that readers see either the old contents or
// the complete new ones, never a torn file (see internal/durable). It
// returns the size and SHA-256 of what was written.
func writeAtomic(path string, write func(io.Writer) error) (FileInfo, error) {
	h := sha256.New()
	var n int64
	err := durable.Write(path, 0o644, func(w io.Writer) error {
		cw := &countingWriter{w: io.MultiWriter(w, h)}
		err := write(cw)
		n = cw.n
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	return FileInfo{Name: filepath.Base(path), Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeAtomic writes a file so that readers see either the old contents or
// the complete new ones, never a torn file: the data goes to a temporary file
// in the same directory, is fsynced, renamed over path, and the directory is
// fsynced so the rename itself survives a crash. It returns the size and
// SHA-256 of what was written.
func writeAtomic(path string, write func(io.Writer) error) (FileInfo, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err := write(cw); err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: closing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return FileInfo{}, fmt.Errorf("checkpoint: syncing directory of %s: %w", path, err)
		}
	}
	return FileInfo{Name: filepath.Base(path), Bytes: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
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

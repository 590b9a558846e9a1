package shard

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds damaged shards to the reader: it must return an error or
// rows, never panic or exhaust memory. Besides the valid shards added here,
// the committed corpus (testdata/fuzz/FuzzReader, see footer_test.go) holds
// precise damages of every length arrow-go trusts.
func FuzzReader(f *testing.F) {
	for _, float := range []bool{true, false} {
		for _, comp := range []string{"zstd", "lz4", "none"} {
			meta := testMeta(float)
			var buf bytes.Buffer
			if _, err := Write(&buf, meta, randomRows(rand.New(rand.NewPCG(1, 1)), 9, meta), WithCompression(comp), WithBatchRows(4)); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
		}
	}
	dir := f.TempDir()
	maxBuffer = 1 << 22 // the seeds need 4 KiB; damaged lengths fail fast
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.arrow")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err != nil {
			return
		}
		defer r.Close()
		rows, err := r.ReadAll()
		if err != nil {
			return
		}
		if err := checkRows(r.Meta(), &rows); err != nil {
			t.Fatalf("reader returned inconsistent rows: %v", err)
		}
	})
}

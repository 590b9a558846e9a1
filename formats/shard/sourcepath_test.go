package shard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Shards of image tree and list sources carry a source_path column; both
// formats write and read it back, the data hash covers it, and shards
// without it keep their schema and data hash.
func TestSourcePathColumn(t *testing.T) {
	meta := testMeta(false)
	rows := randomRows(rand.New(rand.NewPCG(5, 1)), 37, meta)
	plain, err := Write(&bytes.Buffer{}, meta, rows)
	if err != nil {
		t.Fatal(err)
	}
	if Schema(meta).NumFields() != 4 {
		t.Fatal("a shard without source paths has a fifth column")
	}
	meta.SourcePaths = true
	for i := range rows.Len() {
		rows.SourcePath = append(rows.SourcePath, fmt.Sprintf("cls%d/é/%03d.png", i%3, i))
	}
	for _, format := range vocab.Formats {
		t.Run(string(format), func(t *testing.T) {
			write := Write
			if format == vocab.FormatParquet {
				write = WriteParquet
			}
			path := filepath.Join(t.TempDir(), "s"+format.Ext())
			var buf bytes.Buffer
			res, err := write(&buf, meta, rows, WithBatchRows(10))
			if err != nil {
				t.Fatal(err)
			}
			if res.DataSHA256 == plain.DataSHA256 {
				t.Error("the data hash does not cover source_path")
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !r.Meta().SourcePaths {
				t.Fatal("reader does not see the source_path column")
			}
			back, err := r.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.SourcePath, rows.SourcePath) || !equalRows(back, rows) {
				t.Fatalf("rows differ after round trip: %q", back.SourcePath[:3])
			}
			h := NewDataHasher()
			h.Add(back)
			if h.Sum() != res.DataSHA256 {
				t.Error("data hash of the rows read back differs")
			}
		})
	}
	// The column and the metadata must agree.
	bad := rows
	bad.SourcePath = bad.SourcePath[:3]
	if _, err := Write(&bytes.Buffer{}, meta, bad); err == nil {
		t.Error("a short source_path column was written")
	}
	bad.SourcePath = nil
	if _, err := Write(&bytes.Buffer{}, meta, bad); err == nil {
		t.Error("rows without source paths were written as a shard that has the column")
	}
	bad.SourcePath = slices.Clone(rows.SourcePath)
	bad.SourcePath[4] = "\xff.png"
	if _, err := Write(&bytes.Buffer{}, meta, bad); err == nil {
		t.Error("a source_path that is not UTF-8 was written")
	}
}

package dataset_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// tinyMeta describes 2×3 single-channel images with three classes.
func tinyMeta(float bool) shard.Meta {
	m := shard.Meta{Dataset: "tiny", Version: strings.Repeat("ab", 32), Height: 2, Width: 3, Channels: 1,
		Normalize: "fixed", Mean: manifest.Values{0.5}, Std: manifest.Values{0.25}, Classes: []string{"zero", "one", "two"}}
	if !float {
		m.Normalize = "none"
	}
	return m
}

// tinyRows makes n deterministic rows whose source indices start at first.
func tinyRows(meta shard.Meta, first, n int) shard.Rows {
	var r shard.Rows
	for i := first; i < first+n; i++ {
		r.SourceIndex = append(r.SourceIndex, uint64(i))
		r.Label = append(r.Label, uint8(i%len(meta.Classes)))
		r.Copy = append(r.Copy, 0)
		for k := 0; k < meta.Elems(); k++ {
			px := uint8(i*7 + k*31)
			if meta.Float() {
				r.ImageF32 = append(r.ImageF32, (float32(px)/255-float32(meta.Mean[0]))/float32(meta.Std[0]))
			} else {
				r.ImageU8 = append(r.ImageU8, px)
			}
		}
	}
	return r
}

// splitSpec is one split of a hand-written version: its rows, cut into
// shards of shardRows rows.
type splitSpec struct {
	name      vocab.Split
	rows      shard.Rows
	shardRows int
}

// writeVersion writes a version directory the way prep lays it out: shards
// in the given format ("arrow" or "parquet") with record batches (row groups)
// of batchRows rows, and a manifest with their hashes.
func writeVersion(dir string, meta shard.Meta, format string, batchRows int, splits ...splitSpec) (*manifest.Manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dtype := "uint8"
	if meta.Float() {
		dtype = "float32"
	}
	m := &manifest.Manifest{
		Dataset: meta.Dataset, Version: meta.Version, Tool: "test", Created: "2024-01-01T00:00:00Z",
		Image:     manifest.Image{Height: meta.Height, Width: meta.Width, Channels: meta.Channels, DType: dtype},
		Normalize: manifest.Normalize{Mode: meta.Normalize, Mean: meta.Mean, Std: meta.Std},
		Classes:   meta.Classes,
	}
	for _, sp := range splits {
		ms := manifest.Split{Name: sp.name, Rows: sp.rows.Len(), Labels: make([]int, len(meta.Classes))}
		for _, l := range sp.rows.Label {
			ms.Labels[l]++
		}
		n := sp.rows.Len()
		count := (n + sp.shardRows - 1) / sp.shardRows
		for i := 0; i < count; i++ {
			rows := sp.rows.Slice(i*sp.shardRows, min((i+1)*sp.shardRows, n), meta.Elems())
			name := fmt.Sprintf("%s-%05d-of-%05d.%s", sp.name, i, count, format)
			sm := meta
			sm.Split = sp.name
			var buf bytes.Buffer
			var res shard.Result
			var err error
			if format == "parquet" {
				res, err = shard.WriteParquet(&buf, sm, rows, shard.WithBatchRows(batchRows))
			} else {
				res, err = shard.Write(&buf, sm, rows, shard.WithBatchRows(batchRows))
			}
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
				return nil, err
			}
			sum := sha256.Sum256(buf.Bytes())
			ms.Shards = append(ms.Shards, manifest.Shard{Path: name, Rows: res.Rows, Bytes: int64(buf.Len()),
				SHA256: hex.EncodeToString(sum[:]), DataSHA256: res.DataSHA256})
		}
		m.Splits = append(m.Splits, ms)
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

func writeManifest(dir string, m *manifest.Manifest) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644)
}

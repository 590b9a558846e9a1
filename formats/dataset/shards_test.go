package dataset_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// readShards reads every shard of split train through OpenShard and Next
// into one reused buffer and returns the rows seen.
func readShards(t *testing.T, ds *dataset.Dataset) (shard.Rows, error) {
	t.Helper()
	var all, buf shard.Rows
	for i := range ds.Manifest().Split("train").Shards {
		r, err := ds.OpenShard("train", i)
		if err != nil {
			return all, err
		}
		for {
			buf.Reset()
			more, err := r.Next(&buf)
			if err != nil {
				r.Close()
				return all, err
			}
			if !more {
				break
			}
			all.SourceIndex = append(all.SourceIndex, buf.SourceIndex...)
			all.Label = append(all.Label, buf.Label...)
			all.Copy = append(all.Copy, buf.Copy...)
			all.ImageF32 = append(all.ImageF32, buf.ImageF32...)
			all.ImageU8 = append(all.ImageU8, buf.ImageU8...)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return all, nil
}

func TestOpenShardReadsRows(t *testing.T) {
	for _, format := range []string{"arrow", "parquet"} {
		for _, float := range []bool{true, false} {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			meta := tinyMeta(float)
			train := tinyRows(meta, 0, 23)
			dir := filepath.Join(t.TempDir(), "v")
			if _, err := writeVersion(dir, meta, format, 4, splitSpec{"train", train, 10}); err != nil {
				t.Fatal(err)
			}
			for _, opt := range []dataset.Option{dataset.WithVerify(true), dataset.WithVerify(false), dataset.WithVerifyOnce(), dataset.WithDataHash()} {
				ds, err := dataset.Open(dir, dataset.WithAllocator(mem), opt)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readShards(t, ds)
				if err != nil {
					t.Fatal(err)
				}
				if !equalRows(got, train) {
					t.Fatalf("%s float=%v: rows read through OpenShard differ from those written", format, float)
				}
			}
			mem.AssertSize(t, 0)
		}
	}
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 5), 10})
	ds, _ := dataset.Open(dir)
	if _, err := ds.OpenShard("train", 1); err == nil || !strings.Contains(err.Error(), "split train has 1 shards, no shard 1") {
		t.Fatalf("shard out of range: %v", err)
	}
	if _, err := ds.OpenShard("val", 0); err == nil || !strings.Contains(err.Error(), `no split "val"`) {
		t.Fatalf("unknown split: %v", err)
	}
	if _, err := dataset.Open(dir, dataset.WithAllocator(nil)); err == nil {
		t.Fatal("WithAllocator(nil) accepted")
	}
}

func TestShardsThatDisagreeWithTheManifest(t *testing.T) {
	dropLast := func(r shard.Rows) shard.Rows { return r.Slice(0, r.Len()-1, 6) }
	cases := []struct {
		name   string
		edit   func(*shard.Meta)
		rows   func(shard.Rows) shard.Rows
		field  string
		detail string
	}{
		{"shape", func(m *shard.Meta) { m.Height, m.Width = 3, 2 }, nil, "height", "schema metadata height = 3 does not match the manifest's 2"},
		{"channels", func(m *shard.Meta) {
			m.Height, m.Channels = 1, 2
			m.Mean, m.Std = append(m.Mean, m.Mean[0]), append(m.Std, m.Std[0]) // one per channel, or the writer refuses
		}, nil, "height", "schema metadata height = 1 does not match the manifest's 2"},
		{"classes", func(m *shard.Meta) { m.Classes = []string{"zero", "one", "deux"} }, nil, "classes", `schema metadata classes = ["zero","one","deux"] does not match the manifest's ["zero","one","two"]`},
		{"normalize mode", func(m *shard.Meta) { m.Normalize = "compute" }, nil, "normalize", `schema metadata normalize = "compute" does not match the manifest's "fixed"`},
		{"mean", func(m *shard.Meta) { m.Mean = manifest.Values{0.4} }, nil, "mean", "schema metadata mean = 0.4 does not match the manifest's 0.5"},
		{"std NaN", func(m *shard.Meta) { m.Std = manifest.Values{math.NaN()} }, nil, "std", "schema metadata std = NaN does not match the manifest's 0.25"},
		{"version", func(m *shard.Meta) { m.Version = strings.Repeat("cd", 32) }, nil, "version", `schema metadata version = "` + strings.Repeat("cd", 32) + `" does not match the manifest's "` + strings.Repeat("ab", 32) + `"`},
		{"dataset", func(m *shard.Meta) { m.Dataset = "other" }, nil, "dataset", `schema metadata dataset = "other" does not match`},
		{"split", func(m *shard.Meta) { m.Split = "test" }, nil, "split", `schema metadata split = "test" does not match the manifest's "train"`},
		{"fewer rows", func(*shard.Meta) {}, dropLast, "rows", "5 rows, manifest lists 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, read := range []string{"OpenShard", "Batches", "ReadSplit"} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				meta := tinyMeta(true)
				dir := filepath.Join(t.TempDir(), "v")
				m, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6})
				if err != nil {
					t.Fatal(err)
				}
				if err := tinyset.RewriteShard(dir, m.Splits[0].Shards[0].Path, c.edit, c.rows, shard.WithBatchRows(4)); err != nil {
					t.Fatal(err)
				}
				ds, err := dataset.Open(dir, dataset.WithAllocator(mem))
				if err != nil {
					t.Fatal(err)
				}
				switch read {
				case "OpenShard":
					_, err = readShards(t, ds)
				case "Batches":
					for _, e := range ds.Batches("train") {
						if e != nil {
							err = e
						}
					}
				case "ReadSplit":
					_, err = ds.ReadSplit("train")
				}
				var se *dataset.ShardError
				if !errors.As(err, &se) || se.Field != c.field || !strings.Contains(err.Error(), c.detail) ||
					!strings.Contains(err.Error(), filepath.Join(dir, "train-00000-of-00002.arrow")) {
					t.Fatalf("%s: error %v (field %v), want field %s and %q naming the shard", read, err, se, c.field, c.detail)
				}
				mem.AssertSize(t, 0)
			}
		})
	}
}

func TestDataHash(t *testing.T) {
	meta := tinyMeta(false)
	dir := filepath.Join(t.TempDir(), "v")
	m, err := writeVersion(dir, meta, "parquet", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6})
	if err != nil {
		t.Fatal(err)
	}
	old := m.Splits[0].Shards[0].DataSHA256
	// Other pixels, the file hash updated, the data hash left as it was.
	rewriteShardParquet := func() {
		sh := &m.Splits[0].Shards[0]
		p := filepath.Join(dir, sh.Path)
		rows := tinyRows(meta, 0, 6)
		rows.ImageU8[3]++
		sm := meta
		sm.Split = "train"
		var buf bytes.Buffer
		if _, err := shard.WriteParquet(&buf, sm, rows, shard.WithBatchRows(4)); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, buf.Bytes(), 0o644)
		sum := sha256.Sum256(buf.Bytes())
		sh.SHA256, sh.Bytes = hex.EncodeToString(sum[:]), int64(buf.Len())
		writeManifest(dir, m)
	}
	rewriteShardParquet()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	plain, _ := dataset.Open(dir, dataset.WithAllocator(mem))
	if _, err := readShards(t, plain); err != nil {
		t.Fatalf("without WithDataHash the data is not hashed, yet: %v", err)
	}
	hashed, _ := dataset.Open(dir, dataset.WithAllocator(mem), dataset.WithDataHash())
	_, err = readShards(t, hashed)
	var se *dataset.ShardError
	if !errors.As(err, &se) || se.Field != dataset.FieldDataSHA256 || se.Want != old || !strings.Contains(err.Error(), "data hash ") {
		t.Fatalf("error %v", err)
	}
	mem.AssertSize(t, 0)
}

func TestVerifyOnceStillChecksTheFirstRead(t *testing.T) {
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6})
	p := filepath.Join(dir, "train-00001-of-00002.arrow")
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	ds, err := dataset.Open(dir, dataset.WithVerifyOnce())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := readShards(t, ds)
		var se *dataset.ShardError
		if !errors.As(err, &se) || se.Field != dataset.FieldSHA256 || se.Path != p {
			t.Fatalf("error %v", err)
		}
	}
	// Once a shard verified, later reads check its size only.
	os.WriteFile(p, b[:len(b)-1], 0o644)
	_, err = ds.OpenShard("train", 1)
	if err == nil || !strings.Contains(err.Error(), "bytes, manifest says") {
		t.Fatalf("error %v", err)
	}
}

func TestMissingShardIsAFileError(t *testing.T) {
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6})
	p := filepath.Join(dir, "train-00001-of-00002.arrow")
	os.Remove(p)
	if _, err := dataset.Open(dir); err == nil || !strings.Contains(err.Error(), "split train: shard "+p+": no such file or directory") {
		t.Fatalf("Open: %v", err)
	}
	ds, err := dataset.Load(dir) // Load does not look at the shards
	if err != nil {
		t.Fatal(err)
	}
	_, err = readShards(t, ds)
	var se *dataset.ShardError
	if !errors.As(err, &se) || se.Field != dataset.FieldFile || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v", err)
	}
}

func TestResolve(t *testing.T) {
	meta := tinyMeta(true)
	out := t.TempDir()
	v := filepath.Join(out, "a", "abababababab")
	writeVersion(v, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 3), 10})
	if err := os.Symlink("abababababab", filepath.Join(out, "a", manifest.LatestName)); err != nil {
		t.Fatal(err)
	}
	latest := filepath.Join(out, "a", manifest.LatestName)
	for in, want := range map[string]string{v: v, filepath.Join(v, manifest.FileName): v, filepath.Join(out, "a"): latest, out: latest} {
		got, err := dataset.Resolve(in)
		if err != nil || got != want {
			t.Fatalf("Resolve(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	w := filepath.Join(out, "b", "cdcdcdcdcdcd")
	writeVersion(w, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 3), 10})
	os.Symlink("cdcdcdcdcdcd", filepath.Join(out, "b", manifest.LatestName))
	if _, err := dataset.Resolve(out); err == nil || !strings.Contains(err.Error(), out+" holds 2 datasets; name one of:\n  "+filepath.Join(out, "a")+"\n  "+filepath.Join(out, "b")) {
		t.Fatalf("ambiguous root: %v", err)
	}
	empty := t.TempDir()
	if _, err := dataset.Resolve(empty); err == nil || !strings.HasPrefix(err.Error(), empty+": no dataset version here") {
		t.Fatalf("empty dir: %v", err)
	}
	if _, err := dataset.Resolve(filepath.Join(empty, "nope")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing dir: %v", err)
	}
}

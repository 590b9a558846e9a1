package dataset_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

func equalRows(a, b shard.Rows) bool {
	return slices.Equal(a.SourceIndex, b.SourceIndex) && slices.Equal(a.Label, b.Label) && slices.Equal(a.Copy, b.Copy) &&
		slices.Equal(a.ImageF32, b.ImageF32) && slices.Equal(a.ImageU8, b.ImageU8) &&
		(a.ImageF32 == nil) == (b.ImageF32 == nil) && (a.ImageU8 == nil) == (b.ImageU8 == nil)
}

func TestReadVersion(t *testing.T) {
	for _, format := range []string{"arrow", "parquet"} {
		for _, float := range []bool{true, false} {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			meta := tinyMeta(float)
			train, test := tinyRows(meta, 0, 23), tinyRows(meta, 100, 5)
			dir := filepath.Join(t.TempDir(), "v")
			if _, err := writeVersion(dir, meta, format, 4,
				splitSpec{"train", train, 10}, splitSpec{"test", test, 10}); err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(dir, dataset.WithAllocator(mem))
			if err != nil {
				t.Fatal(err)
			}
			if got := ds.Splits(); !slices.Equal(got, []vocab.Split{vocab.Train, vocab.Test}) {
				t.Fatalf("splits %v", got)
			}
			if !reflect.DeepEqual(ds.Meta(), meta) {
				t.Fatalf("meta %+v, want %+v", ds.Meta(), meta)
			}
			if ds.NumRows("train") != 23 || ds.NumRows("test") != 5 || ds.NumRows("val") != -1 {
				t.Fatalf("rows train %d test %d val %d", ds.NumRows("train"), ds.NumRows("test"), ds.NumRows("val"))
			}
			if ds.Manifest().Split("train").Shards[2].Path != "train-00002-of-00003."+format {
				t.Fatalf("manifest shards %+v", ds.Manifest().Split("train").Shards)
			}

			// Batches: three shards of 10, 10, 3 rows in batches of at most 4.
			var sizes []int64
			var labels []uint8
			for rec, err := range ds.Batches("train") {
				if err != nil {
					t.Fatal(err)
				}
				if !rec.Schema().Equal(shard.Schema(meta)) {
					t.Fatalf("%s: batch schema %v", format, rec.Schema())
				}
				sizes = append(sizes, rec.NumRows())
				labels = append(labels, rec.Column(1).(*array.Uint8).Uint8Values()...)
			}
			if want := []int64{4, 4, 2, 4, 4, 2, 3}; !slices.Equal(sizes, want) {
				t.Fatalf("%s: batch sizes %v, want %v", format, sizes, want)
			}
			if !slices.Equal(labels, train.Label) {
				t.Fatalf("%s: labels %v, want %v", format, labels, train.Label)
			}

			for name, want := range map[vocab.Split]shard.Rows{"train": train, "test": test} {
				got, err := ds.ReadSplit(name)
				if err != nil {
					t.Fatal(err)
				}
				if !equalRows(got, want) {
					t.Fatalf("%s float=%v: split %s differs from what was written", format, float, name)
				}
			}
			mem.AssertSize(t, 0)
		}
	}
}

func TestEmptySplit(t *testing.T) {
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	if _, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"val", tinyRows(meta, 0, 0), 10}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.ReadSplit("val")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Len() != 0 || rows.ImageF32 == nil || rows.ImageU8 != nil {
		t.Fatalf("empty split: %+v", rows)
	}
}

func TestBatchesStopEarly(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	if _, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 30), 10}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(dir, dataset.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	var kept []uint64
	seen := 0
	for rec, err := range ds.Batches("train") {
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, rec.Column(0).(*array.Uint64).Uint64Values()...)
		if seen++; seen == 4 { // the first batch of the second shard
			break
		}
	}
	if want := []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}; !slices.Equal(kept, want) {
		t.Fatalf("source indices %v, want %v", kept, want)
	}
	mem.AssertSize(t, 0)
}

// corrupt builds a valid version, applies damage to it, and returns the
// error of opening it and reading split train, with or without the SHA-256
// check.
func corrupt(t *testing.T, verify bool, damage func(dir string, m *manifest.Manifest)) error {
	t.Helper()
	meta := tinyMeta(true)
	dir := filepath.Join(t.TempDir(), "v")
	m, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6})
	if err != nil {
		t.Fatal(err)
	}
	damage(dir, m)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ds, err := dataset.Open(dir, dataset.WithAllocator(mem), dataset.WithVerify(verify))
	if err != nil {
		return err
	}
	_, err = ds.ReadSplit("train")
	return err
}

func TestBadVersions(t *testing.T) {
	rewrite := func(t *testing.T, dir string, m *manifest.Manifest) {
		if err := writeManifest(dir, m); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		verify bool
		damage func(t *testing.T, dir string, m *manifest.Manifest)
		want   []string
	}{
		{"no manifest", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			os.Remove(filepath.Join(dir, manifest.FileName))
		}, []string{"manifest.json", "no such file"}},
		{"invalid manifest", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			m.Splits[0].Rows++
			rewrite(t, dir, m)
		}, []string{"manifest.json", "split train: rows 13, but shards hold 12"}},
		{"dtype", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			m.Image.DType = "uint8"
			rewrite(t, dir, m)
		}, []string{`normalize mode "fixed" needs image dtype float32, manifest says uint8`}},
		{"missing shard", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			os.Remove(filepath.Join(dir, "train-00001-of-00002.arrow"))
		}, []string{"split train", "train-00001-of-00002.arrow", "no such file"}},
		{"truncated shard", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			p := filepath.Join(dir, "train-00000-of-00002.arrow")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-10], 0o644)
		}, []string{"train-00000-of-00002.arrow", "bytes, manifest says"}},
		{"changed bytes", true, func(t *testing.T, dir string, m *manifest.Manifest) {
			p := filepath.Join(dir, "train-00001-of-00002.arrow")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, []string{"train-00001-of-00002.arrow", "SHA-256", "manifest says " + "<sha>"}},
		{"rows", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			sp := &m.Splits[0]
			sp.Shards[0].Rows, sp.Shards[1].Rows = 5, 7
			rewrite(t, dir, m)
		}, []string{"train-00000-of-00002.arrow", "more than the 5 rows the manifest lists"}},
		{"fewer rows", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			sp := &m.Splits[0]
			sp.Shards[0].Rows, sp.Shards[1].Rows = 7, 5
			rewrite(t, dir, m)
		}, []string{"train-00000-of-00002.arrow", "6 rows, manifest lists 7"}},
		{"metadata", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			m.Normalize.Std = manifest.Values{0.3}
			rewrite(t, dir, m)
		}, []string{"train-00000-of-00002.arrow", "schema metadata", "does not match the manifest's"}},
		{"not a shard", false, func(t *testing.T, dir string, m *manifest.Manifest) {
			p := filepath.Join(dir, "train-00000-of-00002.arrow")
			b, _ := os.ReadFile(p)
			for i := range b {
				b[i] = 'x'
			}
			os.WriteFile(p, b, 0o644)
		}, []string{"train-00000-of-00002.arrow", "not a readable Arrow IPC file"}},
		{"not a shard, verified", true, func(t *testing.T, dir string, m *manifest.Manifest) {
			p := filepath.Join(dir, "train-00000-of-00002.arrow")
			b, _ := os.ReadFile(p)
			for i := range b {
				b[i] = 'x'
			}
			os.WriteFile(p, b, 0o644)
		}, []string{"train-00000-of-00002.arrow", "SHA-256"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var shaWant string
			err := corrupt(t, tc.verify, func(dir string, m *manifest.Manifest) {
				shaWant = m.Splits[0].Shards[1].SHA256
				tc.damage(t, dir, m)
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "<sha>", shaWant)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestUnknownSplit(t *testing.T) {
	meta := tinyMeta(false)
	dir := filepath.Join(t.TempDir(), "v")
	if _, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 3), 10}, splitSpec{"test", tinyRows(meta, 3, 3), 10}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.ReadSplit("val")
	if err == nil || !strings.Contains(err.Error(), `no split "val" (have train, test)`) {
		t.Fatalf("error %v", err)
	}
	yields := 0
	for rec, err := range ds.Batches("validation") {
		yields++
		if rec != nil || err == nil || !strings.Contains(err.Error(), `no split "validation"`) {
			t.Fatalf("yielded %v, %v", rec, err)
		}
	}
	if yields != 1 {
		t.Fatalf("%d yields for an unknown split, want 1 (the error)", yields)
	}
}

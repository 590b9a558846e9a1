package dataset_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
)

// With WithVerifyOnce a shard's bytes are hashed on its first read only:
// later reads check its size, so a change that keeps the size is not seen
// by them, where the default WithVerify(true) hashes every read and sees it.
func TestVerifyOnceHashesTheFirstReadOnly(t *testing.T) {
	meta := tinyMeta(false)
	dir := filepath.Join(t.TempDir(), "v")
	if _, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6}); err != nil {
		t.Fatal(err)
	}
	once, err := dataset.Open(dir, dataset.WithVerifyOnce())
	if err != nil {
		t.Fatal(err)
	}
	every, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []*dataset.Dataset{once, every} {
		if _, err := readShards(t, ds); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "train-00000-of-00002.arrow")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var se *dataset.ShardError
	if _, err := readShards(t, every); !errors.As(err, &se) || se.Field != dataset.FieldSHA256 || se.Path != p {
		t.Fatalf("WithVerify(true), second read of a changed shard: %v, want its SHA-256 refused", err)
	}
	if _, err := readShards(t, once); errors.As(err, &se) && se.Field == dataset.FieldSHA256 {
		t.Fatalf("WithVerifyOnce hashed a shard again: %v", err)
	}
}

// A reader's first error is sticky: every later call returns it, and a
// shard found short of rows never reads as whole afterwards.
func TestShardReaderErrorIsSticky(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rows   [2]int
		detail string
	}{
		{"more rows", [2]int{5, 7}, "more than the 5 rows the manifest lists"},
		{"fewer rows", [2]int{7, 5}, "6 rows, manifest lists 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := tinyMeta(true)
			dir := filepath.Join(t.TempDir(), "v")
			m, err := writeVersion(dir, meta, "arrow", 4, splitSpec{"train", tinyRows(meta, 0, 12), 6})
			if err != nil {
				t.Fatal(err)
			}
			m.Splits[0].Shards[0].Rows, m.Splits[0].Shards[1].Rows = tc.rows[0], tc.rows[1]
			if err := writeManifest(dir, m); err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ds.OpenShard("train", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var first error
			for range 10 {
				rec, err := r.NextBatch()
				if err != nil {
					first = err
					break
				}
				if rec == nil {
					t.Fatal("the shard read as whole")
				}
				rec.Release()
			}
			if first == nil || !strings.Contains(first.Error(), tc.detail) {
				t.Fatalf("first error %v, want %q", first, tc.detail)
			}
			for range 3 {
				if rec, err := r.NextBatch(); rec != nil || err != first {
					t.Fatalf("after %v: NextBatch = %v, %v; want the same error", first, rec, err)
				}
			}
		})
	}
}

// The message of a shard the decoder cannot read names the file once.
func TestFormatErrorNamesTheFileOnce(t *testing.T) {
	err := corrupt(t, false, func(dir string, m *manifest.Manifest) {
		p := filepath.Join(dir, "train-00000-of-00002.arrow")
		b, _ := os.ReadFile(p)
		for i := range b {
			b[i] = 'x'
		}
		os.WriteFile(p, b, 0o644)
	})
	var se *dataset.ShardError
	if !errors.As(err, &se) || se.Field != dataset.FieldFormat {
		t.Fatalf("error %v, want a format error", err)
	}
	if n := strings.Count(err.Error(), "train-00000-of-00002.arrow"); n != 1 {
		t.Errorf("error %q names the file %d times, want once", err, n)
	}
}

package prep

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

func TestVerifyCatchesDamage(t *testing.T) {
	ts := writeTiny(t, 120, 30, 4, 4, 21)
	cfg := ts.config(t, tinySplit)
	cases := []struct {
		name   string
		damage func(dir string) string // returns the file that should be reported
		want   string
	}{
		{"flipped byte", func(dir string) string {
			p := filepath.Join(dir, "train-00001-of-00003.arrow")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x40
			os.WriteFile(p, b, 0o644)
			return "train-00001-of-00003.arrow"
		}, "sha256"},
		{"truncated", func(dir string) string {
			p := filepath.Join(dir, "val-00000-of-00001.arrow")
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()-10)
			return "val-00000-of-00001.arrow"
		}, "size"},
		{"missing", func(dir string) string {
			os.Remove(filepath.Join(dir, "test-00000-of-00001.arrow"))
			return "test-00000-of-00001.arrow"
		}, "missing"},
		{"extra file", func(dir string) string {
			os.WriteFile(filepath.Join(dir, "stray.arrow"), []byte("x"), 0o644)
			return "stray.arrow"
		}, "not listed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := build(t, cfg, testOptions(t, t.TempDir()))
			if _, err := Verify(res.Dir); err != nil {
				t.Fatalf("fresh version fails verify: %v", err)
			}
			file := c.damage(res.Dir)
			_, err := Verify(res.Dir)
			var ve *VerifyError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != file || !strings.Contains(ve.Problems[0].What, c.want) {
				t.Fatalf("verify after %s: %v", c.name, err)
			}
		})
	}
}

func TestReproduceIdentical(t *testing.T) {
	ts := writeTiny(t, 90, 20, 3, 3, 22)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	opts := testOptions(t, out)
	res := build(t, cfg, opts)
	rep, err := Reproduce(context.Background(), res.Dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Identical || !rep.SameData || rep.RebuiltVersion != rep.Version || len(rep.Shards) != 4 {
		t.Fatalf("report %+v", rep)
	}
}

func TestCompareTellsSameDataFromDifferentData(t *testing.T) {
	ts := writeTiny(t, 90, 20, 3, 3, 23)
	zstd := build(t, ts.config(t, tinySplit), testOptions(t, t.TempDir())).Manifest
	none := build(t, ts.config(t, "split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 40, batch_rows: 16, compression: none}\n"), testOptions(t, t.TempDir())).Manifest
	rep := compare(zstd, none)
	if rep.Identical || !rep.SameData {
		t.Fatalf("zstd vs uncompressed: %+v", rep)
	}
	for _, c := range rep.Shards {
		if c.Status != SameData {
			t.Fatalf("%s: %s, want %s", c.Path, c.Status, SameData)
		}
	}
	other := build(t, ts.config(t, "split: {seed: 4, val_fraction: 0.2, stratify: true}\nshards: {rows: 40, batch_rows: 16}\n"), testOptions(t, t.TempDir())).Manifest
	rep = compare(zstd, other)
	if rep.SameData {
		t.Fatalf("different split seed reported as same data: %+v", rep)
	}
}

func TestParquetShards(t *testing.T) {
	ts := writeTiny(t, 90, 20, 3, 3, 24)
	arrow := build(t, ts.config(t, tinySplit), testOptions(t, t.TempDir()))
	pq := build(t, ts.config(t, "split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 40, batch_rows: 16, format: parquet}\n"), testOptions(t, t.TempDir()))
	if pq.Manifest.Version == arrow.Manifest.Version {
		t.Fatal("format did not change the version")
	}
	if !strings.HasSuffix(pq.Manifest.Splits[0].Shards[0].Path, ".parquet") {
		t.Fatalf("shard %s", pq.Manifest.Splits[0].Shards[0].Path)
	}
	if _, err := Verify(pq.Dir); err != nil {
		t.Fatal(err)
	}
	for i, sp := range arrow.Manifest.Splits {
		for j, sh := range sp.Shards {
			if got := pq.Manifest.Splits[i].Shards[j].DataSHA256; got != sh.DataSHA256 {
				t.Fatalf("%s: Parquet data hash %s, Arrow %s: same rows must hash the same", sh.Path, got, sh.DataSHA256)
			}
		}
	}
}

func TestVerifyCatchesContradictedShards(t *testing.T) {
	ts := writeTiny(t, 120, 30, 4, 4, 25)
	cfg := ts.config(t, tinySplit)
	const victim = "train-00001-of-00003.arrow"
	for _, c := range []struct {
		name string
		edit func(*shard.Meta)
		rows func(shard.Rows) shard.Rows
		want string
	}{
		{"shape", func(m *shard.Meta) { m.Height, m.Width = 2, 8 }, nil, "schema metadata height = 2 does not match the manifest's 4"},
		{"classes", func(m *shard.Meta) { m.Classes = append([]string{"x"}, m.Classes[1:]...) }, nil, "schema metadata classes = [\"x\",\"1\""},
		{"normalization", func(m *shard.Meta) { m.Std = manifest.Values{m.Std[0] * 2} }, nil, "schema metadata std = "},
		{"version", func(m *shard.Meta) { m.Version = strings.Repeat("0", 64) }, nil, "schema metadata version = \"000"},
		{"rows", func(*shard.Meta) {}, func(r shard.Rows) shard.Rows { return r.Slice(1, r.Len(), 16) }, "39 rows, manifest lists 40"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := build(t, cfg, testOptions(t, t.TempDir()))
			if err := tinyset.RewriteShard(res.Dir, victim, c.edit, c.rows); err != nil {
				t.Fatal(err)
			}
			_, err := Verify(res.Dir)
			var ve *VerifyError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != victim || !strings.Contains(ve.Problems[0].What, c.want) {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

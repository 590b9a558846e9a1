package prep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/idx"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/stages/download"
)

// tinySet is a small synthetic dataset written as IDX files in a temp dir.
type tinySet struct {
	dir                     string
	trainImgs, testImgs     []uint8
	trainLabels, testLabels []uint8
	h, w                    int
	files                   map[string]string // source key -> path
}

func writeTiny(t testing.TB, nTrain, nTest, h, w int, seed uint64) *tinySet {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	ts := &tinySet{dir: t.TempDir(), h: h, w: w, files: map[string]string{}}
	gen := func(n int) ([]uint8, []uint8) {
		img := make([]uint8, n*h*w)
		for i := range img {
			img[i] = uint8(r.IntN(256))
		}
		lab := make([]uint8, n)
		for i := range lab {
			lab[i] = uint8(r.IntN(10))
		}
		return img, lab
	}
	ts.trainImgs, ts.trainLabels = gen(nTrain)
	ts.testImgs, ts.testLabels = gen(nTest)
	ts.write(t, "train_images", idx.Header{Type: idx.U8, Dims: []int{nTrain, h, w}}, ts.trainImgs)
	ts.write(t, "train_labels", idx.Header{Type: idx.U8, Dims: []int{nTrain}}, ts.trainLabels)
	ts.write(t, "test_images", idx.Header{Type: idx.U8, Dims: []int{nTest, h, w}}, ts.testImgs)
	ts.write(t, "test_labels", idx.Header{Type: idx.U8, Dims: []int{nTest}}, ts.testLabels)
	return ts
}

func (ts *tinySet) write(t testing.TB, key string, h idx.Header, data []uint8) {
	t.Helper()
	var buf bytes.Buffer
	if err := idx.WriteGzip(&buf, h, data); err != nil {
		t.Fatal(err)
	}
	ts.writeRaw(t, key, buf.Bytes())
}

// writeRaw replaces a source file with arbitrary bytes.
func (ts *tinySet) writeRaw(t testing.TB, key string, data []byte) {
	t.Helper()
	p := filepath.Join(ts.dir, key+".gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.files[key] = p
}

// config returns a configuration for the set with the given extra YAML.
func (ts *tinySet) config(t testing.TB, extra string) *config.Config {
	t.Helper()
	y := fmt.Sprintf("dataset: tiny\nmirrors: [%q]\nsources:\n", "file://"+ts.dir+"/")
	for _, k := range []string{"train_images", "train_labels", "test_images", "test_labels"} {
		data, err := os.ReadFile(ts.files[k])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		y += fmt.Sprintf("  %s: {file: %s, sha256: %s}\n", k, filepath.Base(ts.files[k]), hex.EncodeToString(sum[:]))
	}
	y += extra
	cfg, err := config.Parse([]byte(y), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const tinySplit = "split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 40, batch_rows: 16}\n"

func testOptions(t testing.TB, out string) Options {
	return Options{Out: out, Fetcher: download.New(download.WithCacheDir(filepath.Join(out, ".cache-test")), download.WithRetries(0))}
}

func build(t testing.TB, cfg *config.Config, opts Options) *Result {
	t.Helper()
	res, err := Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readSplit reads every row of a split of a version directory.
func readSplit(t testing.TB, dir string, res *Result, name vocab.Split) shard.Rows {
	t.Helper()
	var all shard.Rows
	sp := res.Manifest.Split(name)
	if sp == nil {
		return all
	}
	for _, sh := range sp.Shards {
		r, err := shard.OpenFile(filepath.Join(dir, sh.Path))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := r.ReadAll()
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		all.SourceIndex = append(all.SourceIndex, rows.SourceIndex...)
		all.Label = append(all.Label, rows.Label...)
		all.Copy = append(all.Copy, rows.Copy...)
		all.ImageF32 = append(all.ImageF32, rows.ImageF32...)
		all.ImageU8 = append(all.ImageU8, rows.ImageU8...)
		all.SourcePath = append(all.SourcePath, rows.SourcePath...)
	}
	return all
}

// dirFiles maps each file name in dir to its bytes.
func dirFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// leftovers lists entries of the dataset directory other than versions, latest and the lock.
func leftovers(t testing.TB, dsDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dsDir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); n != ".lock" && n != manifest.LatestName && n != ".cache-test" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

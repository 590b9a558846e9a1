package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/idx"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/prep"
	"github.com/shardsmith/shardsmith/stages/download"
)

// EnvDir names the directory the Node suite reads: dataset versions under
// versions/, Parquet shards under parquet/, and expectations.json.
const EnvDir = "SHARDSMITH_INTEROP_DIR"

// Expectations is what the Go reader sees, for the Node suite to compare
// against. Paths are relative to the directory in EnvDir. Unsigned 64-bit
// sums are decimal strings (JSON numbers lose precision above 2^53); float
// values are float32 pixels widened to float64, which JSON carries exactly.
type Expectations struct {
	Datasets []DatasetExp `json:"datasets"`
	Parquet  []ParquetExp `json:"parquet"`
	// Snippet names the shard the README's Node snippets are run on.
	Snippet SnippetExp `json:"snippet"`
}

// DatasetExp describes one version directory built by prep.
type DatasetExp struct {
	Name        string            `json:"name"`
	Dir         string            `json:"dir"`
	Compression vocab.Compression `json:"compression"`
	BatchRows   int               `json:"batch_rows"`
	Meta        MetaExp           `json:"meta"`
	Splits      []vocab.Split     `json:"splits"` // the splits whose shards are checked
	Shards      []ShardExp        `json:"shards"`
}

// MetaExp is the schema metadata every shard of a dataset carries.
type MetaExp struct {
	Dataset   string              `json:"dataset"`
	Version   string              `json:"version"`
	Height    int                 `json:"height"`
	Width     int                 `json:"width"`
	Channels  int                 `json:"channels"`
	DType     string              `json:"dtype"`
	Normalize vocab.NormalizeMode `json:"normalize"`
	Mean      manifest.Values     `json:"mean"`
	Std       manifest.Values     `json:"std"`
	Classes   []string            `json:"classes"`
	Format    string              `json:"shard_format"`
}

// ShardExp describes the contents of one shard file.
type ShardExp struct {
	Split   vocab.Split `json:"split"`
	Path    string      `json:"path"`
	Rows    int         `json:"rows"`
	Batches int         `json:"batches"`
	// Column aggregates over the whole shard. PixelSum adds every pixel, as
	// float64, in row-major order: a reader that gets any pixel wrong or out
	// of order gets another sum.
	LabelSum       int64      `json:"label_sum"`
	SourceIndexSum string     `json:"source_index_sum"`
	CopySum        int64      `json:"copy_sum"`
	PixelSum       float64    `json:"pixel_sum"`
	Checks         []RowCheck `json:"checks"`
}

// RowCheck pins one row: its columns and some of its pixels.
type RowCheck struct {
	Row         int        `json:"row"`
	SourceIndex string     `json:"source_index"`
	Label       uint8      `json:"label"`
	Copy        uint16     `json:"copy"`
	Pixels      []PixelExp `json:"pixels"`
}

// PixelExp is pixel I (row-major within the image) and its value.
type PixelExp struct {
	I int     `json:"i"`
	V float64 `json:"v"`
}

// ParquetExp describes a Parquet copy of one shard.
type ParquetExp struct {
	Dataset     string            `json:"dataset"` // DatasetExp.Name, for the metadata
	Compression vocab.Compression `json:"compression"`
	RowGroups   int               `json:"row_groups"`
	AvgLabel    float64           `json:"avg_label"`
	DataSHA256  string            `json:"data_sha256"`
	Shard       ShardExp          `json:"shard"`
}

// SnippetExp is the input of the README snippets and what they must print.
type SnippetExp struct {
	Dataset string `json:"dataset"`
	Arrow   string `json:"arrow"`
	Parquet string `json:"parquet"`
}

// fashionClasses exercises class names with spaces and a slash.
var fashionClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

func TestNodeReaders(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat("node_modules")
	}
	if err != nil {
		msg := fmt.Sprintf("Node readers not installed (%v); run `npm ci --prefix interop` with Node ≥ 20", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	root := os.Getenv("SHARDSMITH_INTEROP_OUT")
	if root == "" {
		root = t.TempDir()
	} else if root, err = filepath.Abs(root); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fetcher := download.New(download.WithCacheDir(filepath.Join(root, "cache")), download.WithRetries(1))
	var exp Expectations

	t0 := time.Now()
	src := writeTinySources(t, filepath.Join(root, "sources"), 90, 30, 6, 5)
	for _, comp := range vocab.Compressions {
		for _, norm := range []string{"compute", "none"} {
			name := "tiny-" + comp.String() + "-" + map[string]string{"compute": "f32", "none": "u8"}[norm]
			yaml := src.config(name) + fmt.Sprintf("normalize: {mode: %s}\nsplit: {seed: 5, val_fraction: 0.2, stratify: true}\n"+
				"shards: {rows: 32, batch_rows: 12, compression: %s}\n", norm, comp)
			cfg, err := config.Parse([]byte(yaml), name+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			res, err := prep.Build(ctx, cfg, prep.Options{Out: filepath.Join(root, "versions"), Fetcher: fetcher})
			if err != nil {
				t.Fatal(err)
			}
			exp.Datasets = append(exp.Datasets, describe(t, root, name, res.Dir, comp, cfg.Shards.BatchRows, nil))
		}
	}
	t.Logf("tiny datasets built in %v", time.Since(t0).Round(time.Millisecond))

	if !testing.Short() {
		t0 = time.Now()
		cfg, err := config.Load("../configs/mnist.yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfg.KeepMirrors("gomod://") // the Go module proxy only: no public hosts tried
		res, err := prep.Build(ctx, cfg, prep.Options{Out: filepath.Join(root, "versions"), Fetcher: fetcher})
		if err != nil {
			t.Fatal(err)
		}
		exp.Datasets = append(exp.Datasets, describe(t, root, "mnist", res.Dir, cfg.Shards.Compression, cfg.Shards.BatchRows, []vocab.Split{vocab.Test}))
		t.Logf("MNIST built in %v", time.Since(t0).Round(time.Millisecond))
	}

	t0 = time.Now()
	for _, d := range exp.Datasets {
		exp.Parquet = append(exp.Parquet, writeParquet(t, root, d)...)
	}
	last := exp.Datasets[len(exp.Datasets)-1]
	if !testing.Short() && last.Name != "mnist" {
		t.Fatal("MNIST missing")
	}
	exp.Snippet = SnippetExp{Dataset: last.Name, Arrow: filepath.Join(last.Dir, last.Shards[len(last.Shards)-1].Path)}
	for _, p := range exp.Parquet {
		if p.Dataset == last.Name {
			exp.Snippet.Parquet = p.Shard.Path
		}
	}
	t.Logf("Parquet shards and expectations written in %v", time.Since(t0).Round(time.Millisecond))

	b, err := json.MarshalIndent(exp, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "expectations.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	t0 = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Env = append(os.Environ(), EnvDir+"="+root, "NO_COLOR=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test passed in %v:\n%s", time.Since(t0).Round(time.Millisecond), out)
}

// tinySources is a small synthetic MNIST-like dataset as four IDX files.
type tinySources struct {
	dir  string
	sums map[string]string // source key -> SHA-256
}

var sourceKeys = []string{"train_images", "train_labels", "test_images", "test_labels"}

func writeTinySources(t *testing.T, dir string, nTrain, nTest, h, w int) *tinySources {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 13))
	ts := &tinySources{dir: dir, sums: map[string]string{}}
	for _, part := range []struct {
		prefix string
		n      int
	}{{"train", nTrain}, {"test", nTest}} {
		img := make([]uint8, part.n*h*w)
		for i := range img {
			img[i] = uint8(r.IntN(256))
		}
		lab := make([]uint8, part.n)
		for i := range lab {
			lab[i] = uint8(r.IntN(len(fashionClasses)))
		}
		ts.write(t, part.prefix+"_images", idx.Header{Type: idx.U8, Dims: []int{part.n, h, w}}, img)
		ts.write(t, part.prefix+"_labels", idx.Header{Type: idx.U8, Dims: []int{part.n}}, lab)
	}
	return ts
}

func (ts *tinySources) write(t *testing.T, key string, h idx.Header, data []uint8) {
	t.Helper()
	var buf bytes.Buffer
	if err := idx.WriteGzip(&buf, h, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, key+".gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	ts.sums[key] = hex.EncodeToString(sum[:])
}

// config returns the dataset, class, mirror and source lines of a configuration.
func (ts *tinySources) config(dataset string) string {
	classes, _ := json.Marshal(fashionClasses)
	y := fmt.Sprintf("dataset: %s\nclasses: %s\nmirrors: [%q]\nsources:\n", dataset, classes, "file://"+ts.dir+"/")
	for _, k := range sourceKeys {
		y += fmt.Sprintf("  %s: {file: %s.gz, sha256: %s}\n", k, k, ts.sums[k])
	}
	return y
}

// describe reads a version with the Go reader and records what the Node
// readers must see in the shards of the given splits (all when nil).
func describe(t *testing.T, root, name, dir string, compression vocab.Compression, batchRows int, splits []vocab.Split) DatasetExp {
	t.Helper()
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := ds.Meta()
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	if splits == nil {
		splits = ds.Splits()
	}
	d := DatasetExp{Name: name, Dir: filepath.ToSlash(rel), Compression: compression, BatchRows: batchRows, Splits: splits,
		Meta: MetaExp{Dataset: m.Dataset, Version: m.Version, Height: m.Height, Width: m.Width, Channels: m.Channels,
			DType: ds.Manifest().Image.DType, Normalize: m.Normalize, Mean: m.Mean, Std: m.Std, Classes: m.Classes, Format: shard.Version}}
	for _, split := range splits {
		rows, err := ds.ReadSplit(split)
		if err != nil {
			t.Fatal(err)
		}
		at := 0
		for _, sh := range ds.Manifest().Split(split).Shards {
			r, err := shard.Open(filepath.Join(dir, sh.Path))
			if err != nil {
				t.Fatal(err)
			}
			batches := r.NumBatches()
			r.Close()
			e := shardExp(rows.Slice(at, at+sh.Rows, m.Elems()), m.Elems())
			e.Split, e.Path, e.Batches = split, sh.Path, batches
			d.Shards = append(d.Shards, e)
			at += sh.Rows
		}
	}
	return d
}

// shardExp computes the aggregates of a shard's rows and picks rows to pin:
// the first, middle and last row and the first row of every label.
func shardExp(rows shard.Rows, elems int) ShardExp {
	n := rows.Len()
	e := ShardExp{Rows: n}
	var srcSum uint64
	for i := 0; i < n; i++ {
		e.LabelSum += int64(rows.Label[i])
		e.CopySum += int64(rows.Copy[i])
		srcSum += rows.SourceIndex[i]
	}
	e.SourceIndexSum = strconv.FormatUint(srcSum, 10)
	pixel := func(k int) float64 {
		if rows.ImageF32 != nil {
			return float64(rows.ImageF32[k])
		}
		return float64(rows.ImageU8[k])
	}
	for k := 0; k < n*elems; k++ {
		e.PixelSum += pixel(k)
	}
	picked := map[int]bool{}
	pick := func(i int) {
		if i < 0 || i >= n || picked[i] {
			return
		}
		picked[i] = true
		c := RowCheck{Row: i, SourceIndex: strconv.FormatUint(rows.SourceIndex[i], 10), Label: rows.Label[i], Copy: rows.Copy[i]}
		lo, hi, first := 0, 0, -1
		for k := 0; k < elems; k++ {
			v := pixel(i*elems + k)
			if v < pixel(i*elems+lo) {
				lo = k
			}
			if v > pixel(i*elems+hi) {
				hi = k
			}
			if first < 0 && v != pixel(i*elems) {
				first = k
			}
		}
		seen := map[int]bool{}
		for _, k := range []int{0, first, lo, hi, elems / 2, elems - 1} {
			if k >= 0 && !seen[k] {
				seen[k] = true
				c.Pixels = append(c.Pixels, PixelExp{I: k, V: pixel(i*elems + k)})
			}
		}
		e.Checks = append(e.Checks, c)
	}
	pick(0)
	pick(n / 2)
	pick(n - 1)
	seenLabel := map[uint8]bool{}
	for i := 0; i < n; i++ {
		if !seenLabel[rows.Label[i]] {
			seenLabel[rows.Label[i]] = true
			pick(i)
		}
	}
	return e
}

// writeParquet writes every checked shard of d as a Parquet file (with d's
// compression and one row group per record batch) under parquet/NAME/ and
// reads it back with the Go reader.
func writeParquet(t *testing.T, root string, d DatasetExp) []ParquetExp {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(d.Dir))
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(root, "parquet", d.Name)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var out []ParquetExp
	for _, sh := range d.Shards {
		ipc, err := shard.Open(filepath.Join(dir, sh.Path))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ipc.ReadAll()
		ipc.Close()
		if err != nil {
			t.Fatal(err)
		}
		meta := ds.Meta()
		meta.Split = sh.Split
		name := strings.TrimSuffix(sh.Path, ".arrow") + ".parquet"
		p := filepath.Join(outDir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		res, err := shard.WriteParquet(f, meta, rows, shard.WithCompression(d.Compression), shard.WithBatchRows(d.BatchRows))
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		want := ds.Manifest().Split(sh.Split)
		for _, ms := range want.Shards {
			if ms.Path == sh.Path && ms.DataSHA256 != res.DataSHA256 {
				t.Fatalf("%s: Parquet data hash %s, manifest's IPC shard %s", p, res.DataSHA256, ms.DataSHA256)
			}
		}

		pr, err := shard.OpenParquet(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := pr.ReadAll()
		groups := pr.NumBatches()
		pr.Close()
		if err != nil {
			t.Fatal(err)
		}
		e := shardExp(back, meta.Elems())
		e.Split, e.Path, e.Batches = sh.Split, filepath.ToSlash(filepath.Join("parquet", d.Name, name)), groups
		if e.PixelSum != sh.PixelSum || e.LabelSum != sh.LabelSum || e.SourceIndexSum != sh.SourceIndexSum || e.Rows != sh.Rows {
			t.Fatalf("%s reads back other rows than %s", p, sh.Path)
		}
		avg := 0.0
		if e.Rows > 0 {
			avg = float64(e.LabelSum) / float64(e.Rows)
		}
		out = append(out, ParquetExp{Dataset: d.Name, Compression: d.Compression, RowGroups: groups, AvgLabel: avg, DataSHA256: res.DataSHA256, Shard: e})
	}
	return out
}

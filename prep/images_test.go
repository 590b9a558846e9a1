package prep

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// imageTree writes a tree <dir>/<split>/<class>/<i>.png of random gray
// 6×5 images and returns the pixels by relative path.
func imageTree(t testing.TB, dir string, seed uint64, perClass map[string]int) map[string][]uint8 {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	pix := map[string][]uint8{}
	for class, n := range perClass {
		for i := range n {
			g := image.NewGray(image.Rect(0, 0, 5, 6))
			for j := range g.Pix {
				g.Pix[j] = uint8(r.IntN(256))
			}
			rel := fmt.Sprintf("%s/%03d.png", class, i)
			writePNG(t, filepath.Join(dir, filepath.FromSlash(rel)), g)
			pix[rel] = g.Pix
		}
	}
	return pix
}

func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func treeConfig(t testing.TB, dir, extra string) *config.Config {
	t.Helper()
	y := "dataset: pets\nsources:\n  train: {imagefolder: train}\n  test: {imagefolder: test}\nimage: {height: 6, width: 5, channels: 1}\n" +
		"split: {seed: 3, val_fraction: 0.25}\nshards: {rows: 7, batch_rows: 4}\nnormalize: {mode: none}\n" + extra
	path := filepath.Join(dir, "pets.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestBuildImageTree(t *testing.T) {
	dir := t.TempDir()
	train := imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 9, "dog": 7})
	test := imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 3, "dog": 4})
	out := t.TempDir()
	res := build(t, treeConfig(t, dir, ""), testOptions(t, out))
	m := res.Manifest
	if strings.Join(m.Classes, ",") != "cat,dog" || m.Image.Channels != 1 || m.Image.Height != 6 || m.Image.Width != 5 {
		t.Fatalf("manifest: classes %v image %+v", m.Classes, m.Image)
	}
	// Rows are numbered train then test, in (class, path) order, and each
	// carries the pixels of its file.
	var trainRels, testRels []string
	for _, c := range []string{"cat", "dog"} {
		for rel := range train {
			if strings.HasPrefix(rel, c+"/") {
				trainRels = append(trainRels, rel)
			}
		}
		for rel := range test {
			if strings.HasPrefix(rel, c+"/") {
				testRels = append(testRels, rel)
			}
		}
	}
	sortStrings(trainRels)
	sortStrings(testRels)
	seen := 0
	for _, name := range []vocab.Split{vocab.Train, vocab.Val, vocab.Test} {
		rows := readSplit(t, res.Dir, res, name)
		for i, si := range rows.SourceIndex {
			var rel string
			var want []uint8
			if int(si) < len(trainRels) {
				rel = trainRels[si]
				want = train[rel]
				if name == vocab.Test {
					t.Fatalf("test row has train source index %d", si)
				}
			} else {
				rel = testRels[int(si)-len(trainRels)]
				want = test[rel]
			}
			if rows.SourcePath[i] != rel {
				t.Fatalf("%s row %d (source %d): source_path %q, want %q", name, i, si, rows.SourcePath[i], rel)
			}
			if got := rows.ImageU8[i*30 : (i+1)*30]; !bytes.Equal(got, want) {
				t.Fatalf("%s row %d (source %d, %s): pixels differ", name, i, si, rel)
			}
			if wantLabel := uint8(map[bool]int{true: 0, false: 1}[strings.HasPrefix(rel, "cat/")]); rows.Label[i] != wantLabel {
				t.Fatalf("%s: label %d, want %d", rel, rows.Label[i], wantLabel)
			}
			seen++
		}
	}
	if seen != 23 {
		t.Fatalf("%d rows in all, want 23", seen)
	}
	if len(m.Sources) != 2 || m.Sources[0].Name != "train" || m.Sources[0].Files != 16 || m.Sources[1].Files != 7 {
		t.Fatalf("sources = %+v", m.Sources)
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}
	rep, err := Reproduce(context.Background(), res.Dir, testOptions(t, t.TempDir()))
	if err != nil || !rep.Identical {
		t.Fatalf("reproduce: %+v, %v", rep, err)
	}
}

// Parquet shards and augmented copies carry source_path too.
func TestImageTreeParquetAugmented(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 4, "dog": 4})
	imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 2, "dog": 2})
	cfg := treeConfig(t, dir, "augment: {copies: 2, seed: 1, ops: [{rotate: {degrees: 10}}]}\n")
	cfg.Shards.Format = vocab.FormatParquet
	res := build(t, cfg, testOptions(t, t.TempDir()))
	rows := readSplit(t, res.Dir, res, vocab.Train)
	if len(rows.SourcePath) != rows.Len() || rows.Len() == 0 {
		t.Fatalf("%d source paths for %d rows", len(rows.SourcePath), rows.Len())
	}
	for i := range rows.Len() {
		if i > 0 && rows.Copy[i] != 0 && rows.SourcePath[i] != rows.SourcePath[i-1] {
			t.Fatalf("copy %d of row %d has source_path %q, its original %q", rows.Copy[i], i, rows.SourcePath[i], rows.SourcePath[i-1])
		}
		if !strings.HasPrefix(rows.SourcePath[i], "cat/") && !strings.HasPrefix(rows.SourcePath[i], "dog/") {
			t.Fatalf("source_path %q", rows.SourcePath[i])
		}
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// The version follows the decoded content: a copy of the tree elsewhere,
// touched and re-encoded losslessly, is the same version; one changed pixel
// is another.
func TestImageTreeVersionFollowsContent(t *testing.T) {
	a := t.TempDir()
	imageTree(t, filepath.Join(a, "train"), 1, map[string]int{"cat": 5, "dog": 5})
	imageTree(t, filepath.Join(a, "test"), 2, map[string]int{"cat": 2, "dog": 2})
	v1 := build(t, treeConfig(t, a, ""), testOptions(t, t.TempDir())).Manifest.Version

	b := t.TempDir()
	copyTree(t, a, b, func(path string, data []byte) []byte {
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer // another lossless encoding of the same pixels
		enc := png.Encoder{CompressionLevel: png.NoCompression}
		if err := enc.Encode(&buf, image.Image(toNRGBA(img))); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(buf.Bytes(), data) {
			t.Fatal("re-encoding gave the same bytes")
		}
		return buf.Bytes()
	})
	later := time.Now().Add(time.Hour)
	filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, later, later) })
	if v2 := build(t, treeConfig(t, b, ""), testOptions(t, t.TempDir())).Manifest.Version; v2 != v1 {
		t.Fatalf("a moved, touched, re-encoded copy has version %s, want %s", v2, v1)
	}

	p := filepath.Join(b, "train", "dog", "003.png")
	f, _ := os.ReadFile(p)
	img, _ := png.Decode(bytes.NewReader(f))
	n := toNRGBA(img)
	n.Pix[0] ^= 1
	n.Pix[1], n.Pix[2] = n.Pix[0], n.Pix[0]
	writePNG(t, p, n)
	if v3 := build(t, treeConfig(t, b, ""), testOptions(t, t.TempDir())).Manifest.Version; v3 == v1 {
		t.Fatal("one changed pixel kept the version")
	}
}

func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	n := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			n.Set(x, y, color.NRGBAModel.Convert(img.At(x, y)))
		}
	}
	return n
}

func copyTree(t testing.TB, from, to string, edit func(string, []byte) []byte) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".png") {
			data = edit(p, data)
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImageTreeBadFile(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 5, "dog": 5})
	imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 2, "dog": 2})
	bad := filepath.Join(dir, "train", "dog", "002.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	_, err := Build(context.Background(), treeConfig(t, dir, ""), testOptions(t, out))
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "not a decodable image") {
		t.Fatalf("err = %v, want it to name %s and why", err, bad)
	}
	if l := leftovers(t, filepath.Join(out, "pets")); len(l) != 0 {
		t.Fatalf("a failed build left %v", l)
	}

	// skip_bad: the file is left out and listed.
	cfg := treeConfig(t, dir, "")
	cfg.Sources.Train.SkipBad = true
	var logs []string
	opts := testOptions(t, out)
	opts.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	res := build(t, cfg, opts)
	sk := res.Manifest.Skipped
	if len(sk) != 1 || sk[0].Split != "train" || sk[0].Path != "dog/002.png" || !strings.Contains(sk[0].Reason, "not a decodable image") {
		t.Fatalf("skipped = %+v", sk)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "skipping "+bad) {
		t.Fatalf("log does not name the skipped file: %q", logs)
	}
	total := 0
	for _, s := range res.Manifest.Splits {
		total += s.Rows
	}
	if total != 13 {
		t.Fatalf("%d rows, want 13 (14 files, one skipped)", total)
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}

	// A class whose every file is bad has no decodable image: an error.
	for i := range 5 {
		os.WriteFile(filepath.Join(dir, "train", "cat", fmt.Sprintf("%03d.png", i)), []byte("junk"), 0o644)
	}
	if _, err := Build(context.Background(), cfg, opts); err == nil || !strings.Contains(err.Error(), `class "cat" holds no decodable image`) {
		t.Fatalf("all-bad class: err = %v", err)
	}
}

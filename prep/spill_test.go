package prep

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/stages/images"
)

// The build reads the rows the content pass decoded back from its
// temporary copy (in memory, or in a file past maxMemSpill) instead of
// decoding every file again: the tree can vanish once the content pass is
// done, and the version and shards are exactly those of a build that
// decodes twice (the copy disabled).
func TestBuildDecodesImagesOnce(t *testing.T) {
	for _, mem := range []int64{maxMemSpill, 0} {
		t.Run(fmt.Sprintf("maxMemSpill=%d", mem), func(t *testing.T) {
			saved := maxMemSpill
			maxMemSpill = mem
			defer func() { maxMemSpill = saved }()
			testBuildDecodesImagesOnce(t)
		})
	}
}

func testBuildDecodesImagesOnce(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 9, "dog": 7})
	imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 3, "dog": 4})
	cfg := treeConfig(t, dir, "")

	saved := maxSpill
	maxSpill = 0
	twice := build(t, cfg, testOptions(t, t.TempDir()))
	maxSpill = saved

	// Rename the tree away as soon as the build starts: past the content
	// pass, nothing may read it.
	opts := testOptions(t, t.TempDir())
	moved := false
	opts.Logf = func(format string, args ...any) {
		if strings.HasPrefix(fmt.Sprintf(format, args...), "building ") {
			for _, sp := range []string{"train", "test"} {
				if err := os.Rename(filepath.Join(dir, sp), filepath.Join(dir, sp+".gone")); err != nil {
					t.Error(err)
				}
			}
			moved = true
		}
	}
	once, err := Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("the build read the tree after the content pass: %v", err)
	}
	if !moved {
		t.Fatal("the build never logged its start")
	}
	if once.Manifest.Version != twice.Manifest.Version {
		t.Fatalf("version %s with the decoded copy, %s without", once.Manifest.ShortVersion(), twice.Manifest.ShortVersion())
	}
	a, b := dirFiles(t, once.Dir), dirFiles(t, twice.Dir)
	for f := range b {
		if f != "manifest.json" && !bytes.Equal(a[f], b[f]) {
			t.Fatalf("%s differs between one decoding pass and two", f)
		}
	}
	// The temporary copy is not left in the cache.
	es, err := os.ReadDir(opts.Fetcher.CacheDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".decoded-") {
			t.Fatalf("left in the cache: %s", e.Name())
		}
	}
}

// Without a kept copy of the decoded rows the build decodes the files
// again and checks them against the content pass's digest: a file changed
// in between fails the build, naming the change, and publishes nothing.
func TestBuildFailsOnAFileChangedAfterTheContentPass(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 5, "dog": 4})
	imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 2, "dog": 2})
	cfg := treeConfig(t, dir, "")
	saved := maxSpill
	maxSpill = 0
	defer func() { maxSpill = saved }()
	opts := testOptions(t, t.TempDir())
	opts.Logf = func(format string, args ...any) {
		if strings.HasPrefix(fmt.Sprintf(format, args...), "building ") {
			g := image.NewGray(image.Rect(0, 0, 5, 6)) // another image of the same shape
			writePNG(t, filepath.Join(dir, "train", "dog", "002.png"), g)
		}
	}
	res, err := Build(context.Background(), cfg, opts)
	if err == nil || !strings.Contains(err.Error(), "the images changed during the build") {
		t.Fatalf("a file changed after the content pass: err = %v", err)
	}
	if res != nil && res.Dir != "" {
		if _, statErr := os.Stat(res.Dir); statErr == nil {
			t.Fatalf("published %s", res.Dir)
		}
	}
}

// The in-memory copy keeps the decode stage's batches themselves when no
// file was skipped and copies the kept rows into new batches when some
// were: with files skipped in the first and the second of three decode
// batches (so the kept rows no longer fall on the files' batch
// boundaries), files of other sizes than the configured one among them,
// and float32 as well as uint8 shards, the in-memory copy, the temporary
// file and decoding twice give one version and byte-identical shards.
func TestInMemoryCopyMatchesFileAndTwiceDecoding(t *testing.T) {
	for _, skip := range []bool{false, true} {
		for _, mode := range []vocab.NormalizeMode{vocab.NormalizeNone, vocab.NormalizeCompute} {
			t.Run(fmt.Sprintf("skip=%v/%s", skip, mode), func(t *testing.T) {
				dir := t.TempDir()
				imageTree(t, filepath.Join(dir, "train"), 5, map[string]int{"cat": 300, "dog": 280})
				imageTree(t, filepath.Join(dir, "test"), 6, map[string]int{"cat": 5, "dog": 5})
				big := image.NewGray(image.Rect(0, 0, 40, 48))
				for i := range big.Pix {
					big.Pix[i] = uint8(i * 7)
				}
				writePNG(t, filepath.Join(dir, "train", "cat", "010.png"), big)
				writePNG(t, filepath.Join(dir, "train", "dog", "005.png"), image.NewGray(image.Rect(0, 0, 1, 1)))
				cfg := treeConfig(t, dir, "")
				cfg.Normalize.Mode = mode
				cfg.Shards.Rows = 150 // a few shards, not eighty
				if skip {
					for _, rel := range []string{"cat/003.png", "cat/299.png", "dog/100.png"} {
						if err := os.WriteFile(filepath.Join(dir, "train", filepath.FromSlash(rel)), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					cfg.Sources.Train.SkipBad = true
				}
				if per := (&imageSet{cv: images.Converter{Height: 6, Width: 5, Channels: 1}}).batchRows(); per >= 300 {
					t.Fatalf("decode batches of %d rows: the tree no longer spans three", per)
				}
				run := func(mem, file int64) *Result {
					savedMem, savedFile := maxMemSpill, maxSpill
					maxMemSpill, maxSpill = mem, file
					defer func() { maxMemSpill, maxSpill = savedMem, savedFile }()
					return build(t, cfg, testOptions(t, t.TempDir()))
				}
				inMem := run(maxMemSpill, maxSpill)
				for name, other := range map[string]*Result{"temporary file": run(0, maxSpill), "decoding twice": run(0, 0)} {
					if inMem.Manifest.Version != other.Manifest.Version {
						t.Fatalf("version %s in memory, %s with the %s", inMem.Manifest.ShortVersion(), other.Manifest.ShortVersion(), name)
					}
					a, b := dirFiles(t, inMem.Dir), dirFiles(t, other.Dir)
					if len(a) != len(b) {
						t.Fatalf("%d files in memory, %d with the %s", len(a), len(b), name)
					}
					for f := range b {
						if f != "manifest.json" && !bytes.Equal(a[f], b[f]) {
							t.Fatalf("%s differs between the in-memory copy and the %s", f, name)
						}
					}
				}
				if got := len(inMem.Manifest.Skipped); got != map[bool]int{false: 0, true: 3}[skip] {
					t.Fatalf("%d files skipped", got)
				}
			})
		}
	}
}

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

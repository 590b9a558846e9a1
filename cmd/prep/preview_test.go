package main

import (
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
)

// previewVersions builds one set twice, normalized and as uint8 (normalize:
// none), and returns the two output roots.
func previewVersions(t *testing.T) (float, none string) {
	t.Helper()
	cfg, _ := writeDataset(t, 600, 100, 5, "")
	float, none = t.TempDir(), t.TempDir()
	if r := runPrep(t, "run", cfg, "--out", float, "--cache", t.TempDir(), "--quiet"); r.code != 0 {
		t.Fatalf("run: %+v", r)
	}
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, "normalize: {mode: none}\n"...), 0o644)
	if r := runPrep(t, "run", cfg, "--out", none, "--cache", t.TempDir(), "--quiet"); r.code != 0 {
		t.Fatalf("run: %+v", r)
	}
	return float, none
}

func TestPreview(t *testing.T) {
	float, none := previewVersions(t)
	grid := filepath.Join(t.TempDir(), "grid.png")
	// An output root holding one dataset resolves to its latest version.
	r := runPrep(t, "preview", float, "-n", "7", "-o", grid, "--scale", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "7 source images of") {
		t.Fatalf("preview: %+v", r)
	}
	f, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dy() < 7*10 {
		t.Fatalf("grid: %v, %v", err, img.Bounds())
	}

	// Denormalized float32 pixels are the uint8 shards' bytes.
	var px [2][][]uint8
	for i, out := range []string{float, none} {
		ds, err := dataset.Open(filepath.Join(out, "tiny", manifest.LatestName))
		if err != nil {
			t.Fatal(err)
		}
		s, err := previewSamples(ds, "train", 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s {
			px[i] = append(px[i], x.Pixels)
		}
	}
	if len(px[0]) != 20 || len(px[0]) != len(px[1]) {
		t.Fatalf("%d and %d samples", len(px[0]), len(px[1]))
	}
	for i := range px[0] {
		if !slices.Equal(px[0][i], px[1][i]) {
			t.Fatalf("sample %d: denormalized %v, stored bytes %v", i, px[0][i], px[1][i])
		}
	}
}

// preview reads through formats/dataset: a shard whose rows disagree with
// the manifest is refused, naming the shard, even when the preview needs
// only its first rows.
func TestPreviewRefusesShardsTheManifestContradicts(t *testing.T) {
	float, _ := previewVersions(t)
	dir := filepath.Join(float, "tiny", manifest.LatestName)
	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sp := m.Split("train")
	sp.Shards[0].Rows--
	sp.Shards[1].Rows++
	b, _ := m.Marshal()
	os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644)
	r := runPrep(t, "preview", dir, "-n", "3", "-o", filepath.Join(t.TempDir(), "grid.png"))
	if r.code != 1 || !strings.Contains(r.stderr, sp.Shards[0].Path) || !strings.Contains(r.stderr, "rows the manifest lists") {
		t.Fatalf("preview of a contradicted version: %+v", r)
	}
}

// --split takes only a split name, and says which ones, before any version
// is opened.
func TestPreviewRefusesAnUnknownSplit(t *testing.T) {
	r := runPrep(t, "preview", t.TempDir(), "--split", "validation")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown split "validation", want train, val or test`) {
		t.Fatalf("preview --split validation: %+v", r)
	}
}

package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// An RGB version previews in colour: the denormalized samples of a float32
// version are the stored bytes of the uint8 one, channel by channel, and the
// grid has colour (pixels whose R, G and B differ).
func TestPreviewRGB(t *testing.T) {
	set, err := tinyset.Write(t.TempDir(), tinyset.Spec{Train: 40, Test: 10, Side: 5, Channels: 3, Classes: 3, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	var px [2][][]uint8
	for i, norm := range []string{"compute", "none"} {
		cfg := filepath.Join(t.TempDir(), "rgb.yaml")
		os.WriteFile(cfg, []byte(set.Config("rgb", "split: {seed: 1, val_fraction: 0.2}\nnormalize: {mode: "+norm+"}\n")), 0o644)
		out := t.TempDir()
		if r := runPrep(t, "run", cfg, "--out", out, "--cache", t.TempDir(), "--quiet"); r.code != 0 {
			t.Fatalf("run: %+v", r)
		}
		show := runPrep(t, "show", filepath.Join(out, "rgb", manifest.LatestName))
		if show.code != 0 || !strings.Contains(show.stdout, "5x5x3") || !regexp.MustCompile(`mean=\[0\.\d{6}, 0\.\d{6}, 0\.\d{6}\] std=\[`).MatchString(show.stdout) {
			t.Fatalf("show: %+v", show)
		}
		grid := filepath.Join(t.TempDir(), "grid.png")
		if r := runPrep(t, "preview", out, "-n", "4", "-o", grid); r.code != 0 || !strings.Contains(r.stdout, "4 source images of") {
			t.Fatalf("preview: %+v", r)
		}
		f, _ := os.Open(grid)
		img, err := png.Decode(f)
		f.Close()
		if err != nil || !colourful(img) {
			t.Fatalf("grid %v: no colour pixels", err)
		}
		ds, err := dataset.Open(filepath.Join(out, "rgb", manifest.LatestName))
		if err != nil {
			t.Fatal(err)
		}
		s, err := previewSamples(ds, "train", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s {
			if x.Channels != 3 || len(x.Pixels) != 75 {
				t.Fatalf("sample of %d channels, %d values", x.Channels, len(x.Pixels))
			}
			px[i] = append(px[i], x.Pixels)
		}
	}
	if len(px[0]) != 10 || len(px[1]) != 10 {
		t.Fatalf("%d and %d samples", len(px[0]), len(px[1]))
	}
	for i := range px[0] {
		if !slices.Equal(px[0][i], px[1][i]) {
			t.Fatalf("sample %d: denormalized %v, stored bytes %v", i, px[0][i], px[1][i])
		}
	}
}

func colourful(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != g || g != bl {
				return true
			}
		}
	}
	return false
}

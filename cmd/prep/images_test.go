package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A version built from an image tree: `prep show` counts each split's
// files (a tree has no single file size to show).
func TestShowImageTree(t *testing.T) {
	dir := t.TempDir()
	for _, sp := range []string{"train", "test"} {
		for i := range 6 {
			g := image.NewGray(image.Rect(0, 0, 4, 4))
			for j := range g.Pix {
				g.Pix[j] = uint8(i*40 + j)
			}
			var b bytes.Buffer
			if err := png.Encode(&b, g); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, sp, fmt.Sprint(i%2), fmt.Sprintf("%d.png", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := filepath.Join(dir, "tree.yaml")
	y := "dataset: tree\nsources:\n  train: {imagefolder: train}\n  test: {imagefolder: test}\nimage: {height: 4, width: 4, channels: 1}\nsplit: {seed: 1}\n"
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if r := runPrep(t, "run", cfg, "--out", out); r.code != 0 {
		t.Fatalf("run: %+v", r)
	}
	r := runPrep(t, "show", filepath.Join(out, "tree", "latest"))
	if r.code != 0 || !strings.Contains(r.stdout, filepath.Join(dir, "train")+" ") || !strings.Contains(r.stdout, "(6 files)") {
		t.Fatalf("show: %+v", r)
	}
}

// Command tinyset writes the test data of the Python package's tests, built
// by the real prep (go run ./cmd/prep run CONFIG), and dumps what the Go
// reader reads from a built version, for the tests to compare with.
//
// A small synthetic IDX dataset (gray, or -channels 3 for HWC colour) and a
// prep config for it:
//
//	go run ./python/tests/tinyset -dir DIR -name tiny -train 600 -test 100 -side 6 -extra 'shards: {rows: 128}'
//
// A tiny tree of PNG files (written by image/png) in the class-folder layout,
// DIR/{train,test}/<class>/**/<file>.png, and a config reading it with
// imagefolder sources:
//
//	go run ./python/tests/tinyset -dir DIR -name pets -tree -channels 3
//
// -skip-bad adds a train file that does not decode and skip_bad: true, so the
// manifest lists it under skipped.
//
// Either prints the path of the config it wrote. With -dump, it reads split
// SPLIT of the version VERSION with formats/dataset instead and writes, as
// JSON, every row's source_index, label, source_path (null for IDX
// versions) and normalized image as float32 bits: the stored floats, or the
// stored bytes through the manifest's normalization table.
//
//	go run ./python/tests/tinyset -dump VERSION -split train > rows.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

func main() {
	dir := flag.String("dir", "", "directory for the source files and the config (required unless -dump)")
	name := flag.String("name", "tiny", "dataset name")
	train := flag.Int("train", 600, "train images")
	test := flag.Int("test", 100, "test images")
	side := flag.Int("side", 6, "image side")
	channels := flag.Int("channels", 1, "channels per pixel (1 or 3)")
	classes := flag.Int("classes", 10, "classes")
	seed := flag.Uint64("seed", 1, "seed of pixels and labels")
	extra := flag.String("extra", "", "YAML appended to the config")
	tree := flag.Bool("tree", false, "write a PNG image tree instead of IDX files")
	bad := flag.Bool("skip-bad", false, "with -tree: add a train file that does not decode, and skip_bad: true")
	dump := flag.String("dump", "", "a built version directory to read with the Go reader")
	split := flag.String("split", "train", "with -dump: the split")
	flag.Parse()
	var err error
	switch {
	case *dump != "":
		err = dumpSplit(*dump, vocab.Split(*split))
	case *dir == "":
		flag.Usage()
		os.Exit(2)
	case *tree:
		err = writeTree(*dir, *name, *channels, *seed, *bad, *extra)
	default:
		var set *tinyset.Set
		set, err = tinyset.Write(*dir, tinyset.Spec{Train: *train, Test: *test, Side: *side, Channels: *channels,
			Classes: *classes, Seed: *seed, Learnable: true})
		if err == nil {
			err = writeConfig(*dir, *name, set.Config(*name, *extra))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tinyset:", err)
		os.Exit(1)
	}
}

func writeConfig(dir, name, yaml string) error {
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}

// treeFiles are the files of the PNG tree per split, relative to the
// split's root: two classes, one file in a nested folder, names whose
// bytewise order is not their numeric one.
var treeFiles = map[string][]string{
	"train": {"cat/0.png", "cat/1.png", "cat/10.png", "cat/2.png", "cat/3.png", "cat/4.png",
		"dog/a.png", "dog/b.png", "dog/c.png", "dog/deep/d.png", "dog/deep/e.png"},
	"test": {"cat/t0.png", "cat/t1.png", "dog/t0.png", "dog/deep/t1.png"},
}

// treeW, treeH: the images' size, also the configured one (no resizing).
const treeW, treeH = 4, 5

func writeTree(dir, name string, channels int, seed uint64, bad bool, extra string) error {
	r := rand.New(rand.NewPCG(seed, 0x7ee))
	for split, files := range treeFiles {
		for _, rel := range files {
			var img image.Image
			if channels == 1 {
				g := image.NewGray(image.Rect(0, 0, treeW, treeH))
				for i := range g.Pix {
					g.Pix[i] = uint8(r.IntN(256))
				}
				img = g
			} else {
				c := image.NewNRGBA(image.Rect(0, 0, treeW, treeH))
				for y := range treeH {
					for x := range treeW {
						c.SetNRGBA(x, y, color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
					}
				}
				img = c
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				return err
			}
			p := filepath.Join(dir, split, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	train := "{imagefolder: train}"
	if bad {
		train = "{imagefolder: train, skip_bad: true}"
		if err := os.WriteFile(filepath.Join(dir, "train", "cat", "broken.png"), []byte("not a PNG"), 0o644); err != nil {
			return err
		}
	}
	y := fmt.Sprintf("dataset: %s\nsources:\n  train: %s\n  test: {imagefolder: test}\n"+
		"image: {height: %d, width: %d, channels: %d}\nsplit: {seed: 1, val_fraction: 0.25}\n%s", name, train, treeH, treeW, channels, extra)
	return writeConfig(dir, name, y)
}

// dumped is what -dump writes.
type dumped struct {
	SourceIndex []uint64 `json:"source_index"`
	Label       []int    `json:"label"`
	SourcePath  []string `json:"source_path"`
	ImageBits   []uint32 `json:"image_f32_bits"`
}

func dumpSplit(dir string, split vocab.Split) error {
	d, err := dataset.Load(dir)
	if err != nil {
		return err
	}
	rows, err := d.ReadSplit(split)
	if err != nil {
		return err
	}
	img := rows.ImageF32
	if img == nil {
		img = make([]float32, len(rows.ImageU8))
		d.Manifest().Normalize.Table().Apply(img, rows.ImageU8)
	}
	out := dumped{SourceIndex: rows.SourceIndex, Label: make([]int, len(rows.Label)), SourcePath: rows.SourcePath,
		ImageBits: make([]uint32, len(img))}
	for i, l := range rows.Label {
		out.Label[i] = int(l)
	}
	for i, f := range img {
		out.ImageBits[i] = math.Float32bits(f)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const treeValid = `dataset: pets
sources:
  train: {imagefolder: data/train}
  test: {csv: lists/test.csv, root: data/all}
image: {height: 32, width: 24, channels: 3}
split: {seed: 1}
`

func TestTreeSourcesResolveAgainstTheConfigDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "pets.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(treeValid), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "sub")
	if got, want := c.Sources.Train.ImageFolder, filepath.Join(base, "data", "train"); got != want {
		t.Errorf("train imagefolder = %q, want %q", got, want)
	}
	if got, want := c.Sources.Test.CSV, filepath.Join(base, "lists", "test.csv"); got != want {
		t.Errorf("test csv = %q, want %q", got, want)
	}
	if c.Sources.IDX() || c.Classes != nil || c.Image.Resize != ResizeFit {
		t.Errorf("tree config: IDX=%v classes=%v resize=%q; want tree form, classes left to the file list, resize fit", c.Sources.IDX(), c.Classes, c.Image.Resize)
	}
	// Where the tree lives is not hashed; the image shape is.
	moved := *c
	tr := *c.Sources.Train
	tr.ImageFolder = "/elsewhere"
	moved.Sources.Train = &tr
	if !equalJSON(t, c.Hashed(), moved.Hashed()) {
		t.Error("moving the tree changed the hashed config")
	}
	img := *c.Image
	img.Channels = 1
	gray := *c
	gray.Image = &img
	if equalJSON(t, c.Hashed(), gray.Hashed()) {
		t.Error("changing image.channels did not change the hashed config")
	}
	// The manifest embeds the resolved config; it must load back.
	back, err := FromJSON(mustJSON(t, c), "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, back, c) {
		t.Errorf("round trip changed the config:\n%s\n%s", mustJSON(t, back), mustJSON(t, c))
	}
}

func TestTreeSourceErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, text string
		line       int
		want       string
	}{
		{"no image", "dataset: d\nsources:\n  train: {imagefolder: a}\n", 2, "image: {height"},
		{"both forms", "dataset: d\nsources:\n  train: {imagefolder: a, csv: b.csv, root: r}\nimage: {height: 2, width: 2, channels: 1}\n", 3, "not both"},
		{"csv without root", "dataset: d\nsources:\n  train: {csv: b.csv}\nimage: {height: 2, width: 2, channels: 1}\n", 3, "root"},
		{"neither", "dataset: d\nsources:\n  train: {skip_bad: true}\nimage: {height: 2, width: 2, channels: 1}\n", 3, "needs imagefolder"},
		{"test only", "dataset: d\nsources:\n  test: {imagefolder: a}\nimage: {height: 2, width: 2, channels: 1}\n", 2, "train is missing"},
		{"mixed with idx", "dataset: d\nsources:\n  train: {imagefolder: a}\n  train_images: {file: x.gz}\nimage: {height: 2, width: 2, channels: 1}\n", 4, "cannot be mixed"},
		{"channels", "dataset: d\nsources:\n  train: {imagefolder: a}\nimage:\n  height: 2\n  width: 2\n  channels: 4\n", 7, "channels"},
		{"size", "dataset: d\nsources:\n  train: {imagefolder: a}\nimage:\n  height: 0\n  width: 2\n  channels: 1\n", 4, "height and width"},
		{"resize", "dataset: d\nsources:\n  train: {imagefolder: a}\nimage:\n  height: 2\n  width: 2\n  channels: 1\n  resize: stretch\n", 8, "fit or fill"},
		{"unknown key", "dataset: d\nsources:\n  train: {imagefoldr: a}\nimage: {height: 2, width: 2, channels: 1}\n", 3, "imagefoldr"},
		{"duplicate class", "dataset: d\nclasses: [cat, dog, cat]\nsources:\n  train: {imagefolder: a}\nimage: {height: 2, width: 2, channels: 1}\n", 2, `"cat" is listed twice`},
		{"image with idx", strings.SplitAfter(valid, "split:")[0] + " {seed: 1}\nimage: {height: 2, width: 2, channels: 1}\n", 9, "IDX sources carry their shape"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.text), "bad.yaml")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			if ce.File != "bad.yaml" || ce.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (line %d), want line %d mentioning %q", err, ce.Line, c.line, c.want)
			}
		})
	}
}

//go:build unix

package reliability

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var imageInputs = addSection(82, "Bad image trees and lists",
	"`prep run` of a config whose `sources` are an image folder tree (`$DATA/train/<class>/<file>`, `$DATA/test/…`) "+
		"or a CSV list, with one thing wrong. Each case exits 1 naming the file or the CSV line and publishes nothing, "+
		"unless it says otherwise.",
	func() int { return len(imageCases) })

// grayPNG is a w×h gray PNG whose pixels start at v.
func grayPNG(t *testing.T, w, h int, v uint8) []byte {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v + uint8(i*7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeaderOnly is a PNG signature and IHDR declaring w×h, and no pixels.
func pngHeaderOnly(t *testing.T, w, h uint32) []byte {
	b := bytes.Clone(grayPNG(t, 1, 1, 0)[:33])
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// putFile writes b to p, making its directory.
func putFile(t *testing.T, p string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, b)
}

// writeTree writes a valid two-class tree of 8×8 gray PNGs under data.
func writeTree(t *testing.T, data string) {
	for _, sp := range []struct {
		name string
		n    int
	}{{"train", 6}, {"test", 2}} {
		for _, class := range []string{"cat", "dog"} {
			for i := range sp.n {
				putFile(t, filepath.Join(data, sp.name, class, string(rune('a'+i))+".png"), grayPNG(t, 8, 8, uint8(i*31)))
			}
		}
	}
}

const treeYAML = "dataset: pets\nsources:\n  train: {imagefolder: train}\n  test: {imagefolder: test}\nimage: {height: 8, width: 8, channels: 1}\nsplit: {seed: 1}\n"

type imageCase struct {
	name, injected string
	// setup breaks the valid tree in data and returns the config text.
	setup func(t *testing.T, data string) string
	code  int
	want  []string // the message must contain these ($DATA for the data directory)
}

var imageCases = []imageCase{
	{"empty class folder", "`train/bird/` is an empty directory", func(t *testing.T, data string) string {
		os.MkdirAll(filepath.Join(data, "train", "bird"), 0o755)
		return treeYAML
	}, 1, []string{"$DATA/train/bird holds no image file"}},
	{"class folder without a decodable image", "every file of `train/dog/` is text named `.png`; `skip_bad: true`", func(t *testing.T, data string) string {
		for i := range 6 {
			writeFile(t, filepath.Join(data, "train", "dog", string(rune('a'+i))+".png"), []byte("not a picture\n"))
		}
		return strings.Replace(treeYAML, "{imagefolder: train}", "{imagefolder: train, skip_bad: true}", 1)
	}, 1, []string{`class "dog" holds no decodable image`}},
	{"symlink loop", "`train/cat/loop` is a symlink to `..`", func(t *testing.T, data string) string {
		if err := os.Symlink("..", filepath.Join(data, "train", "cat", "loop")); err != nil {
			t.Fatal(err)
		}
		return treeYAML
	}, 1, []string{"$DATA/train/cat/loop is a symlink loop"}},
	{"file where a class folder belongs", "a PNG `train/x.png` beside the class folders", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "train", "x.png"), grayPNG(t, 8, 8, 1))
		return treeYAML
	}, 1, []string{"$DATA/train/x.png is a file, not a class folder"}},
	{"CSV row naming a directory", "`list.csv` names `train/cat`, a directory", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "list.csv"), []byte("path,label\ntrain/cat/a.png,cat\ntrain/cat,cat\n"))
		return strings.Replace(treeYAML, "{imagefolder: train}", "{csv: list.csv, root: .}", 1)
	}, 1, []string{"list.csv: line 3", "train/cat is a directory, not an image file"}},
	{"CSV row naming a missing file", "`list.csv` line 3 names `train/cat/zz.png`, which does not exist", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "list.csv"), []byte("path,label\ntrain/cat/a.png,cat\ntrain/cat/zz.png,cat\n"))
		return strings.Replace(treeYAML, "{imagefolder: train}", "{csv: list.csv, root: .}", 1)
	}, 1, []string{"list.csv: line 3: train/cat/zz.png: no such file or directory"}},
	{"CSV row with an unknown class", "`list.csv` line 3 labels a file `cow` (classes: cat, dog)", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "list.csv"), []byte("path,label\ntrain/cat/a.png,cat\ntrain/dog/a.png,cow\n"))
		return "classes: [cat, dog]\n" + strings.Replace(treeYAML, "{imagefolder: train}", "{csv: list.csv, root: .}", 1)
	}, 1, []string{"list.csv: line 3", `label "cow" is not a class`}},
	{"CSV with a duplicate path", "`list.csv` lists `train/cat/a.png` on lines 2 and 4", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "list.csv"), []byte("path,label\ntrain/cat/a.png,cat\ntrain/dog/a.png,dog\ntrain/cat/a.png,dog\n"))
		return strings.Replace(treeYAML, "{imagefolder: train}", "{csv: list.csv, root: .}", 1)
	}, 1, []string{"list.csv: line 4", "listed twice (first on line 2)"}},
	{"20,000×20,000 image", "`train/cat/b.png` is a PNG header declaring 20000×20000 pixels (no body)", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "train", "cat", "b.png"), pngHeaderOnly(t, 20000, 20000))
		return treeYAML
	}, 1, []string{"$DATA/train/cat/b.png", "20000×20000 pixels is larger than the 33554432"}},
	{"file that does not decode", "`train/dog/c.png` cut to its first 40 bytes", func(t *testing.T, data string) string {
		p := filepath.Join(data, "train", "dog", "c.png")
		writeFile(t, p, readFile(t, p)[:40])
		return treeYAML
	}, 1, []string{"$DATA/train/dog/c.png", "does not decode"}},
	{"file that does not decode, skip_bad", "`train/dog/c.png` is text; `skip_bad: true`", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "train", "dog", "c.png"), []byte("hello\n"))
		return strings.Replace(treeYAML, "{imagefolder: train}", "{imagefolder: train, skip_bad: true}", 1)
	}, 0, []string{"skipping $DATA/train/dog/c.png: not a decodable image"}},
	{"1×1 image", "`train/cat/a.png` is 1×1 pixel (accepted: resized to 8×8 like any other size)", func(t *testing.T, data string) string {
		writeFile(t, filepath.Join(data, "train", "cat", "a.png"), grayPNG(t, 1, 1, 9))
		return treeYAML
	}, 0, nil},
}

func TestBadImageTrees(t *testing.T) {
	for i, c := range imageCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			writeTree(t, e.data)
			cfg := filepath.Join(e.data, "pets.yaml")
			writeFile(t, cfg, []byte(c.setup(t, e.data)))
			r := e.prepRun(cfg)
			wantCode(t, r, c.code)
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("panic:\n%s", r.stderr)
			}
			msg := finalError(r.stderr, "prep: ")
			if c.code == 0 {
				msg = lineWith(r.stderr, "skipping")
				if msg == "" {
					msg = "(no error)"
				}
			}
			seen := e.scrub(msg)
			for _, w := range c.want {
				if !strings.Contains(seen, w) {
					t.Fatalf("message %q lacks %q", seen, w)
				}
			}
			s := e.state("pets")
			if c.code == 0 {
				s.published(t)
			} else {
				s.clean(t)
			}
			imageInputs.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: seen, Disk: s.String()})
		})
	}
}

// Package tinyset writes small synthetic IDX datasets and prep configs for
// tests across the module, so each test makes the data it needs in a
// temporary directory instead of depending on downloads. It only writes
// files; building a set with prep is package tinybuild's job, so that
// writing one pulls in neither prep nor the testing package.
package tinyset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/formats/idx"
)

// Spec describes a synthetic dataset.
type Spec struct {
	Train, Test int // image counts
	Side        int // images are Side×Side
	// Channels per pixel (0 means 1). One channel writes items of shape
	// [Side Side], as MNIST has; more write [Side Side Channels] (HWC).
	Channels int
	Classes  int    // labels are in [0, Classes); default 10
	Seed     uint64 // pixels and labels are drawn from it
	// Learnable makes each image a noisy version of its class's pattern,
	// so a model can learn the labels; otherwise pixels are uniform noise.
	Learnable bool
}

// Set is a written dataset.
type Set struct {
	Dir   string            // directory holding the IDX files
	Files map[string]string // source key -> file name
	SHA   map[string]string // source key -> hex SHA-256
	// Pixels and labels as written.
	TrainImages, TestImages []uint8
	TrainLabels, TestLabels []uint8
}

// Keys are the source keys in config order.
var Keys = []string{"train_images", "train_labels", "test_images", "test_labels"}

// Write writes the dataset as gzip IDX files into dir.
func Write(dir string, s Spec) (*Set, error) {
	if s.Classes == 0 {
		s.Classes = 10
	}
	r := rand.New(rand.NewPCG(s.Seed, 0x7e57))
	ch := max(s.Channels, 1)
	elems := s.Side * s.Side * ch
	patterns := make([][]uint8, s.Classes)
	for c := range patterns {
		patterns[c] = make([]uint8, elems)
		for i := range patterns[c] {
			if r.IntN(3) == 0 {
				patterns[c][i] = 200
			}
		}
	}
	gen := func(n int) ([]uint8, []uint8) {
		img, lab := make([]uint8, n*elems), make([]uint8, n)
		for i := range lab {
			lab[i] = uint8(r.IntN(s.Classes))
			for j := 0; j < elems; j++ {
				v := uint8(r.IntN(256))
				if s.Learnable {
					v = patterns[lab[i]][j] + uint8(r.IntN(40))
				}
				img[i*elems+j] = v
			}
		}
		return img, lab
	}
	set := &Set{Dir: dir, Files: map[string]string{}, SHA: map[string]string{}}
	set.TrainImages, set.TrainLabels = gen(s.Train)
	set.TestImages, set.TestLabels = gen(s.Test)
	for _, f := range []struct {
		key  string
		dims []int
		data []uint8
	}{
		{"train_images", imageDims(s.Train, s.Side, ch), set.TrainImages},
		{"train_labels", []int{s.Train}, set.TrainLabels},
		{"test_images", imageDims(s.Test, s.Side, ch), set.TestImages},
		{"test_labels", []int{s.Test}, set.TestLabels},
	} {
		var buf bytes.Buffer
		if err := idx.WriteGzip(&buf, idx.Header{Type: idx.U8, Dims: f.dims}, f.data); err != nil {
			return nil, err
		}
		name := f.key + ".gz"
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(buf.Bytes())
		set.Files[f.key], set.SHA[f.key] = name, hex.EncodeToString(sum[:])
	}
	return set, nil
}

// imageDims is the IDX shape of n images: [n side side], with a trailing
// channel dimension only when there is more than one channel.
func imageDims(n, side, channels int) []int {
	if channels == 1 {
		return []int{n, side, side}
	}
	return []int{n, side, side, channels}
}

// Config returns a prep config (YAML) for the set named dataset, with its
// directory as the only mirror, followed by extra YAML (split, shards, …).
func (s *Set) Config(dataset, extra string) string {
	y := fmt.Sprintf("dataset: %s\nmirrors: [%q]\nsources:\n", dataset, "file://"+s.Dir+"/")
	for _, k := range Keys {
		y += fmt.Sprintf("  %s: {file: %s, sha256: %s}\n", k, s.Files[k], s.SHA[k])
	}
	return y + extra
}

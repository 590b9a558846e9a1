package prep

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/stages/download"
)

// TestRealMNIST builds configs/mnist.yaml from the Go-module mirror (the
// Go module proxy is the only network this needs) and checks the result
// against the source files decoded independently with the standard library.
func TestRealMNIST(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("builds real MNIST (too slow under -race; the small builds run there)")
	}
	cfg := loadGomod(t, "../configs/mnist.yaml")
	out := t.TempDir()
	fetcher := download.New(download.WithCacheDir(filepath.Join(out, "cache")))
	res, err := Build(context.Background(), cfg, Options{Out: out, Fetcher: fetcher})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	rows := map[vocab.Split]int{}
	for _, sp := range m.Splits {
		rows[sp.Name] = sp.Rows
	}
	if rows["train"]+rows["val"] != 60000 || rows["test"] != 10000 || rows["val"] != 6000 {
		t.Fatalf("rows %v, want train+val 60000 (val 6000) and test 10000", rows)
	}

	// Decode the first train and test image with the standard library.
	first := func(key string, header int64, n int) []byte {
		p, err := fetcher.Fetch(context.Background(), download.Source{Name: key, SHA256: shaOf(cfg, key), URLs: cfg.URLs(fileOf(cfg, key))})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, header+int64(n))
		if _, err := io.ReadFull(z, b); err != nil {
			t.Fatal(err)
		}
		return b[header:]
	}
	trainImg0, trainLabel0 := first("train_images", 16, 784), first("train_labels", 8, 1)[0]
	testImg0, testLabel0 := first("test_images", 16, 784), first("test_labels", 8, 1)[0]
	if trainLabel0 != 5 || testLabel0 != 7 {
		t.Fatalf("first labels %d/%d; MNIST's are 5 and 7", trainLabel0, testLabel0)
	}
	table := m.Normalize.Table()
	want := map[uint64][]float32{0: make([]float32, 784), 60000: make([]float32, 784)}
	table.Apply(want[0], trainImg0)
	table.Apply(want[60000], testImg0)
	wantLabel := map[uint64]uint8{0: trainLabel0, 60000: testLabel0}
	found := 0
	for _, name := range vocab.Splits {
		r := readSplit(t, res.Dir, res, name)
		for i, si := range r.SourceIndex {
			w, ok := want[si]
			if !ok {
				continue
			}
			found++
			if r.Label[i] != wantLabel[si] {
				t.Fatalf("source %d: label %d, want %d", si, r.Label[i], wantLabel[si])
			}
			for k := range w {
				if r.ImageF32[i*784+k] != w[k] {
					t.Fatalf("source %d pixel %d: %v, want %v", si, k, r.ImageF32[i*784+k], w[k])
				}
			}
		}
	}
	if found != 2 {
		t.Fatalf("found %d of the 2 checked images", found)
	}
	if len(m.Normalize.Mean) != 1 || m.Normalize.Mean[0] < 0.12 || m.Normalize.Mean[0] > 0.14 || m.Normalize.Std[0] < 0.30 || m.Normalize.Std[0] > 0.32 {
		t.Fatalf("MNIST train mean/std %v/%v, expected about 0.1307/0.3081", m.Normalize.Mean, m.Normalize.Std)
	}
}

func fileOf(cfg *config.Config, key string) *config.File {
	for _, s := range cfg.Sources.All() {
		if s.Key == key {
			return s.File
		}
	}
	return nil
}

func shaOf(cfg *config.Config, key string) string { return fileOf(cfg, key).SHA256 }

// TestRealMNISTAugmentedIsLeakFree builds configs/mnist-augmented.yaml
// (copies: 2): every source image and all its variants live in exactly one
// split, only train is augmented, and mean/std equal those of the
// un-augmented config with the same split.
func TestRealMNISTAugmentedIsLeakFree(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("builds real MNIST (too slow under -race; the small builds run there)")
	}
	load := func(p string) *config.Config { return loadGomod(t, p) }
	out := t.TempDir()
	opts := Options{Out: out, Fetcher: download.New(download.WithCacheDir(filepath.Join(out, "cache")))}
	aug, err := Build(context.Background(), load("../configs/mnist-augmented.yaml"), opts)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Build(context.Background(), load("../configs/mnist.yaml"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !aug.Manifest.Normalize.Equal(plain.Manifest.Normalize) {
		t.Fatalf("augmentation moved the normalization: %+v vs %+v", aug.Manifest.Normalize, plain.Manifest.Normalize)
	}
	owner := map[uint64]vocab.Split{}
	for _, name := range vocab.Splits {
		r := readSplit(t, aug.Dir, aug, name)
		copies := map[uint64][]uint16{}
		for i, si := range r.SourceIndex {
			if prev, ok := owner[si]; ok && prev != name {
				t.Fatalf("source %d is in %s and %s", si, prev, name)
			}
			owner[si] = name
			copies[si] = append(copies[si], r.Copy[i])
		}
		want := "[0]"
		if name == "train" {
			want = "[0 1 2]"
		}
		for si, c := range copies {
			if fmt.Sprint(c) != want {
				t.Fatalf("%s: source %d has copies %v, want %s", name, si, c, want)
			}
		}
		if name == "train" && r.Len() != 3*plain.Manifest.Split("train").Rows {
			t.Fatalf("train has %d rows, want 3 × %d", r.Len(), plain.Manifest.Split("train").Rows)
		}
	}
	if len(owner) != 70000 {
		t.Fatalf("%d distinct sources, want 70000", len(owner))
	}
}

// loadGomod loads a config and keeps only its Go-module mirror, so tests
// fetch through the Go module proxy without trying public hosts.
func loadGomod(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KeepMirrors("gomod://")
	return cfg
}

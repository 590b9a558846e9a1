package prep

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/stages/augment"
	"github.com/shardsmith/shardsmith/stages/normalize"
)

func rgbConfig(t *testing.T, set *tinyset.Set, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(set.Config("rgb", tinySplit+extra)), "rgb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A 3-channel IDX set goes through augment and normalize: the statistics
// are per channel from the train split's originals, recorded as arrays in
// the manifest and the shard metadata, each value normalized with its own
// channel's table, and augmented copies are the augmenter's 3-channel output.
func TestBuildRGB(t *testing.T) {
	set, err := tinyset.Write(t.TempDir(), tinyset.Spec{Train: 60, Test: 20, Side: 6, Channels: 3, Classes: 3, Seed: 4, Learnable: true})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cfg := rgbConfig(t, set, "augment: {copies: 1, seed: 2, ops: [{rotate: {degrees: 20}}, {noise: {stddev: 0.05}}]}\n")
	res := build(t, cfg, testOptions(t, out))
	m := res.Manifest
	if m.Image.Channels != 3 || m.Image.Height != 6 || m.Image.Width != 6 {
		t.Fatalf("image %+v", m.Image)
	}
	// Statistics: from the train split's source images only.
	trainSet := readSplit(t, res.Dir, res, vocab.Train)
	hist := normalize.NewHistograms(3)
	seen := map[uint64]bool{}
	for _, si := range trainSet.SourceIndex {
		if !seen[si] {
			seen[si] = true
			hist.Add(set.TrainImages[si*108 : (si+1)*108])
		}
	}
	mean, std, _ := hist.MeanStd()
	if !m.Normalize.Mean.Equal(mean) || !m.Normalize.Std.Equal(std) {
		t.Fatalf("manifest mean/std %v/%v, train split has %v/%v", m.Normalize.Mean, m.Normalize.Std, mean, std)
	}
	raw, _ := os.ReadFile(filepath.Join(res.Dir, manifest.FileName))
	var doc struct {
		Normalize struct{ Mean, Std json.RawMessage }
	}
	json.Unmarshal(raw, &doc)
	if !bytes.HasPrefix(doc.Normalize.Mean, []byte("[")) || !bytes.HasPrefix(doc.Normalize.Std, []byte("[")) {
		t.Fatalf("manifest mean %s std %s, want arrays", doc.Normalize.Mean, doc.Normalize.Std)
	}
	r, err := shard.Open(filepath.Join(res.Dir, m.Split(vocab.Train).Shards[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	md := r.Meta()
	r.Close()
	if !md.Mean.Equal(mean) || !md.Std.Equal(std) || md.Channels != 3 {
		t.Fatalf("shard meta %+v", md)
	}

	// Pixels: originals are the source bytes normalized per channel, copies
	// the augmenter's output for the source.
	aug, err := augment.New(2, 6, 6, []augment.Spec{{Op: "rotate", Params: map[string]float64{"degrees": 20}}, {Op: "noise", Params: map[string]float64{"stddev": 0.05}}}, augment.WithChannels(3))
	if err != nil {
		t.Fatal(err)
	}
	table := m.Normalize.Table()
	want := make([]float32, 108)
	var copies int
	for i := 0; i < trainSet.Len(); i++ {
		si := trainSet.SourceIndex[i]
		src := set.TrainImages[si*108 : (si+1)*108]
		if trainSet.Copy[i] > 0 {
			v := make([]uint8, 108)
			aug.Apply(v, src, si, int(trainSet.Copy[i]))
			src = v
			copies++
		}
		table.Apply(want, src)
		if got := trainSet.ImageF32[i*108 : (i+1)*108]; !equalF32(got, want) {
			t.Fatalf("row %d (source %d, copy %d): pixels differ from the per-channel normalization", i, si, trainSet.Copy[i])
		}
	}
	if copies == 0 {
		t.Fatal("no augmented copies in train")
	}
	if res.Manifest.Split(vocab.Train).Rows != 2*len(seen) {
		t.Fatalf("train rows %d for %d sources", res.Manifest.Split(vocab.Train).Rows, len(seen))
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// normalize: fixed takes one number for every channel or one per channel;
// another count is a config error naming the line, and nothing is published.
func TestBuildRGBFixedNormalize(t *testing.T) {
	set, err := tinyset.Write(t.TempDir(), tinyset.Spec{Train: 30, Test: 10, Side: 6, Channels: 3, Classes: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res := build(t, rgbConfig(t, set, "normalize: {mode: fixed, mean: [0.1, 0.2, 0.3], std: 0.5}\n"), testOptions(t, out))
	if n := res.Manifest.Normalize; !n.Mean.Equal(manifest.Values{0.1, 0.2, 0.3}) || !n.Std.Equal(manifest.Values{0.5, 0.5, 0.5}) {
		t.Fatalf("normalize %+v", n)
	}
	bad := t.TempDir()
	_, err = Build(t.Context(), rgbConfig(t, set, "normalize: {mode: fixed, mean: [0.1, 0.2], std: 0.5}\n"), testOptions(t, bad))
	if err == nil || !strings.Contains(err.Error(), "rgb.yaml:") || !strings.Contains(err.Error(), "normalize.mean: 2 values for 3 channels") {
		t.Fatalf("two means for three channels: %v", err)
	}
	if l := leftovers(t, filepath.Join(bad, "rgb")); len(l) != 0 {
		t.Fatalf("a failed build left %v", l)
	}
}

package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every image shape of at least one pixel and one channel is a valid shape
// to record, grayscale and one-row images included; a sidecar recording a
// zero dimension is refused, naming the sidecar.
func TestLoadImageShapeBounds(t *testing.T) {
	m, _, _, _ := trainedModel(t)
	for _, im := range []ImageShape{{28, 28, 1}, {1, 8, 3}, {8, 1, 3}, {1, 1, 1}} {
		base := filepath.Join(t.TempDir(), "ck")
		c, _ := Capture(m, nil, Meta{Epoch: 1, Image: &im})
		if err := Save(base, c); err != nil {
			t.Fatal(err)
		}
		l, err := Load(base)
		if err != nil {
			t.Fatalf("image %s: %v", im, err)
		}
		if *l.Meta.Image != im {
			t.Fatalf("image %s loaded as %s", im, l.Meta.Image)
		}
	}
	for _, im := range []ImageShape{{0, 8, 3}, {8, 0, 3}, {8, 8, 0}} {
		base := filepath.Join(t.TempDir(), "ck")
		c, _ := Capture(m, nil, Meta{Epoch: 1, Image: &im})
		if err := Save(base, c); err != nil {
			t.Fatal(err)
		}
		_, err := Load(base)
		if err == nil || !strings.Contains(err.Error(), base+".json") || !strings.Contains(err.Error(), im.String()) {
			t.Fatalf("image %s: err = %v, want one naming the sidecar and the shape", im, err)
		}
	}
}

// Same's tolerance of 1e-6 includes 1e-6 itself, for the means and the
// standard deviations alike.
func TestNormalizationSameAtTheTolerance(t *testing.T) {
	n := &Normalization{Mean: []float64{0, 0.5}, Std: []float64{1e-6, 0.25}}
	if !n.Same([]float64{1e-6, 0.5}, n.Std) {
		t.Error("means 1e-6 apart are not the same")
	}
	if !n.Same(n.Mean, []float64{2e-6, 0.25}) {
		t.Error("standard deviations 1e-6 apart are not the same")
	}
	if n.Same([]float64{1.5e-6, 0.5}, n.Std) || n.Same(n.Mean, []float64{1e-6, 0.2500016}) {
		t.Error("values more than 1e-6 apart are the same")
	}
}

// A file without metadata has no __metadata__ entry, whether the map is
// nil or empty: readers (Python's safe_open(...).metadata() among them)
// see None either way, and the bytes are the same.
func TestEmptyMetadataIsNoMetadata(t *testing.T) {
	ts := []Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}
	none := encode(t, ts, nil)
	empty := encode(t, ts, map[string]string{})
	if !bytes.Equal(none, empty) {
		t.Errorf("empty metadata encodes as %q, nil as %q", empty, none)
	}
	if bytes.Contains(empty, []byte(metadataKey)) {
		t.Errorf("%q has a metadata entry", empty)
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, empty, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata != nil {
		t.Errorf("metadata %v, want none", f.Metadata)
	}
}

// A save takes a generation above every one whose files lie at the base
// path, not only above the sidecar's: files a failed save left (here of
// generation 7, named by no sidecar) are never written over, and are
// removed once the new generation is in place.
func TestSaveSkipsGenerationsLeftOnDisk(t *testing.T) {
	dir, base, c := savedCheckpoint(t)
	b, err := os.ReadFile(base + ".g1.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".g7.safetensors", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	l, err := Load(base)
	if err != nil {
		t.Fatal(err)
	}
	if l.Meta.Generation != 8 {
		t.Fatalf("generation %d after files of generation 7 were left, want 8", l.Meta.Generation)
	}
	want := []string{"ck.g8.optim.safetensors", "ck.g8.safetensors", "ck.json"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

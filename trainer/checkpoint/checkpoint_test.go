package checkpoint

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

func trainedModel(t *testing.T) (*nn.Sequential, *optim.Optimizer, *nn.Tensor, []int) {
	t.Helper()
	m, err := nn.CNN([]int{1, 10, 10}, 4, nn.WithSeed(7), nn.WithBatchNorm())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze("conv1."); err != nil {
		t.Fatal(err)
	}
	o, err := optim.New(optim.Config{Algorithm: optim.AdamW, LR: 1e-2, WeightDecay: 0.01}, nil, optim.GroupParams(m.Params())...)
	if err != nil {
		t.Fatal(err)
	}
	x := nn.NewTensor(5, 1, 10, 10)
	for i := range x.Data {
		x.Data[i] = float32(i%17) / 17
	}
	labels := []int{0, 1, 2, 3, 1}
	for range 2 {
		step(t, m, o, x, labels)
	}
	return m, o, x, labels
}

// savedCheckpoint saves trainedModel's checkpoint of epoch 1 at DIR/ck, a
// fresh directory, and returns DIR, the base path and the checkpoint.
func savedCheckpoint(t *testing.T) (dir, base string, c *Checkpoint) {
	t.Helper()
	m, o, _, _ := trainedModel(t)
	dir = t.TempDir()
	base = filepath.Join(dir, "ck")
	c, _ = Capture(m, o, Meta{Epoch: 1})
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	return dir, base, c
}

func step(t *testing.T, m *nn.Sequential, o *optim.Optimizer, x *nn.Tensor, labels []int) {
	t.Helper()
	var ce nn.SoftmaxCrossEntropy
	y, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := ce.Forward(y, labels)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(g); err != nil {
		t.Fatal(err)
	}
	o.Step()
}

func TestSaveLoadResumesExactly(t *testing.T) {
	m, o, x, labels := trainedModel(t)
	base := filepath.Join(t.TempDir(), "epoch-002")
	meta := Meta{
		Epoch: 2, Step: o.StepCount(), DatasetVersion: "mnist@sha256:abc",
		Normalization: &Normalization{Mean: []float64{0.1307}, Std: []float64{0.3081}},
		ClassNames:    []string{"zero", "one", "two", "three"},
		RNG:           map[string][]byte{"loader": {1, 2, 3}},
		Extra:         map[string]json.RawMessage{"schedule": json.RawMessage(`{"kind":"cosine"}`)},
	}
	c, err := Capture(m, o, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	lm := loaded.Meta
	if lm.Epoch != 2 || lm.Step != 2 || lm.DatasetVersion != meta.DatasetVersion || !slices.Equal(lm.ClassNames, meta.ClassNames) ||
		lm.Normalization.Std[0] != 0.3081 || string(lm.RNG["loader"]) != "\x01\x02\x03" || compact(lm.Extra["schedule"]) != `{"kind":"cosine"}` {
		t.Errorf("metadata changed: %+v", lm)
	}
	if !slices.Equal(lm.Frozen, []string{"conv1.weight", "conv1.bias"}) {
		t.Errorf("frozen %v", lm.Frozen)
	}
	m2, err := loaded.Restore()
	if err != nil {
		t.Fatal(err)
	}
	o2, err := optim.New(lm.Optimizer.Config, nil, optim.GroupParams(m2.Params())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.RestoreOptimizer(o2); err != nil {
		t.Fatal(err)
	}
	// Both continue training identically: weights, running statistics,
	// dropout streams, frozen flags and optimizer moments all came back.
	for range 2 {
		step(t, m, o, x, labels)
		step(t, m2, o2, x, labels)
	}
	a, b := m.State(), m2.State()
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s diverged after resuming", a[i].Name)
		}
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return err.Error()
	}
	return b.String()
}

func TestLoadDetectsTornOrTamperedCheckpoint(t *testing.T) {
	dir, base, _ := savedCheckpoint(t)
	wPath, oPath, _ := Paths(base)
	b, _ := os.ReadFile(wPath)
	b[len(b)-1] ^= 1
	os.WriteFile(wPath, b, 0o644)
	if _, err := Load(base); err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), wPath) {
		t.Errorf("tampered weights: %v", err)
	}
	b[len(b)-1] ^= 1
	os.WriteFile(wPath, b, 0o644)
	if _, err := Load(base); err != nil {
		t.Fatalf("restored file rejected: %v", err)
	}
	os.Remove(oPath)
	if _, err := Load(base); err == nil || !strings.Contains(err.Error(), "optim.safetensors") {
		t.Errorf("missing optimizer file: %v", err)
	}
	os.WriteFile(base+".json", []byte(`{"format":"other"}`), 0o644)
	if _, err := Load(base); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("wrong format: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "nothing")); err == nil {
		t.Error("missing checkpoint loaded")
	}
}

// TestWeightsHaveTorchNames checks the weights file is a plain safetensors
// file with PyTorch state_dict names and the architecture in its metadata.
func TestWeightsHaveTorchNames(t *testing.T) {
	m, err := nn.CNN([]int{1, 28, 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Capture(m, nil, Meta{})
	base := filepath.Join(t.TempDir(), "w")
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	wPath, oPath, _ := Paths(base)
	if _, err := os.Stat(oPath); !os.IsNotExist(err) {
		t.Errorf("optimizer file written without optimizer: %v", err)
	}
	f, err := ReadSafetensors(wPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range f.Tensors {
		names = append(names, ti.Name)
	}
	want := []string{"conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"}
	if !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if info, _ := f.Info("conv2.weight"); !slices.Equal(info.Shape, []int{64, 32, 3, 3}) {
		t.Errorf("conv2.weight shape %v", info.Shape)
	}
	var spec nn.Spec
	if err := json.Unmarshal([]byte(f.Metadata["arch"]), &spec); err != nil || spec.Name != "cnn" || f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v (%v)", f.Metadata, err)
	}
}

// TestPythonSafetensorsLoadsFile runs the reference reader when it is
// installed.
func TestPythonSafetensorsLoadsFile(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(py, "-c", "import safetensors.numpy").Run(); err != nil {
		t.Skip("python safetensors not installed")
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	ts := []Tensor{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 4, 5, 6e-8}},
		{Name: "b", Shape: []int{3}, Data: []float32{0.25, 0, -1}},
	}
	if err := WriteSafetensors(path, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, json
from safetensors.numpy import load_file
from safetensors import safe_open
d = load_file(sys.argv[1])
with safe_open(sys.argv[1], "np") as f:
    md = f.metadata()
print(json.dumps({"md": md, "t": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "v": [float(x) for x in v.ravel()]} for k, v in d.items()}}))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var got struct {
		MD map[string]string
		T  map[string]struct {
			Shape []int
			DType string
			V     []float64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.MD["format"] != "pt" {
		t.Errorf("metadata %v", got.MD)
	}
	for _, w := range ts {
		g := got.T[w.Name]
		if !slices.Equal(g.Shape, w.Shape) || g.DType != "float32" || len(g.V) != len(w.Data) {
			t.Fatalf("%s: %+v", w.Name, g)
		}
		for i := range g.V {
			if float32(g.V[i]) != w.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", w.Name, i, g.V[i], w.Data[i])
			}
		}
	}
}

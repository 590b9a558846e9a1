package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// TestLoRAAdaptersSavedApart saves a model with adapters on fc1 and checks
// that the adapters go to their own file, the weights file stays the plain
// model's state dict, and loading brings back the exact training state.
func TestLoRAAdaptersSavedApart(t *testing.T) {
	m, err := nn.CNN([]int{1, 10, 10}, 4, nn.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze("conv"); err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA([]string{"fc1"}, 2, 4, 9); err != nil {
		t.Fatal(err)
	}
	o, err := optim.New(optim.Config{Algorithm: optim.Adam, LR: 1e-2}, nil, optim.GroupParams(m.Trainable())...)
	if err != nil {
		t.Fatal(err)
	}
	x := nn.NewTensor(5, 1, 10, 10)
	for i := range x.Data {
		x.Data[i] = float32(i%13) / 13
	}
	labels := []int{0, 1, 2, 3, 1}
	for range 2 {
		step(t, m, o, x, labels)
	}
	base := filepath.Join(t.TempDir(), "ck")
	c, err := Capture(m, o, Meta{Epoch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}

	wPath, _, _ := Paths(base)
	w, err := ReadSafetensors(wPath)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := ReadSafetensors(LoRAPath(base))
	if err != nil {
		t.Fatal(err)
	}
	names := func(f *Safetensors) (out []string) {
		for _, ti := range f.Tensors {
			out = append(out, ti.Name)
		}
		return out
	}
	if got, want := names(w), []string{"conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"}; !slices.Equal(got, want) {
		t.Errorf("weights file holds %v, want the plain model's %v", got, want)
	}
	if got := names(lf); !slices.Equal(got, []string{"fc1.lora_A.weight", "fc1.lora_B.weight"}) {
		t.Errorf("adapter file holds %v", got)
	}
	if info, _ := lf.Info("fc1.lora_A.weight"); !slices.Equal(info.Shape, []int{2, 576}) {
		t.Errorf("lora_A shape %v", info.Shape)
	}
	md := lf.Metadata
	if md["r"] != "2" || md["lora_alpha"] != "4" || md["target_modules"] != "fc1" || md["format"] != "pt" {
		t.Errorf("adapter metadata %v", md)
	}
	var list []LoRAAdapter
	if err := json.Unmarshal([]byte(md["adapters"]), &list); err != nil || len(list) != 1 || list[0] != (LoRAAdapter{"fc1", 2, 4}) {
		t.Errorf("adapters %v (%v)", list, err)
	}

	loaded, err := Load(base)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Meta.LoRAFile == nil || loaded.Meta.LoRAFile.Name != "ck.g1.lora.safetensors" {
		t.Errorf("sidecar lora_file %+v", loaded.Meta.LoRAFile)
	}
	m2, err := loaded.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Adapters()) != 1 || !slices.Equal(paramNames(m2.Trainable()), paramNames(m.Trainable())) {
		t.Fatalf("restored trainable %v, want %v", paramNames(m2.Trainable()), paramNames(m.Trainable()))
	}
	o2, err := optim.New(loaded.Meta.Optimizer.Config, nil, optim.GroupParams(m2.Trainable())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.RestoreOptimizer(o2); err != nil {
		t.Fatal(err)
	}
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

	// The adapter file is checked like the others.
	raw, _ := os.ReadFile(LoRAPath(base))
	raw[len(raw)-1] ^= 1
	os.WriteFile(LoRAPath(base), raw, 0o644)
	if _, err := Load(base); err == nil || !strings.Contains(err.Error(), "lora.safetensors does not match") {
		t.Errorf("tampered adapter file: %v", err)
	}
	os.Remove(LoRAPath(base))
	if _, err := Load(base); err == nil || !strings.Contains(err.Error(), "lora.safetensors") {
		t.Errorf("missing adapter file: %v", err)
	}
}

func TestNoAdapterFileWithoutLoRA(t *testing.T) {
	m, err := nn.MLP(6, []int{4}, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Capture(m, nil, Meta{})
	base := filepath.Join(t.TempDir(), "ck")
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(LoRAPath(base)); !os.IsNotExist(err) {
		t.Errorf("adapter file written for a plain model: %v", err)
	}
	raw, _ := os.ReadFile(base + ".json")
	if strings.Contains(string(raw), "lora") {
		t.Errorf("sidecar mentions LoRA: %s", raw)
	}
}

func paramNames(ps []*nn.Param) (out []string) {
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

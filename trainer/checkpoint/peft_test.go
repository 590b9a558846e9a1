package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

func loraViT(t *testing.T, targets ...string) *nn.Sequential {
	t.Helper()
	m, err := nn.ViT([]int{1, 6, 6}, 4, nn.ViTConfig{Patch: 2, Dim: 8, Depth: 2, Heads: 2, MLPRatio: 2}, nn.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA(targets, 4, 8, 2); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWritePEFTLayout pins the key names and config fields PEFT reads:
// LoRA tensors under base_model.model.<module>.lora_{A,B}.weight, the
// head (modules_to_save) under base_model.model.head.*, and the config's
// peft_type, r, lora_alpha, target_modules and modules_to_save.
func TestWritePEFTLayout(t *testing.T) {
	m := loraViT(t, "attn.qkv", "attn.proj")
	c, err := Capture(m, nil, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := WritePEFT(dir, c, []string{"head"}); err != nil {
		t.Fatal(err)
	}
	st, err := ReadSafetensors(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ti := range st.Tensors {
		keys = append(keys, ti.Name)
	}
	slices.Sort(keys)
	want := []string{
		"base_model.model.blocks.0.attn.proj.lora_A.weight", "base_model.model.blocks.0.attn.proj.lora_B.weight",
		"base_model.model.blocks.0.attn.qkv.lora_A.weight", "base_model.model.blocks.0.attn.qkv.lora_B.weight",
		"base_model.model.blocks.1.attn.proj.lora_A.weight", "base_model.model.blocks.1.attn.proj.lora_B.weight",
		"base_model.model.blocks.1.attn.qkv.lora_A.weight", "base_model.model.blocks.1.attn.qkv.lora_B.weight",
		"base_model.model.head.bias", "base_model.model.head.weight",
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v\nwant %v", keys, want)
	}
	// Shapes are PEFT's: lora_A [r, in], lora_B [out, r].
	if a, _ := st.Info("base_model.model.blocks.0.attn.qkv.lora_A.weight"); !slices.Equal(a.Shape, []int{4, 8}) {
		t.Errorf("qkv lora_A shape %v, want [4 8]", a.Shape)
	}
	if b, _ := st.Info("base_model.model.blocks.0.attn.qkv.lora_B.weight"); !slices.Equal(b.Shape, []int{24, 4}) {
		t.Errorf("qkv lora_B shape %v, want [24 4]", b.Shape)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"peft_type": "LORA", "r": 4.0, "lora_alpha": 8.0, "bias": "none",
		"lora_dropout": 0.0, "fan_in_fan_out": false, "use_dora": false, "use_rslora": false} {
		if cfg[k] != v {
			t.Errorf("config %s = %v, want %v", k, cfg[k], v)
		}
	}
	if got := cfg["target_modules"]; !sameStrings(got, "attn.qkv", "attn.proj") {
		t.Errorf("target_modules = %v, want [attn.qkv attn.proj]", got)
	}
	if got := cfg["modules_to_save"]; !sameStrings(got, "head") {
		t.Errorf("modules_to_save = %v, want [head]", got)
	}
}

func sameStrings(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i, s := range want {
		if l[i] != s {
			return false
		}
	}
	return true
}

// Adapters on some blocks only are listed by full name, which PEFT matches
// exactly; a suffix would put adapters on every block.
func TestWritePEFTPartialTargets(t *testing.T) {
	m := loraViT(t, "blocks.1.attn.qkv", "blocks.1.mlp.fc1")
	c, err := Capture(m, nil, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WritePEFT(dir, c, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	var cfg PEFTConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if want := []string{"blocks.1.attn.qkv", "blocks.1.mlp.fc1"}; !slices.Equal(cfg.TargetModules, want) {
		t.Errorf("target_modules %v, want %v", cfg.TargetModules, want)
	}
}

func TestWritePEFTErrors(t *testing.T) {
	plain, err := nn.ViT([]int{1, 6, 6}, 4, nn.ViTConfig{Patch: 2, Dim: 8, Depth: 1, Heads: 2, MLPRatio: 2})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Capture(plain, nil, Meta{})
	dir := filepath.Join(t.TempDir(), "out")
	if err := WritePEFT(dir, c, nil); err == nil || !strings.Contains(err.Error(), "no LoRA adapters") {
		t.Errorf("plain model: %v", err)
	}
	c, _ = Capture(loraViT(t, "attn.qkv"), nil, Meta{})
	if err := WritePEFT(dir, c, []string{"classifier"}); err == nil || !strings.Contains(err.Error(), `no module "classifier"`) {
		t.Errorf("unknown module: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "adapter_config.json")); err == nil {
		t.Error("a failed export left a config behind")
	}
}

// A checkpoint with ViT adapters saves them apart (the lora file names the
// sublayers) and restores with the same outputs.
func TestViTLoRACheckpointRoundTrip(t *testing.T) {
	m := loraViT(t, "attn.qkv", "mlp.fc2")
	for _, a := range m.Adapters() {
		for i := range a.B.Data {
			a.B.Data[i] = float32(i%5) * 0.1
		}
	}
	x := nn.NewTensor(2, 1, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 3
	}
	y, err := m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(y.Data)
	c, err := Capture(m, nil, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "checkpoint")
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}
	st, err := ReadSafetensors(LoRAPath(p))
	if err != nil {
		t.Fatal(err)
	}
	if st.Metadata["target_modules"] != "blocks.0.attn.qkv,blocks.0.mlp.fc2,blocks.1.attn.qkv,blocks.1.mlp.fc2" {
		t.Errorf("adapter file target_modules %q", st.Metadata["target_modules"])
	}
	l, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Restore()
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data, want) {
		t.Error("restored adapted ViT gives different outputs")
	}
	if len(r.Adapters()) != 4 {
		t.Errorf("restored %d adapters, want 4", len(r.Adapters()))
	}
}

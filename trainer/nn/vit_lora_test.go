package nn

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// adaptedViT is a tiny ViT with adapters on the given targets and random
// (non-zero) B matrices, so that the adapters change the outputs.
func adaptedViT(t *testing.T, targets ...string) *Sequential {
	t.Helper()
	m := tinyViT(t, 5, 0)
	if err := m.AddLoRA(targets, 2, 3, 5); err != nil { // the model's seed, as Build uses
		t.Fatal(err)
	}
	rng := testRNG(40)
	for _, a := range m.Adapters() {
		for i := range a.B.Data {
			a.B.Data[i] = float32(rng.NormFloat64())
		}
	}
	return m
}

func TestViTLoRATargetsAndNames(t *testing.T) {
	m := tinyViT(t, 5, 0)
	want := []string{"blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.1.attn.qkv", "blocks.1.attn.proj", "head"}
	if got := m.LoRATargets(); !slices.Equal(got, want) {
		t.Fatalf("LoRATargets = %v, want %v", got, want)
	}
	m = adaptedViT(t, "attn.qkv", "attn.proj", "blocks.1.mlp.fc2")
	var names []string
	for _, p := range m.Params() {
		if strings.Contains(p.Name, "lora_") {
			names = append(names, p.Name)
		}
	}
	wantNames := []string{
		"blocks.0.attn.qkv.lora_A.weight", "blocks.0.attn.qkv.lora_B.weight",
		"blocks.0.attn.proj.lora_A.weight", "blocks.0.attn.proj.lora_B.weight",
		"blocks.1.attn.qkv.lora_A.weight", "blocks.1.attn.qkv.lora_B.weight",
		"blocks.1.attn.proj.lora_A.weight", "blocks.1.attn.proj.lora_B.weight",
		"blocks.1.mlp.fc2.lora_A.weight", "blocks.1.mlp.fc2.lora_B.weight",
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("adapter parameters %v, want %v", names, wantNames)
	}
	for _, p := range m.Params() {
		adaptedBase := strings.HasSuffix(p.Name, "attn.qkv.weight") || p.Name == "blocks.1.mlp.fc2.bias"
		if adaptedBase && !p.Frozen {
			t.Errorf("%s: base weight of an adapter is not frozen", p.Name)
		}
		if p.Name == "blocks.0.mlp.fc2.bias" && p.Frozen {
			t.Errorf("%s: frozen without an adapter", p.Name)
		}
	}
	// The spec records the adapters; building from it gives the same
	// parameters, and the checkpoint's module list names the sublayers.
	s := m.Spec()
	var mods []string
	for _, l := range s.Layers {
		mods = append(mods, l.LoRAModules()...)
	}
	if want := []string{"blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.1.attn.qkv", "blocks.1.attn.proj", "blocks.1.mlp.fc2"}; !slices.Equal(mods, want) {
		t.Errorf("LoRAModules %v, want %v", mods, want)
	}
	b, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	var bn []string
	for _, p := range b.Params() {
		bn = append(bn, p.Name)
	}
	var mn []string
	for _, p := range m.Params() {
		mn = append(mn, p.Name)
	}
	if !slices.Equal(bn, mn) {
		t.Errorf("rebuilt parameters %v, want %v", bn, mn)
	}
	// The same A draws from the same seed: adapters are reproducible.
	if !slices.Equal(b.Adapters()[4].A.Data, m.Adapters()[4].A.Data) {
		t.Error("rebuilt adapter A differs")
	}
}

func TestViTLoRAErrors(t *testing.T) {
	for _, c := range []struct {
		targets []string
		want    string
	}{
		{[]string{"mlp.fc3"}, `no layer "mlp.fc3"`},
		{[]string{"attn.qkv", "blocks.0.attn.qkv"}, "named twice"},
		{[]string{"norm"}, "LoRA adapters go on dense layers"},
	} {
		m := tinyViT(t, 5, 0)
		before := len(m.Params())
		err := m.AddLoRA(c.targets, 2, 2, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddLoRA(%v): %v, want an error with %q", c.targets, err, c.want)
		}
		if len(m.Params()) != before || len(m.Adapters()) != 0 {
			t.Errorf("AddLoRA(%v) failed but changed the model", c.targets)
		}
	}
	m := adaptedViT(t, "attn.qkv")
	if err := m.AddLoRA([]string{"attn.proj"}, 2, 2, 1); err == nil || !strings.Contains(err.Error(), "already has LoRA") {
		t.Errorf("adding to an adapted block: %v", err)
	}
}

// TestViTLoRAMergeMatchesAdapted: folding the adapters in changes no
// output beyond float32 rounding, and leaves no adapter parameter.
func TestViTLoRAMergeMatchesAdapted(t *testing.T) {
	m := adaptedViT(t, "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
	x := randTensor(testRNG(41), false, 3, 1, 4, 6)
	y, err := m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	adapted := y.Clone()
	plain := tinyViT(t, 5, 0)
	p0, _ := plain.Forward(x, false)
	if d := maxAbsDiff(adapted.Data, p0.Data); d < 1e-3 {
		t.Fatalf("adapters change the outputs by only %g: the test would not see a bad merge", d)
	}
	merged := m.MergeLoRA()
	if len(merged) != 8 {
		t.Errorf("merged %v, want 8 layers", merged)
	}
	y, err = m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(adapted.Data, y.Data); d > 1e-5 {
		t.Errorf("merged model differs from the adapted one by %g", d)
	}
	for _, p := range m.Params() {
		if strings.Contains(p.Name, "lora_") {
			t.Errorf("merged model still has %s", p.Name)
		}
	}
	if s := m.Spec(); s.Layers[2].LoRARank != 0 || len(s.Layers[2].LoRALayers) != 0 {
		t.Errorf("merged block spec still records adapters: %+v", s.Layers[2])
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestViTBlockLoRAGradients checks a block with adapters on all four
// sublayers against finite differences.
func TestViTBlockLoRAGradients(t *testing.T) {
	rng := testRNG(42)
	b := newTestBlock(t, rng, 0)
	if err := b.addLoRA(blockSubs, 2, 3, 9, 0); err != nil {
		t.Fatal(err)
	}
	for _, a := range b.adapters() {
		// The check covers the base weights too (LoRA computes their
		// gradients when they are not frozen).
		a.Base().W.Frozen, a.Base().B.Frozen = false, false
		for i := range a.B.Data {
			a.B.Data[i] = float32(rng.NormFloat64()) * 0.5
		}
	}
	checkGradients(t, gradCase{layer: b, x: randTensor(rng, false, 2, 3, 6), train: true})
}

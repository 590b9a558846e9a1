package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// Paths names the files a checkpoint's sidecar lists, or, with no sidecar
// or none naming an optimizer file, the names its generation would give.
func TestPathsFollowTheSidecar(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "ck")
	w, o, s := Paths(base + ".json")
	if w != base+".safetensors" || o != base+".optim.safetensors" || s != base+".json" {
		t.Fatalf("no sidecar: %s %s %s", w, o, s)
	}
	m, opt, _, _ := trainedModel(t)
	for gen := 1; gen <= 2; gen++ {
		c, _ := Capture(m, opt, Meta{Epoch: gen})
		if err := Save(base, c); err != nil {
			t.Fatal(err)
		}
	}
	w, o, s = Paths(base)
	if w != base+".g2.safetensors" || o != base+".g2.optim.safetensors" || s != base+".json" {
		t.Fatalf("after two saves: %s %s %s", w, o, s)
	}
	// A save without optimizer state: its sidecar names no optimizer file,
	// so the optimizer path is its generation's name.
	c, _ := Capture(m, nil, Meta{Epoch: 3})
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	w, o, _ = Paths(base)
	if w != base+".g3.safetensors" || o != base+".g3.optim.safetensors" {
		t.Fatalf("after a save without optimizer: %s %s", w, o)
	}
}

// The adapter file's PEFT metadata writes lora_alpha as the shortest
// decimal that reads back as the value.
func TestLoRAAlphaMetadata(t *testing.T) {
	for alpha, want := range map[float64]string{0.75: "0.75", 16: "16", 1.5: "1.5"} {
		m, err := nn.CNN([]int{1, 10, 10}, 4, nn.WithSeed(7))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.AddLoRA([]string{"fc1"}, 2, alpha, 9); err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(t.TempDir(), "ck")
		c, err := Capture(m, nil, Meta{Epoch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := Save(base, c); err != nil {
			t.Fatal(err)
		}
		lf, err := ReadSafetensors(LoRAPath(base))
		if err != nil {
			t.Fatal(err)
		}
		if got := lf.Metadata["lora_alpha"]; got != want {
			t.Errorf("alpha %v: lora_alpha %q, want %q", alpha, got, want)
		}
	}
}

// A checkpoint whose sidecar carries no generator state (one written
// before model_rng existed) restores a dropout model with the generator
// its seed gives, rather than failing.
func TestRestoreWithoutRNGState(t *testing.T) {
	m, err := nn.MLP(16, []int{8}, 3, nn.WithSeed(4), nn.WithDropout(0.5))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Capture(m, nil, Meta{Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Meta.ModelRNG) == 0 {
		t.Fatal("a dropout model captured no generator state")
	}
	c.Meta.ModelRNG = nil
	if _, err := c.Restore(); err != nil {
		t.Fatalf("restoring without generator state: %v", err)
	}
	plain, _ := nn.MLP(16, []int{8}, 3, nn.WithSeed(4))
	pc, _ := Capture(plain, nil, Meta{Epoch: 1})
	if pc.Meta.ModelRNG != nil {
		t.Errorf("a model without dropout captured generator state %v", pc.Meta.ModelRNG)
	}
}

// The sidecar is authoritative: a weights file it names under another name
// (one renamed along with its sidecar entry) is the one Paths returns.
func TestPathsTrustTheSidecarsNames(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "ck")
	m, opt, _, _ := trainedModel(t)
	c, _ := Capture(m, opt, Meta{Epoch: 1})
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), `"ck.g1.safetensors"`, `"renamed.safetensors"`, 1)
	if edited == string(b) {
		t.Fatal("the sidecar does not name ck.g1.safetensors")
	}
	if err := os.WriteFile(base+".json", []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, _, _ := Paths(base); w != filepath.Join(dir, "renamed.safetensors") {
		t.Fatalf("weights path %s, want the sidecar's renamed.safetensors", w)
	}
}

package nn

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// The zero Precision is FP32, by name too.
func TestPrecisionString(t *testing.T) {
	for p, want := range map[Precision]string{"": "fp32", FP32: "fp32", BF16: "bf16"} {
		if got := p.String(); got != want {
			t.Errorf("Precision(%q).String() = %q, want %q", string(p), got, want)
		}
	}
}

// Attention and the token embedding refuse inputs of the wrong rank or
// width (or token count) and give the shape they produce otherwise.
func TestAttentionAndTokenEmbedShapes(t *testing.T) {
	a, err := NewAttention("attn", 4, 2, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.OutShape([]int{5, 4}); err != nil || got[0] != 5 || got[1] != 4 || len(got) != 2 {
		t.Errorf("attention OutShape([5 4]) = %v, %v", got, err)
	}
	for _, in := range [][]int{{4}, {5, 3}, {5, 5}, {1, 5, 4}} {
		if _, err := a.OutShape(in); err == nil || !strings.Contains(err.Error(), "attention expects") {
			t.Errorf("attention OutShape(%v): %v", in, err)
		}
	}
	e, err := NewTokenEmbed("tokens", 4, 5, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.OutShape([]int{4, 4}); err != nil || got[0] != 5 || got[1] != 4 || len(got) != 2 {
		t.Errorf("token embed OutShape([4 4]) = %v, %v", got, err)
	}
	for _, in := range [][]int{{4}, {5, 4}, {3, 4}, {4, 3}, {4, 4, 1}} {
		if _, err := e.OutShape(in); err == nil || !strings.Contains(err.Error(), "token embedding expects input [4 4]") {
			t.Errorf("token embed OutShape(%v): %v", in, err)
		}
	}
}

// SetRNGState names a state for a layer the model does not have, and says
// so apart from a state given for a layer without a generator.
func TestSetRNGStateUnknownLayers(t *testing.T) {
	m, err := MLP(4, []int{3}, 2, WithDropout(0.5))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := m.RNGState()
	if err != nil || len(rs) != 1 {
		t.Fatalf("RNGState = %v, %v", rs, err)
	}
	var drop []byte
	for _, b := range rs {
		drop = b
	}
	rs["nosuch"] = drop
	if err := m.SetRNGState(rs); err == nil || !strings.Contains(err.Error(), `unknown layer "nosuch"`) {
		t.Errorf("state for an unknown layer: %v", err)
	}
	delete(rs, "nosuch")
	rs["fc1"] = drop
	if err := m.SetRNGState(rs); err == nil || !strings.Contains(err.Error(), "layers without a generator") {
		t.Errorf("state for a dense layer: %v", err)
	}
	delete(rs, "fc1")
	if err := m.SetRNGState(rs); err != nil {
		t.Errorf("the model's own states: %v", err)
	}
}

// The smallest ViT is allowed: patch 1, width 1 with one head, depth 1 and
// one hidden feature.
func TestViTSmallestConfig(t *testing.T) {
	m, err := ViT([]int{1, 2, 3}, 2, ViTConfig{Patch: 1, Dim: 1, Depth: 1, Heads: 1, MLPRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := batch(1, 2, 1, 2, 3)
	if y := mustForward(t, m, x); len(y.Shape) != 2 || y.Shape[0] != 2 || y.Shape[1] != 2 {
		t.Errorf("output shape %v", y.Shape)
	}
}

// The drop-path rate grows linearly from 0 at the first block to exactly
// the rate asked at the last (timm's drop_path_rate); a single block has
// rate 0, as timm's linspace(0, rate, 1) gives.
func TestViTDropPathSchedule(t *testing.T) {
	rates := func(depth int, rate float64) []float64 {
		s, err := ViTSpec([]int{1, 4, 4}, 2, ViTConfig{Patch: 2, Dim: 4, Heads: 1, Depth: depth, MLPRatio: 1, DropPath: rate})
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, l := range s.Layers {
			if l.Type == "vit_block" {
				out = append(out, l.DropPath)
			}
		}
		return out
	}
	if got := rates(1, 0.2); len(got) != 1 || got[0] != 0 {
		t.Errorf("depth 1: rates %v, want [0]", got)
	}
	// 0.1·3/3 is not 0.1 in floating point: the last block takes the rate as given.
	got := rates(4, 0.1)
	if want := []float64{0, 0.1 / 3, 0.1 * 2 / 3, 0.1}; len(got) != 4 || got[0] != want[0] || got[3] != want[3] ||
		math.Abs(got[1]-want[1]) > 1e-15 || math.Abs(got[2]-want[2]) > 1e-15 {
		t.Errorf("depth 4: rates %v, want %v", got, want)
	}
}

// A drop-path rate of 1 is refused by the spec itself, not only when the
// model is built.
func TestViTSpecRefusesDropPathOne(t *testing.T) {
	for _, r := range []float64{1, -0.1, math.NaN()} {
		if _, err := ViTSpec([]int{1, 4, 4}, 2, ViTConfig{Patch: 2, Dim: 4, Heads: 1, Depth: 2, MLPRatio: 1, DropPath: r}); err == nil {
			t.Errorf("drop path %v accepted", r)
		}
	}
}

// Batch norm takes only its own feature or channel count, and an MLP with
// batch norm builds and runs.
func TestBatchNormShapes(t *testing.T) {
	b1, _ := NewBatchNorm1D("bn", 3, 0, 0)
	b2, _ := NewBatchNorm2D("bn", 3, 0, 0)
	for _, c := range []struct {
		b  *BatchNorm
		in []int
		ok bool
	}{
		{b1, []int{3}, true}, {b1, []int{4}, false}, {b1, []int{3, 1}, false},
		{b2, []int{3, 2, 2}, true}, {b2, []int{4, 2, 2}, false}, {b2, []int{3, 2}, false},
	} {
		got, err := c.b.OutShape(c.in)
		if (err == nil) != c.ok || (c.ok && !slices.Equal(got, c.in)) {
			t.Errorf("twoD=%v OutShape(%v) = %v, %v", c.b.twoD, c.in, got, err)
		}
	}
	m, err := MLP(4, []int{3}, 2, WithBatchNorm())
	if err != nil {
		t.Fatal(err)
	}
	x, _ := batch(1, 5, 4)
	mustForward(t, m, x)
}

// A model whose only dense layer is its first can have its head replaced;
// ViTConfigOf wants at least one transformer block.
func TestHeadAtIndexZeroAndViTConfigOf(t *testing.T) {
	m, err := MLP(4, []int{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ReplaceHead(5, 1); err != nil {
		t.Fatalf("ReplaceHead of a one-layer model: %v", err)
	}
	if out := m.OutputShape(); len(out) != 1 || out[0] != 5 {
		t.Errorf("output shape %v after ReplaceHead(5)", out)
	}
	s := Spec{Name: "vit", Input: []int{1, 4, 4}, Layers: []LayerSpec{{Type: "patch_embed", Name: "patch_embed", In: 1, Out: 4, Kernel: 2}}}
	if _, ok := ViTConfigOf(s); ok {
		t.Error("a spec without transformer blocks taken for a ViT")
	}
}

package nn

import (
	"math"
	"testing"
)

// logitsOf runs an evaluation forward pass and copies its output.
func logitsOf(t *testing.T, m *Sequential, x *Tensor) []float32 {
	t.Helper()
	y, err := m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), y.Data...)
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// PackForInference packs every bf16 dense layer's weights — the MLP's, the
// ViT blocks' four and its head — and evaluation passes give bitwise the
// logits of packing on every call. Unpacked, the passes follow the weights
// again; an fp32 model has nothing packed.
func TestPackForInference(t *testing.T) {
	mlp, err := MLP(48, []int{40, 24}, 5, WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	vit, err := ViT([]int{1, 8, 8}, 5, ViTConfig{Patch: 4, Dim: 16, Depth: 2, Heads: 2, MLPRatio: 2}, WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		m     *Sequential
		x     *Tensor
		dense int
	}{
		{"mlp", mlp, flat(randImages(4, 33, 1, 1, 48)), 3},
		{"vit", vit, randImages(5, 9, 1, 8, 8), 2*4 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			unpack := m.PackForInference()
			if n := packedLayers(m); n != 0 {
				t.Fatalf("fp32 model: %d layers packed", n)
			}
			unpack()
			if err := m.SetPrecision(BF16); err != nil {
				t.Fatal(err)
			}
			want := logitsOf(t, m, tc.x)
			unpack = m.PackForInference()
			if n := packedLayers(m); n != tc.dense {
				t.Fatalf("%d dense layers packed, want %d", n, tc.dense)
			}
			if got := logitsOf(t, m, tc.x); !sameBits(got, want) {
				t.Fatal("packed evaluation pass differs from packing every call")
			}
			w := m.Params()[len(m.Params())-2] // the head's weight
			if w.Name != "head.weight" && w.Name != "fc3.weight" {
				t.Fatalf("expected the head's weight, got %s", w.Name)
			}
			for i := range w.Data {
				w.Data[i] *= 2
			}
			if got := logitsOf(t, m, tc.x); !sameBits(got, want) {
				t.Fatal("while packed, a pass followed a change to the weights")
			}
			unpack()
			if n := packedLayers(m); n != 0 {
				t.Fatalf("after unpack %d layers still packed", n)
			}
			if got := logitsOf(t, m, tc.x); sameBits(got, want) {
				t.Fatal("unpacked, the pass ignored the doubled head")
			}
		})
	}
}

// flat views images as rows of features, an MLP's input.
func flat(x *Tensor) *Tensor {
	n := x.Shape[0]
	y, err := FromSlice(x.Data, n, len(x.Data)/n)
	if err != nil {
		panic(err)
	}
	return y
}

func packedLayers(m *Sequential) int {
	n := 0
	for _, l := range m.layers {
		for _, d := range denseLayers(l) {
			if d.packedW != nil {
				n++
			}
		}
	}
	return n
}

package checkpoint

import (
	"strings"
	"testing"
)

func TestCheckImage(t *testing.T) {
	rgb := ImageShape{Height: 8, Width: 8, Channels: 3}
	if err := (Meta{}).CheckImage(rgb); err != nil {
		t.Fatalf("a checkpoint without a recorded shape: %v", err)
	}
	m := Meta{Image: &rgb}
	if err := m.CheckImage(rgb); err != nil {
		t.Fatal(err)
	}
	err := m.CheckImage(ImageShape{Height: 8, Width: 8, Channels: 1})
	if err == nil || !strings.Contains(err.Error(), "trained on 8x8x3 images (height x width x channels), the shards hold 8x8x1") {
		t.Fatalf("error %v", err)
	}
}

func TestNormalizationSame(t *testing.T) {
	n := &Normalization{Mean: []float64{0.1, 0.2, 0.3}, Std: []float64{0.4, 0.5, 0.6}}
	if !n.Same([]float64{0.1, 0.2, 0.3 + 1e-7}, []float64{0.4, 0.5, 0.6}) {
		t.Fatal("values within 1e-6 differ")
	}
	if n.Same([]float64{0.1, 0.2, 0.31}, n.Std) || n.Same([]float64{0.1}, []float64{0.4}) {
		t.Fatal("other values or another channel count are the same")
	}
}

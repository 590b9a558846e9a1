package checkpoint

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

// A ViT checkpoint records its hyper-parameters in the sidecar's
// architecture and restores to a model with the same outputs and the same
// drop-path generator state.
func TestViTRoundTrip(t *testing.T) {
	cfg := nn.ViTConfig{Patch: 2, Dim: 8, Depth: 3, Heads: 2, MLPRatio: 3, DropPath: 0.3}
	m, err := nn.ViT([]int{1, 6, 6}, 4, cfg, nn.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	x := nn.NewTensor(3, 1, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 3
	}
	if _, err := m.Forward(x, true); err != nil { // advance the drop-path streams
		t.Fatal(err)
	}
	c, err := Capture(m, nil, Meta{Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "checkpoint")
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMeta(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := nn.ViTConfigOf(meta.Arch); !ok || got != cfg {
		t.Fatalf("sidecar architecture gives %+v, want %+v", got, cfg)
	}
	if len(meta.ModelRNG) != cfg.Depth {
		t.Errorf("sidecar holds %d generator states, want one per block (%d)", len(meta.ModelRNG), cfg.Depth)
	}
	l, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Restore()
	if err != nil {
		t.Fatal(err)
	}
	for _, train := range []bool{true, false} {
		a, _ := m.Forward(x, train)
		want := slices.Clone(a.Data)
		b, _ := r.Forward(x, train)
		if !slices.Equal(want, b.Data) {
			t.Errorf("train=%v: restored ViT gives other outputs", train)
		}
	}
}

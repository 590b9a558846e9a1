package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// wantKaiming checks that w holds PyTorch's kaiming_uniform_(a=√5) draws,
// bound 1/√fanIn, from the generator rng: each value (2u−1)/√fanIn for the
// next uniform u.
func wantKaiming(t *testing.T, what string, w []float32, fanIn int, rng *rand.Rand) {
	t.Helper()
	bound := 1 / math.Sqrt(float64(fanIn))
	for j, v := range w {
		want := (2*rng.Float64() - 1) * bound
		if !(math.Abs(float64(v)-want) <= 1e-6*bound) { // NaN-proof
			t.Fatalf("%s[%d] = %g, want %g", what, j, v, want)
		}
	}
}

// An adapter's A is drawn from a stream of its own: for the layer at index
// i, PCG(seed, splitmix64(loraStream+i)); for sublayer k (blockSubs order)
// of the transformer block at index i, PCG(seed,
// splitmix64(splitmix64(loraStream+i)+k+1)). B starts at zero. These
// streams are what make an adapted model the same for the same seed
// whatever else is adapted, so they are pinned here.
func TestLoRAAdapterInitStreams(t *testing.T) {
	const seed = 9
	m, err := MLP(5, []int{3}, 2, WithSeed(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA([]string{"fc1", "fc2"}, 2, 2, seed); err != nil {
		t.Fatal(err)
	}
	for i, l := range m.Layers() {
		a, ok := l.(*LoRA)
		if !ok {
			continue
		}
		in, _ := a.Features()
		rng := rand.New(rand.NewPCG(seed, splitmix64(0x6c6f7261+uint64(i))))
		wantKaiming(t, a.Name()+" A", a.A.Data, in, rng)
		if slices.ContainsFunc(a.B.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s: B does not start at zero", a.Name())
		}
	}
	if n := len(m.Adapters()); n != 2 {
		t.Fatalf("%d adapters, want 2", n)
	}

	vit, err := ViT([]int{1, 4, 4}, 3, ViTConfig{Patch: 2, Dim: 4, Depth: 2, Heads: 1, MLPRatio: 2}, WithSeed(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := vit.AddLoRA([]string{"attn.proj", "mlp.fc2"}, 1, 3, seed); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, l := range vit.Layers() {
		b, ok := l.(*Block)
		if !ok {
			continue
		}
		for k, s := range blockSubs {
			a, ok := (*b.sub(s)).(*LoRA)
			if ok != (s == "attn.proj" || s == "mlp.fc2") {
				t.Fatalf("%s.%s adapted: %v", b.name, s, ok)
			}
			if !ok {
				continue
			}
			seen++
			in, _ := a.Features()
			rng := rand.New(rand.NewPCG(seed, splitmix64(splitmix64(0x6c6f7261+uint64(i))+uint64(k)+1)))
			wantKaiming(t, b.name+"."+s+" A", a.A.Data, in, rng)
		}
	}
	if seen != 4 {
		t.Errorf("%d block adapters, want 4", seen)
	}
}

// Rank 1 is the smallest rank; alpha must be positive, so 0 is refused as
// well as a negative one, wherever the adapter is made: NewLoRA, AddLoRA,
// and a spec's dense or transformer-block layer.
func TestLoRARankAndAlphaEdges(t *testing.T) {
	rng := testRNG(1)
	if l, err := NewLoRA(NewDense("fc", 3, 2, rng), 1, 0.5, rng); err != nil || l.Rank() != 1 || l.scale != 0.5 {
		t.Errorf("NewLoRA rank 1: %v", err)
	}
	for _, c := range []struct {
		rank  int
		alpha float64
	}{{0, 1}, {-1, 1}, {1, 0}, {1, -1}, {1, math.Inf(1)}, {1, math.NaN()}} {
		if _, err := NewLoRA(NewDense("fc", 3, 2, rng), c.rank, c.alpha, rng); err == nil {
			t.Errorf("NewLoRA rank %d alpha %g accepted", c.rank, c.alpha)
		}
		m, _ := MLP(4, []int{3}, 2)
		if err := m.AddLoRA([]string{"fc1"}, c.rank, c.alpha, 1); err == nil {
			t.Errorf("AddLoRA rank %d alpha %g accepted", c.rank, c.alpha)
		}
		mlp := MLPSpec(4, []int{3}, 2)
		mlp.Layers[0].LoRARank, mlp.Layers[0].LoRAAlpha = c.rank, c.alpha
		if _, err := Build(mlp); err == nil {
			t.Errorf("Build of a dense layer with rank %d alpha %g accepted", c.rank, c.alpha)
		}
		vs, err := ViTSpec([]int{1, 4, 4}, 3, ViTConfig{Patch: 2, Dim: 4, Depth: 1, Heads: 1, MLPRatio: 1})
		if err != nil {
			t.Fatal(err)
		}
		blk := slices.IndexFunc(vs.Layers, func(l LayerSpec) bool { return l.Type == "vit_block" })
		vs.Layers[blk].LoRARank, vs.Layers[blk].LoRAAlpha, vs.Layers[blk].LoRALayers = c.rank, c.alpha, []string{"attn.qkv"}
		if _, err := Build(vs); err == nil || !strings.Contains(err.Error(), "LoRA") {
			t.Errorf("Build of a block with rank %d alpha %g: %v", c.rank, c.alpha, err)
		}
		vs.Layers[blk].LoRARank, vs.Layers[blk].LoRAAlpha = 1, 1
		if m, err := Build(vs); err != nil || len(m.Adapters()) != 1 {
			t.Errorf("Build of a block with rank 1: %v", err)
		}
	}
	// The first layer of a model can take an adapter too.
	m, _ := MLP(4, []int{3}, 2)
	if err := m.AddLoRA([]string{"fc1"}, 1, 1, 1); err != nil {
		t.Fatalf("AddLoRA on the first layer: %v", err)
	}
	if a := m.Adapters(); len(a) != 1 || a[0].Name() != "fc1" || m.Layers()[0] != Layer(a[0]) {
		t.Errorf("adapters %v", a)
	}
}

// A spec lists adapter modules and parameters only when its rank is
// positive: a rank-0 layer has none even with lora_layers set.
func TestLoRAModulesNeedAPositiveRank(t *testing.T) {
	for _, c := range []struct {
		s    LayerSpec
		mods []string
	}{
		{LayerSpec{Name: "fc1"}, nil},
		{LayerSpec{Name: "fc1", LoRAAlpha: 2}, nil},
		{LayerSpec{Name: "blocks.0", LoRALayers: []string{"attn.qkv"}}, nil},
		{LayerSpec{Name: "blocks.0", LoRARank: -1, LoRALayers: []string{"attn.qkv"}}, nil},
		{LayerSpec{Name: "fc1", LoRARank: 1}, []string{"fc1"}},
		{LayerSpec{Name: "blocks.1", LoRARank: 1, LoRALayers: []string{"attn.qkv", "mlp.fc2"}}, []string{"blocks.1.attn.qkv", "blocks.1.mlp.fc2"}},
	} {
		if got := c.s.LoRAModules(); !slices.Equal(got, c.mods) {
			t.Errorf("%+v: LoRAModules = %q, want %q", c.s, got, c.mods)
		}
		var params []string
		for _, m := range c.mods {
			params = append(params, m+".lora_A.weight", m+".lora_B.weight")
		}
		if got := c.s.LoRAParams(); !slices.Equal(got, params) {
			t.Errorf("%+v: LoRAParams = %q, want %q", c.s, got, params)
		}
	}
}

// After MergeLoRA the model is a plain one: it computes, bit for bit, what
// a model built from its spec and state computes, and one training step
// reaches every merged weight (none of them frozen).
func TestMergedModelIsPlain(t *testing.T) {
	mlp, err := MLP(6, []int{5}, 3, WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := mlp.AddLoRA([]string{"fc1", "fc2"}, 2, 4, 3); err != nil {
		t.Fatal(err)
	}
	vit, err := ViT([]int{1, 4, 4}, 3, ViTConfig{Patch: 2, Dim: 4, Depth: 1, Heads: 1, MLPRatio: 2}, WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := vit.AddLoRA([]string{"attn.qkv", "mlp.fc1", "head"}, 2, 4, 3); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Sequential{mlp, vit} {
		x, labels := batch(5, 4, m.InputShape()...)
		for i := range labels {
			labels[i] %= 3
		}
		for _, a := range m.Adapters() {
			for i := range a.B.Data {
				a.B.Data[i] = 0.1 * float32(i%5-2)
			}
		}
		if names := m.MergeLoRA(); len(names) == 0 {
			t.Fatalf("%s: nothing merged", m.Name())
		}
		if len(m.Adapters()) != 0 {
			t.Fatalf("%s: adapters left after the merge", m.Name())
		}
		for _, p := range m.Params() {
			if p.Frozen || strings.Contains(p.Name, "lora_") {
				t.Errorf("%s: parameter %s after the merge (frozen %v)", m.Name(), p.Name, p.Frozen)
			}
		}
		plain, err := Build(m.Spec())
		if err != nil {
			t.Fatal(err)
		}
		if err := plain.LoadState(m.State()); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(mustForward(t, plain, x).Data)
		var ce SoftmaxCrossEntropy
		trainStep(t, m, &ce, x, labels)
		if got := mustForward(t, m, x).Data; !slices.Equal(got, want) {
			t.Errorf("%s: merged model computes %v, a plain one %v", m.Name(), got, want)
		}
		for _, p := range m.Trainable() {
			if !slices.ContainsFunc(p.Grad, func(g float32) bool { return g != 0 }) {
				t.Errorf("%s: %s got no gradient after the merge", m.Name(), p.Name)
			}
		}
	}
}

package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The running variance moves by momentum towards the batch's unbiased
// variance (PyTorch's rule): after one batch of [1, 2, 3, 6] it is
// 0.9·1 + 0.1·14/3, and after a second one 0.9 times that plus 0.1·14/3.
func TestBatchNormRunningVariance(t *testing.T) {
	b, _ := NewBatchNorm1D("bn", 1, 0, 0.1)
	b.Forward(&Tensor{Shape: []int{4, 1}, Data: []float32{1, 2, 3, 6}}, true)
	if want := 0.9 + 0.1*14.0/3; !(math.Abs(float64(b.RunningVar[0])-want) <= 1e-6) {
		t.Errorf("running var %v, want %v", b.RunningVar[0], want)
	}
	if want := 0.1 * 3.0; !(math.Abs(float64(b.RunningMean[0])-want) <= 1e-6) {
		t.Errorf("running mean %v, want %v", b.RunningMean[0], want)
	}
	// A second batch moves from the first one's value, not from 1.
	rv := float64(b.RunningVar[0])
	b.Forward(&Tensor{Shape: []int{4, 1}, Data: []float32{1, 2, 3, 6}}, true)
	if want := 0.9*rv + 0.1*14.0/3; !(math.Abs(float64(b.RunningVar[0])-want) <= 1e-6) {
		t.Errorf("second running var %v, want %v", b.RunningVar[0], want)
	}
	if want := 0.9*0.3 + 0.1*3; !(math.Abs(float64(b.RunningMean[0])-want) <= 1e-6) {
		t.Errorf("second running mean %v, want %v", b.RunningMean[0], want)
	}
}

// The patch embedding is initialised as timm's Conv2d projection: weight by
// kaiming_uniform_(a=√5) and bias uniform in ±1/√fanIn, fanIn = C·P·P.
func TestPatchEmbedInitMatchesConv(t *testing.T) {
	e, err := NewPatchEmbed("pe", 2, 3, 2, testRNG(7))
	if err != nil {
		t.Fatal(err)
	}
	ref := testRNG(7)
	wantKaiming(t, "weight", e.W.Data, 8, ref)
	wantKaiming(t, "bias", e.B.Data, 8, ref)
}

// A block built from a spec draws its drop-path masks from PCG(seed,
// splitmix64(pathStream+index)), index its position in the model.
func TestBlockDropPathStream(t *testing.T) {
	m, err := ViT([]int{1, 4, 4}, 2, ViTConfig{Patch: 2, Dim: 4, Heads: 1, Depth: 2, MLPRatio: 1, DropPath: 0.2}, WithSeed(6))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, l := range m.Layers() {
		b, ok := l.(*Block)
		if !ok {
			continue
		}
		seen++
		want, _ := rand.NewPCG(6, splitmix64(0x70617468+uint64(i))).MarshalBinary()
		if got, _ := b.RNGState(); !slices.Equal(got, want) {
			t.Errorf("%s: drop-path generator not seeded from its stream", b.name)
		}
	}
	if seen != 2 {
		t.Fatalf("%d blocks", seen)
	}
}

// Flatten gives [N, C·H·W]; a one-layer model's head is its first layer.
func TestFlattenShapeAndHeadAtZero(t *testing.T) {
	f := NewFlatten("flat")
	y := f.Forward(NewTensor(3, 2, 4, 5), false)
	if !slices.Equal(y.Shape, []int{3, 40}) {
		t.Errorf("flatten shape %v, want [3 40]", y.Shape)
	}
	m, err := MLP(4, []int{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Head(); h == nil || h.(Layer).Name() != "fc1" {
		t.Errorf("head of a one-layer model: %v", h)
	}
}

// Small but valid models build (an MLP of width 1, a CNN on 6×6 inputs, an
// MLP without dropout has no dropout layers), an empty batch is refused, and
// each dropout layer built from a spec draws from PCG(seed,
// splitmix64(dropoutStream+index)).
func TestSmallModelsAndDropoutStreams(t *testing.T) {
	if _, err := Build(MLPSpec(1, []int{1}, 1)); err != nil {
		t.Errorf("MLP 1-1-1: %v", err)
	}
	if _, err := CNNSpec([]int{1, 6, 6}, 2); err != nil {
		t.Errorf("CNN on 6x6: %v", err)
	}
	for _, l := range MLPSpec(4, []int{3}, 2).Layers {
		if l.Type == "dropout" {
			t.Error("an MLP without dropout has a dropout layer")
		}
	}
	m, err := MLP(4, []int{3, 3}, 2, WithDropout(0.5), WithSeed(8))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(&Tensor{Shape: []int{0, 4}}, true); err == nil {
		t.Error("an empty batch accepted")
	}
	seen := 0
	for i, l := range m.Layers() {
		d, ok := l.(*Dropout)
		if !ok {
			continue
		}
		seen++
		want, _ := rand.NewPCG(8, splitmix64(0x64726f70+uint64(i))).MarshalBinary()
		if got, _ := d.RNGState(); !slices.Equal(got, want) {
			t.Errorf("%s: dropout generator not seeded from its stream", d.Name())
		}
	}
	if seen != 2 {
		t.Errorf("%d dropout layers, want 2", seen)
	}
}

// A dense layer of no inputs or no outputs is refused by Build.
func TestBuildRefusesEmptyDense(t *testing.T) {
	for _, io := range [][2]int{{0, 2}, {4, 0}} {
		s := Spec{Name: "m", Input: []int{4}, Layers: []LayerSpec{{Type: "dense", Name: "fc1", In: io[0], Out: io[1]}}}
		if _, err := Build(s); err == nil {
			t.Errorf("dense %d→%d accepted", io[0], io[1])
		}
	}
}

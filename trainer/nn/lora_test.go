package nn

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// loraDense returns a LoRA layer on a 5→4 dense layer with rank 2, alpha 3
// and a non-zero B, so that every term of the backward pass matters.
func loraDense(t *testing.T, seed uint64) *LoRA {
	t.Helper()
	rng := testRNG(seed)
	l, err := NewLoRA(NewDense("fc", 5, 4, rng), 2, 3, rng)
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.B.Data {
		l.B.Data[i] = rng.Float32() - 0.5
	}
	return l
}

func TestLoRAGradients(t *testing.T) {
	l := loraDense(t, 11)
	if !l.base.W.Frozen || !l.base.B.Frozen || l.A.Frozen || l.B.Frozen {
		t.Fatal("NewLoRA must freeze the base and leave the adapter trainable")
	}
	// With the base unfrozen, every parameter's gradient is checked.
	l.base.W.Frozen, l.base.B.Frozen = false, false
	x := randTensor(testRNG(12), false, 3, 5)
	checkGradients(t, gradCase{layer: l, x: x, train: true})

	// Frozen base: the adapter and input gradients are the same, the base's
	// are not computed.
	y := l.Forward(x, true)
	dy := NewTensor(y.Shape...)
	for i := range dy.Data {
		dy.Data[i] = float32(i%7) - 3
	}
	want := [][]float32{slices.Clone(l.Backward(dy, true).Data), slices.Clone(l.A.Grad), slices.Clone(l.B.Grad)}
	l.base.W.Frozen, l.base.B.Frozen = true, true
	nan := float32(math.NaN())
	for _, p := range l.Params() {
		fill(p.Grad, nan)
	}
	l.Forward(x, true)
	got := [][]float32{slices.Clone(l.Backward(dy, true).Data), l.A.Grad, l.B.Grad}
	for i, name := range []string{"dx", "lora_A", "lora_B"} {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s differs with the base frozen", name)
		}
	}
	if !math.IsNaN(float64(l.base.W.Grad[0])) || !math.IsNaN(float64(l.base.B.Grad[0])) {
		t.Error("gradient computed for the frozen base")
	}
}

func TestLoRAFreshAdapterLeavesOutputUnchanged(t *testing.T) {
	rng := testRNG(13)
	d := NewDense("fc", 6, 3, rng)
	x := randTensor(rng, false, 4, 6)
	want := slices.Clone(d.Forward(x, false).Data)
	l, err := NewLoRA(d, 4, 8, rng)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Forward(x, false).Data; !slices.Equal(got, want) {
		t.Errorf("fresh adapter changed the output:\n%v\n%v", got, want)
	}
	nonzero := slices.ContainsFunc(l.A.Data, func(v float32) bool { return v != 0 })
	if !nonzero || slices.ContainsFunc(l.B.Data, func(v float32) bool { return v != 0 }) {
		t.Error("want A random and B zero at initialisation")
	}
	bound := 1 / math.Sqrt(6)
	for _, v := range l.A.Data {
		if math.Abs(float64(v)) > bound {
			t.Fatalf("A value %g outside the kaiming bound %g", v, bound)
		}
	}
}

func TestLoRAMergedMatchesAdapter(t *testing.T) {
	l := loraDense(t, 14)
	x := randTensor(testRNG(15), false, 6, 5)
	want := slices.Clone(l.Forward(x, false).Data)
	baseW := slices.Clone(l.base.W.Data)
	m := l.Merged()
	got := m.Forward(x, false).Data
	closeSlices(t, "merged output", got, want, 1e-5)
	if !slices.Equal(l.base.W.Data, baseW) {
		t.Error("Merged modified the adapted layer's base weight")
	}
	// W' = W + (alpha/r)·B·A, computed directly.
	for o := 0; o < 4; o++ {
		for i := 0; i < 5; i++ {
			w := float64(baseW[o*5+i])
			for k := 0; k < 2; k++ {
				w += 1.5 * float64(l.B.Data[o*2+k]) * float64(l.A.Data[k*5+i])
			}
			if math.Abs(w-float64(m.W.Data[o*5+i])) > 1e-6 {
				t.Fatalf("merged W[%d,%d] = %g, want %g", o, i, m.W.Data[o*5+i], w)
			}
		}
	}
	if m.W.Name != "fc.weight" || m.B.Name != "fc.bias" || m.W.Frozen {
		t.Errorf("merged parameters %s %s frozen=%v", m.W.Name, m.B.Name, m.W.Frozen)
	}
}

func closeSlices(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// adaptedMLP is a 20-16-8-10 MLP with rank-4 adapters on fc1 and fc2; the
// head fc3 trains in full, as fine-tuning sets it up.
func adaptedMLP(t *testing.T) *Sequential {
	t.Helper()
	m, err := MLP(20, []int{16, 8}, 10, WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(""); err != nil {
		t.Fatal(err)
	}
	if err := m.Unfreeze("fc3."); err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA([]string{"fc1", "fc2"}, 4, 8, 5); err != nil {
		t.Fatal(err)
	}
	return m
}

// sgd takes a plain gradient step on the trainable parameters.
func sgd(m *Sequential, lr float32) {
	for _, p := range m.Trainable() {
		for i, g := range p.Grad {
			p.Data[i] -= lr * g
		}
	}
}

func TestLoRATrainingLeavesBaseFixed(t *testing.T) {
	m := adaptedMLP(t)
	var names []string
	for _, p := range m.Trainable() {
		names = append(names, p.Name)
	}
	want := []string{"fc1.lora_A.weight", "fc1.lora_B.weight", "fc2.lora_A.weight", "fc2.lora_B.weight", "fc3.weight", "fc3.bias"}
	if !slices.Equal(names, want) {
		t.Fatalf("trainable %v, want %v", names, want)
	}
	before := map[string][]float32{}
	for _, p := range m.Params() {
		before[p.Name] = slices.Clone(p.Data)
	}
	x, labels := batch(16, 32, 20)
	for i := range labels { // a learnable task: the largest of the first 10 inputs
		row := x.Data[i*20 : i*20+10]
		labels[i] = slices.Index(row, slices.Max(row))
	}
	var ce SoftmaxCrossEntropy
	first := trainStep(t, m, &ce, x, labels)
	sgd(m, 0.1)
	var last float64
	for range 400 {
		last = trainStep(t, m, &ce, x, labels)
		sgd(m, 0.1)
	}
	if !(last < first*0.8) {
		t.Errorf("loss %g → %g: the adapters did not learn", first, last)
	}
	for _, p := range m.Params() {
		changed := !slices.Equal(before[p.Name], p.Data)
		if changed == p.Frozen {
			t.Errorf("%s: frozen=%v but changed=%v", p.Name, p.Frozen, changed)
		}
	}
}

func TestLoRAModelMergeSpecAndState(t *testing.T) {
	m := adaptedMLP(t)
	x, labels := batch(17, 8, 20)
	var ce SoftmaxCrossEntropy
	for range 5 { // move B away from zero
		trainStep(t, m, &ce, x, labels)
		sgd(m, 0.2)
	}

	// The spec round-trips through JSON and rebuilds the adapters.
	raw, err := json.Marshal(m.Spec())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"name":"fc1","in":20,"out":16,"lora_rank":4,"lora_alpha":8`) {
		t.Errorf("spec lacks the adapter: %s", raw)
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if got := s.Layers[0].LoRAParams(); !slices.Equal(got, []string{"fc1.lora_A.weight", "fc1.lora_B.weight"}) {
		t.Errorf("LoRAParams = %v", got)
	}
	if s.Layers[len(s.Layers)-1].LoRAParams() != nil {
		t.Error("the head has no adapter")
	}
	re, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := re.LoadState(m.State()); err != nil {
		t.Fatal(err)
	}
	if !re.Params()[0].Frozen || re.Params()[2].Frozen {
		t.Error("rebuilt adapter layer must freeze its base only")
	}
	want := slices.Clone(mustForward(t, m, x).Data)
	if got := mustForward(t, re, x).Data; !slices.Equal(got, want) {
		t.Error("rebuilt model computes something else")
	}

	merged := re.MergeLoRA()
	if !slices.Equal(merged, []string{"fc1", "fc2"}) {
		t.Errorf("merged %v", merged)
	}
	if len(re.Adapters()) != 0 {
		t.Error("adapters left after MergeLoRA")
	}
	y, err := re.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := m.Forward(x, false)
	closeSlices(t, "merged model output", y.Data, ref.Data, 1e-5)
	plain, _ := MLP(20, []int{16, 8}, 10, WithSeed(3))
	if err := plain.LoadState(re.State()); err != nil {
		t.Errorf("merged state does not load into the plain model: %v", err)
	}
	if strings.Contains(mustJSON(t, re.Spec()), "lora") {
		t.Error("merged spec still mentions LoRA")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoRAPlanMatchesLayerOrder: the ReLU fused into an adapted layer gives
// the same outputs and gradients as a separate ReLU.
func TestLoRAPlanMatchesLayerOrder(t *testing.T) {
	fused, plain := adaptedMLP(t), adaptedMLP(t)
	plain.noFuse = true
	plain.makePlan()
	if len(fused.plan) >= len(plain.plan) {
		t.Fatalf("nothing fused: %d vs %d steps", len(fused.plan), len(plain.plan))
	}
	for _, m := range []*Sequential{fused, plain} { // non-zero B on both
		for _, a := range m.Adapters() {
			fill(a.B.Data, 0.05)
		}
	}
	x, labels := batch(18, 6, 20)
	var ce1, ce2 SoftmaxCrossEntropy
	if l1, l2 := trainStep(t, fused, &ce1, x, labels), trainStep(t, plain, &ce2, x, labels); l1 != l2 {
		t.Errorf("loss %v vs %v", l1, l2)
	}
	for i, p := range fused.Trainable() {
		if !slices.Equal(p.Grad, plain.Trainable()[i].Grad) {
			t.Errorf("%s: gradients differ", p.Name)
		}
	}
}

func TestLoRAStepDoesNotAllocate(t *testing.T) {
	useNaiveProducts(t)
	m := adaptedMLP(t)
	x, labels := batch(19, 16, 20)
	var ce SoftmaxCrossEntropy
	trainStep(t, m, &ce, x, labels)
	if allocs := testing.AllocsPerRun(5, func() { trainStep(t, m, &ce, x, labels) }); allocs != 0 {
		t.Errorf("a training step allocates %v times", allocs)
	}
}

func TestLoRAErrorsAndHeadReplacement(t *testing.T) {
	m := smallCNN(t, 1)
	for _, tc := range []struct {
		layers []string
		rank   int
		alpha  float64
		want   string
	}{
		{[]string{"fc9"}, 4, 4, `no layer "fc9"`},
		{[]string{"conv1"}, 4, 4, "is conv2d, LoRA adapters go on dense layers"},
		{[]string{"fc1"}, 0, 4, "rank must be ≥ 1"},
		{[]string{"fc1"}, 4, -1, "alpha must be positive"},
		{nil, 4, 4, "no layers named"},
	} {
		if err := m.AddLoRA(tc.layers, tc.rank, tc.alpha, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddLoRA(%v, %d, %g) = %v, want mention of %q", tc.layers, tc.rank, tc.alpha, err, tc.want)
		}
	}
	if len(m.Adapters()) != 0 {
		t.Fatal("a failed AddLoRA left adapters behind")
	}
	if err := m.AddLoRA([]string{"fc1", "fc2"}, 2, 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA([]string{"fc1"}, 2, 2, 1); err == nil || !strings.Contains(err.Error(), "already has a LoRA adapter") {
		t.Errorf("second adapter: %v", err)
	}
	if err := m.ReplaceHead(3, 2); err != nil {
		t.Fatal(err)
	}
	if a := m.Adapters(); len(a) != 1 || a[0].Name() != "fc1" {
		t.Errorf("after replacing the adapted head, adapters %v", a)
	}
	if last := m.Layers()[len(m.Layers())-1]; last.Spec().LoRARank != 0 || last.Spec().Out != 3 {
		t.Errorf("head spec %+v", last.Spec())
	}

	bad := MLPSpec(4, []int{3}, 2)
	bad.Layers[0].LoRARank = -1
	if _, err := Build(bad); err == nil || !strings.Contains(err.Error(), "rank must be ≥ 1") {
		t.Errorf("Build with rank -1: %v", err)
	}
}

// BenchmarkLoRAStep times a training step of the MNIST CNN with a rank-8
// adapter on fc1 and the head trainable, the setting of the fine-tuning
// experiment; compare with BenchmarkCNNStep.
func BenchmarkLoRAStep(b *testing.B) {
	m, err := CNN([]int{1, 28, 28}, 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Freeze(""); err != nil {
		b.Fatal(err)
	}
	if err := m.Unfreeze("fc2."); err != nil {
		b.Fatal(err)
	}
	if err := m.AddLoRA([]string{"fc1"}, 8, 16, 1); err != nil {
		b.Fatal(err)
	}
	benchModel(b, m, 1, 28, 28)
}

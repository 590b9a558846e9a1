package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// int8Case is a small MLP on 3×3 images of 3 channels, with distinct means
// and standard deviations per channel, so a weight folded into the wrong
// place of the HWC image, or scaled by another channel's std, shows.
func int8Case(t *testing.T) (m *Sequential, mean, std []float64, in, hw, c int) {
	t.Helper()
	c, hw = 3, 9
	in = c * hw
	m, err := MLP(in, []int{24, 16}, 5, WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	return m, []float64{0.1, 0.5, 0.9}, []float64{0.3, 0.2, 0.7}, in, hw, c
}

// QuantizeInput folds the normalization into the first layer at the HWC
// position of each weight: dequantized, every weight is within half a
// quantization step of W[o][f]/(255·std[c]), the largest of each output
// maps to ±127, and the weights the model trains on are left alone.
func TestQuantizeInputFoldsTheNormalization(t *testing.T) {
	m, mean, std, in, hw, c := int8Case(t)
	fc1 := m.layers[0].(*Dense)
	before := append([]float32(nil), fc1.W.Data...)
	if err := m.SetPrecision(INT8); err != nil {
		t.Fatal(err)
	}
	drop, err := m.QuantizeInput(mean, std)
	if err != nil {
		t.Fatal(err)
	}
	q := fc1.q
	if q.N() != fc1.out || q.K() != in {
		t.Fatalf("quantized %d×%d, want %d×%d", q.N(), q.K(), fc1.out, in)
	}
	for o := range fc1.out {
		s := float64(q.Scale(o))
		peak := 0
		for k := range c {
			for i := range hw {
				want := float64(before[o*in+k*hw+i]) / (255 * std[k])
				p := i*c + k
				got := s * float64(q.Quantized(o, p))
				if math.Abs(got-want) > s/2*(1+1e-6) {
					t.Fatalf("output %d, channel %d, pixel %d (HWC %d): dequantized %g, folded weight %g, step %g", o, k, i, p, got, want, s)
				}
				peak = max(peak, int(math.Abs(float64(q.Quantized(o, p)))))
			}
		}
		if peak != 127 {
			t.Errorf("output %d: largest |q| %d, want 127", o, peak)
		}
	}
	for i, v := range fc1.W.Data {
		if v != before[i] {
			t.Fatalf("weight %d changed: %g → %g", i, before[i], v)
		}
	}
	// The later layers read a ReLU's output: their weights are quantized
	// as they are, for activations quantized per row.
	for _, l := range m.plan[1:] {
		d := l.(*Dense)
		if d.q != nil || d.qAct == nil {
			t.Fatalf("%s: raw-input weights %v, activation weights %v; want only the latter", d.name, d.q != nil, d.qAct != nil)
		}
		for o := range d.out {
			s := float64(d.qAct.Scale(o))
			for i := range d.in {
				if got, want := s*float64(d.qAct.Quantized(o, i)), float64(d.W.Data[o*d.in+i]); math.Abs(got-want) > s/2*(1+1e-6) {
					t.Fatalf("%s: output %d, input %d: dequantized %g, weight %g", d.name, o, i, got, want)
				}
			}
		}
	}
	if fc1.qAct != nil {
		t.Error("the first layer got activation weights")
	}
	drop()
	for _, l := range m.plan {
		if d := l.(*Dense); d.q != nil || d.qAct != nil {
			t.Errorf("drop kept %s's quantized weights", d.name)
		}
	}
	if _, err := m.ForwardU8(make([]uint8, in), 1); err == nil {
		t.Error("ForwardU8 after drop ran")
	}
}

// ForwardU8 on raw HWC bytes gives the logits Forward gives on the same
// images normalized and laid out CHW, up to the weights' quantization, and
// the same class for almost every image.
func TestForwardU8MatchesForwardOnNormalizedPixels(t *testing.T) {
	m, mean, std, in, hw, c := int8Case(t)
	const n = 200
	rng := rand.New(rand.NewPCG(1, 2))
	raw := make([]uint8, n*in)
	for i := range raw {
		raw[i] = uint8(rng.IntN(256))
	}
	x := NewTensor(n, in)
	for r := range n {
		for i := range hw {
			for k := range c {
				x.Data[r*in+k*hw+i] = float32((float64(raw[r*in+i*c+k])/255 - mean[k]) / std[k])
			}
		}
	}
	want, err := m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	want = want.Clone()
	if err := m.SetPrecision(INT8); err != nil {
		t.Fatal(err)
	}
	defer m.SetPrecision(FP32)
	drop, err := m.QuantizeInput(mean, std)
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	got, err := m.ForwardU8(raw, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != len(want.Data) {
		t.Fatalf("%d logits, want %d", len(got.Data), len(want.Data))
	}
	var span, worst float64
	for i := range want.Data {
		span = max(span, math.Abs(float64(want.Data[i])))
		worst = max(worst, math.Abs(float64(got.Data[i]-want.Data[i])))
	}
	if worst > 0.02*span || worst == 0 {
		t.Errorf("largest logit difference %g against logits up to %g: want a quantization error, at most 2%%", worst, span)
	}
	agree := 0
	for r := range n {
		if argmax(got.Data[r*5:(r+1)*5]) == argmax(want.Data[r*5:(r+1)*5]) {
			agree++
		}
	}
	if agree < n*97/100 {
		t.Errorf("int8 and fp32 agree on %d of %d images, want at least 97%%", agree, n)
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// int8 is refused where it cannot apply, with the reason.
func TestInt8Refusals(t *testing.T) {
	var p Precision
	if err := p.Set("int8"); err != nil || p != INT8 {
		t.Fatalf("Set(int8): %v, %q", err, p)
	}
	cnn, err := CNN([]int{1, 8, 8}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := cnn.SetPrecision(INT8); err == nil || !strings.Contains(err.Error(), "first layer is dense") {
		t.Errorf("int8 CNN: %v", err)
	}
	m, mean, std, in, _, _ := int8Case(t)
	if _, err := m.QuantizeInput(mean, std); err == nil || !strings.Contains(err.Error(), "needs precision int8") {
		t.Errorf("QuantizeInput in fp32: %v", err)
	}
	if _, err := m.ForwardU8(make([]uint8, in), 1); err == nil || !strings.Contains(err.Error(), "needs precision int8") {
		t.Errorf("ForwardU8 in fp32: %v", err)
	}
	if err := m.SetPrecision(INT8); err != nil {
		t.Fatal(err)
	}
	if m.Precision() != INT8 {
		t.Errorf("Precision() = %s after SetPrecision(int8)", m.Precision())
	}
	if _, err := m.ForwardU8(make([]uint8, in), 1); err == nil {
		t.Error("ForwardU8 before QuantizeInput ran")
	}
	for _, bad := range []struct {
		mean, std []float64
		want      string
	}{
		{mean[:2], std[:2], "not a whole number"},
		{mean, std[:1], "one of each per channel"},
		{nil, nil, "one of each per channel"},
		{mean, []float64{0.3, 0, 0.7}, "std > 0"},
		{[]float64{0.1, math.NaN(), 0.9}, std, "finite"},
	} {
		if _, err := m.QuantizeInput(bad.mean, bad.std); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("QuantizeInput(%v, %v): %v, want %q", bad.mean, bad.std, err, bad.want)
		}
	}
	drop, err := m.QuantizeInput(mean, std)
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	if _, err := m.ForwardU8(make([]uint8, in+1), 1); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("ForwardU8 with a short image: %v", err)
	}
	if _, err := m.ForwardU8(nil, 0); err == nil {
		t.Error("ForwardU8 of no images ran")
	}
	m.layers[0].(*Dense).W.Data[5] = float32(math.Inf(1))
	if _, err := m.QuantizeInput(mean, std); err == nil || !strings.Contains(err.Error(), "non-finite weight at output 0, input 5") {
		t.Errorf("QuantizeInput with an infinite weight: %v", err)
	}
}

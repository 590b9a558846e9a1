package nn

import (
	"math"
	"testing"
)

// A dense layer is initialised as torch.nn.Linear: weight by
// kaiming_uniform_(a=√5) and bias uniform in ±1/√in, both bound 1/√in,
// weight first, from the generator it is given.
func TestDenseInitMatchesLinear(t *testing.T) {
	for _, in := range []int{1, 5, 64} {
		d := NewDense("fc", in, 3, testRNG(uint64(in)))
		ref := testRNG(uint64(in))
		wantKaiming(t, "weight", d.W.Data, in, ref)
		wantKaiming(t, "bias", d.B.Data, in, ref)
	}
}

// ViT weights are drawn as timm's trunc_normal_(std=0.02): within ±2·std,
// with the standard deviation of a normal truncated at two sigmas
// (0.02·0.880 ≈ 0.0176), not bunched at the edges.
func TestTruncNormalInit(t *testing.T) {
	w := make([]float32, 20000)
	truncNormal(testRNG(5), w, 0.02)
	var sum, sq float64
	inner := 0
	for _, v := range w {
		if !(math.Abs(float64(v)) <= 0.04) {
			t.Fatalf("weight %v outside ±2·std", v)
		}
		if math.Abs(float64(v)) < 0.02 {
			inner++
		}
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(w))
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.0005 || math.Abs(std-0.0176) > 0.0005 {
		t.Errorf("mean %v, std %v; want 0 and 0.0176", mean, std)
	}
	// Within one sigma: 0.6827/0.9545 of a normal truncated at two.
	if frac := float64(inner) / n; math.Abs(frac-0.7153) > 0.01 {
		t.Errorf("%.4f within one sigma, want 0.7153", frac)
	}
}

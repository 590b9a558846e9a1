package kernels

import (
	"math"
	"testing"
)

// TestBF16RateRatio checks that the probe gives a usable ratio and measures
// once: its value is a timing, so only its sanity is tested here (what it
// decides is tested in cmd/trainer with given ratios).
func TestBF16RateRatio(t *testing.T) {
	r := BF16RateRatio()
	if !(r > 0) || math.IsInf(r, 0) {
		t.Fatalf("BF16RateRatio() = %v, want a positive finite ratio", r)
	}
	if again := BF16RateRatio(); again != r {
		t.Errorf("second BF16RateRatio() = %v, want the cached %v", again, r)
	}
	if m := measureBF16Rate(); !(m > 0) || math.IsInf(m, 0) {
		t.Errorf("measureBF16Rate() = %v, want a positive finite ratio", m)
	}
}

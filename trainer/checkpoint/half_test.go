package checkpoint

import (
	"math"
	"testing"
)

// halfToFloat32 against the definition of IEEE 754 binary16, for every one
// of the 65536 bit patterns: (−1)^s · 2^(e−15) · (1 + m/1024) for 0 < e < 31,
// (−1)^s · 2^−14 · m/1024 for e = 0 (zeros and subnormals, signed), infinities
// and NaNs (with their payload in the high mantissa bits) for e = 31.
func TestHalfToFloat32Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign, exp, mant := h>>15, (h>>10)&0x1f, h&0x3ff
		got := halfToFloat32(uint16(h))
		var want float64
		switch exp {
		case 0x1f:
			if mant == 0 {
				want = math.Inf(1)
			} else {
				if !math.IsNaN(float64(got)) || math.Float32bits(got)&0x7fffff != uint32(mant)<<13 {
					t.Fatalf("%#04x: %v (bits %#08x), want a NaN with payload %#x", h, got, math.Float32bits(got), mant)
				}
				if (math.Float32bits(got)>>31 == 1) != (sign == 1) {
					t.Fatalf("%#04x: NaN sign lost", h)
				}
				continue
			}
		case 0:
			want = math.Ldexp(float64(mant)/1024, -14)
		default:
			want = math.Ldexp(1+float64(mant)/1024, exp-15)
		}
		if sign == 1 {
			want = -want
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign == 1) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

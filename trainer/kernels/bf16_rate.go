package kernels

import (
	"math/rand/v2"
	"sync"
	"time"
)

// bf16RateN is the side of the square product BF16RateRatio times: 17 M
// multiply-adds, about 0.1 ms at an AVX-512 core's fp32 rate, large enough
// that packing is a small part of it, small enough to stay in L2.
const bf16RateN = 256

// BF16RateRatio is how fast the bf16 GEMM runs on this CPU against the fp32
// one: the ratio of their rates on a bf16RateN³ product on the calling
// goroutine, each the best of five runs, taken in turns. Above 1 bf16 is
// faster. It is measured once per process (a few milliseconds) and cached.
//
// It exists because VDPBF16PS does twice an FMA's arithmetic per
// instruction but does not run at the same rate everywhere: on AMD Zen 4
// the bf16 GEMM runs at 1.4× the fp32 one, on an Intel Xeon without AMX
// (family 6 model 207) at half of it, where bf16 products slow every model
// down. The feature flags do not tell them apart; a measurement does.
func BF16RateRatio() float64 { return bf16Rate() }

var bf16Rate = sync.OnceValue(measureBF16Rate)

func measureBF16Rate() float64 {
	const n = bf16RateN
	r := rand.New(rand.NewPCG(1, 2))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	timeOf := func(f func()) time.Duration {
		t0 := time.Now()
		f()
		return time.Since(t0)
	}
	fp32 := func() { SgemmSerial(false, false, n, n, n, 1, a, n, b, n, 0, c, n) }
	bf16 := func() { SgemmBF16Serial(false, false, n, n, n, 1, a, n, b, n, 0, c, n) }
	fp32() // warm the caches and the packing buffers
	bf16()
	t32, t16 := time.Duration(1<<62), time.Duration(1<<62)
	for range 5 {
		t32 = min(t32, timeOf(fp32))
		t16 = min(t16, timeOf(bf16))
	}
	return float64(max(t32, 1)) / float64(max(t16, 1))
}

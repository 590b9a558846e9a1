package kernels

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestAddScaledSumBitExact: every kernel set gives the bytes of the rounded
// expression y + float32(k*float32(a+b)) — what the elastic augmentation's
// pinned outputs rely on — including for values where a fused multiply-add
// would round differently, and never writes outside y.
func TestAddScaledSumBitExact(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(31, 32))
		for _, n := range vecLengths {
			a, _ := guarded(r, n)
			b, _ := guarded(r, n)
			y, ok := guarded(r, n)
			for i := range y {
				// Large y against a small product: the case FMA changes.
				y[i] *= 1 << 10
				if n > 2 && i == n/2 {
					y[i] = special[i%len(special)]
				}
			}
			want := make([]float32, n)
			const k = float32(0.0731)
			for i := range want {
				s := float32(a[i] + b[i])
				want[i] = y[i] + float32(k*s) // the conversions forbid fusing
			}
			AddScaledSum(y, a, b, k)
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(want[i]) && !(isNaN32(y[i]) && isNaN32(want[i])) {
					t.Fatalf("n=%d: y[%d] = %x, want %x", n, i, math.Float32bits(y[i]), math.Float32bits(want[i]))
				}
			}
			if !ok() {
				t.Fatalf("n=%d: write outside the slice", n)
			}
		}
	})
}

// An FMA would give y + k*(a+b) rounded once; this input tells the two apart.
func TestAddScaledSumIsNotFused(t *testing.T) {
	y := []float32{1}
	// k*a = 2^-24·(1+2^-36): rounded alone it is 2^-24, half an ulp of 1,
	// and 1 + 2^-24 ties to 1; fused, the 2^-36 breaks the tie upwards.
	a := []float32{1 + 0x1p-12}
	b := []float32{0}
	k := float32((1 - 0x1p-12 + 0x1p-24) * 0x1p-24)
	exact := new(big.Float).SetPrec(200).SetFloat64(float64(k))
	exact.Mul(exact, big.NewFloat(float64(a[0])))
	exact.Add(exact, big.NewFloat(float64(y[0])))
	fused, _ := exact.Float32() // one rounding, as an FMA does
	rounded := y[0] + float32(k*a[0])
	if fused == rounded {
		t.Fatalf("input does not separate fused from rounded (%g)", fused)
	}
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		for _, n := range []int{1, 8, 16, 64} { // tail, one vector, the unrolled loop
			ys, as, bs := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range ys {
				ys[i], as[i], bs[i] = y[0], a[0], b[0]
			}
			AddScaledSum(ys, as, bs, k)
			for i, v := range ys {
				if v != rounded {
					t.Fatalf("n=%d: y[%d] = %g, want the rounded %g (fused gives %g)", n, i, v, rounded, fused)
				}
			}
		}
	})
}

func TestAddScaledSumShortOperandPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for len(a) < len(y)")
		}
	}()
	AddScaledSum(make([]float32, 4), make([]float32, 3), make([]float32, 4), 1)
}

func isNaN32(v float32) bool { return v != v }

package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// bf16Layouts are one kernel set for each panel layout, the native one
// where this machine has it and the Go twin otherwise: the VDPBF16PS
// layout and the AMX one. (The twins' agreement with the native sets is
// bf16_test.go's and bf16_amx_test.go's business.)
func bf16Layouts() []*bf16Kernels {
	sets := []*bf16Kernels{bf16Go, amxTwinSets()[0]}
	if bf16Native != nil {
		sets[0] = bf16Native
	}
	if bf16AMX != nil {
		sets[1] = bf16AMX
	}
	return sets
}

// A product by a prepacked B gives SgemmBF16's bits with the same set, for
// every shape of the contract's cases (several depth and column blocks
// among them), both layouts of B and any thread count.
func TestSgemmBF16PackedMatchesSgemmBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, ks := range bf16Layouts() {
		for _, g := range bf16Cases() {
			a, b, c0, lda, ldb, ldc := bf16Operands(r, g)
			p := packBF16For(ks, g.tb, g.n, g.k, b, ldb)
			for _, threads := range []int{1, 3} {
				want := append([]float32(nil), c0...)
				sgemmBF16(ks, threads, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
				got := append([]float32(nil), c0...)
				sgemmBF16Packed(ks, threads, g.ta, g.m, g.alpha, a, lda, p, g.beta, got, ldc)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s threads=%d %+v: c[%d] = %g, want SgemmBF16's %g", ks.name, threads, g, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// Packed under one kernel set and multiplied under another, the product
// falls back to the other set's SgemmBF16 on the original B; and the packed
// copy does not follow later changes to B.
func TestSgemmBF16PackedAcrossSets(t *testing.T) {
	sets := bf16Layouts()
	r := rand.New(rand.NewPCG(23, 24))
	g := bf16Case{false, true, 40, 70, 600, 1, 0}
	a, b, c0, lda, ldb, ldc := bf16Operands(r, g)
	for i, from := range sets {
		to := sets[(i+1)%len(sets)]
		p := packBF16For(from, g.tb, g.n, g.k, b, ldb)
		want := append([]float32(nil), c0...)
		sgemmBF16(to, 2, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
		got := append([]float32(nil), c0...)
		sgemmBF16Packed(to, 2, g.ta, g.m, g.alpha, a, lda, p, g.beta, got, ldc)
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("packed with %s, run with %s: c[%d] = %g, want %g", from.name, to.name, j, got[j], want[j])
			}
		}
	}
	ks := sets[len(sets)-1]
	p := packBF16For(ks, g.tb, g.n, g.k, b, ldb)
	want := append([]float32(nil), c0...)
	sgemmBF16(ks, 1, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
	for i := range b {
		b[i] = 0
	}
	got := append([]float32(nil), c0...)
	sgemmBF16Packed(ks, 1, g.ta, g.m, g.alpha, a, lda, p, g.beta, got, ldc)
	for j := range got {
		if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
			t.Fatalf("%s: after B changed, c[%d] = %g, want the packed B's %g", ks.name, j, got[j], want[j])
		}
	}
}

// PackBF16 refuses a B too short for its shape, saying so.
func TestPackBF16RefusesShortB(t *testing.T) {
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "does not fit 99 values") {
			t.Fatalf("panic %q", msg)
		}
	}()
	PackBF16(true, 10, 10, make([]float32, 99), 10)
}

func BenchmarkSgemmBF16PackedMLP(b *testing.B) {
	// The MLP's first layer in an evaluation pass: 256 images × 784 inputs
	// × 512 outputs, weights [out, in].
	r := rand.New(rand.NewPCG(1, 2))
	x, w, y := make([]float32, 256*784), make([]float32, 512*784), make([]float32, 256*512)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	b.Run("repack", func(b *testing.B) {
		for b.Loop() {
			SgemmBF16(false, true, 256, 512, 784, 1, x, 784, w, 784, 0, y, 512)
		}
	})
	p := PackBF16(true, 512, 784, w, 784)
	b.Run("packed", func(b *testing.B) {
		for b.Loop() {
			SgemmBF16Packed(false, 256, 1, x, 784, p, 0, y, 512)
		}
	})
}

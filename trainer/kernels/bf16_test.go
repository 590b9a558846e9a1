package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // 1 + 2^-8: a tie, to even (down)
		{0x3f818000, 0x3f82}, // a tie, to even (up)
		{0x3f808001, 0x3f81}, // just above the tie
		{0x3f807fff, 0x3f80}, // just below it
		{0xbf818000, 0xbf82}, // negative ties round the same way
		{0x7f7fffff, 0x7f80}, // the largest float rounds to +Inf
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7f800001, 0x7fc0}, // signalling NaN: quieted, still NaN
		{0x7fffffff, 0x7fff}, // NaN with every payload bit: not carried into the sign
		{0x00000001, 0x0000}, // the smallest subnormal rounds to zero
		{0x80000000, 0x8000}, // -0
	} {
		if got := BF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("BF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

// naiveBF16 is the bf16 GEMM's contract written out element by element:
// op(A) and op(B) rounded to bf16, pairs of steps summed high step first,
// depth blocks of kcBF16 steps added to C in order, then alpha*acc + beta*C.
// As in BLAS, alpha == 0 (or k == 0) reads neither A nor B: C becomes
// beta*C, cleared to +0 for beta == 0 and left as is for beta == 1.
func naiveBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || k == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				switch beta {
				case 0:
					c[i*ldc+j] = 0
				case 1:
				default:
					c[i*ldc+j] *= beta
				}
			}
		}
		return
	}
	at := func(i, p int) uint16 {
		if p >= k {
			return 0
		}
		if transA {
			return BF16(a[p*lda+i])
		}
		return BF16(a[i*lda+p])
	}
	bt := func(p, j int) uint16 {
		if p >= k {
			return 0
		}
		if transB {
			return BF16(b[j*ldb+p])
		}
		return BF16(b[p*ldb+j])
	}
	kc := depthBlock(k, kcBF16)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			cv := c[i*ldc+j]
			for pc := 0; pc < k; pc += kc {
				pb := min(kc, k-pc)
				var acc float32
				for p := pc; p < pc+pb; p += 2 {
					acc = bf16Acc(acc, bf16Operand(at(i, p+1))*bf16Operand(bt(p+1, j)))
					acc = bf16Acc(acc, bf16Operand(at(i, p))*bf16Operand(bt(p, j)))
				}
				be := beta
				if pc > 0 {
					be = 1
				}
				v := alpha * acc
				if be != 0 {
					v = v + float32(be*cv)
				}
				cv = v
			}
			c[i*ldc+j] = cv
		}
	}
}

type bf16Case struct {
	ta, tb      bool
	m, n, k     int
	alpha, beta float32
}

func bf16Cases() []bf16Case {
	var cs []bf16Case
	for _, sh := range [][3]int{{1, 1, 1}, {12, 32, 8}, {13, 33, 7}, {5, 70, 17}, {64, 100, 288}, {30, 40, 1100}, {128, 10, 256}, {25, 600, 33}, {97, 65, 40}} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			cs = append(cs, bf16Case{tr[0], tr[1], sh[0], sh[1], sh[2], 1, 0})
		}
		cs = append(cs, bf16Case{false, false, sh[0], sh[1], sh[2], 0.5, 1}, bf16Case{true, false, sh[0], sh[1], sh[2], -1.25, 0.75})
	}
	return cs
}

func bf16Operands(r *rand.Rand, g bf16Case) (a, b, c []float32, lda, ldb, ldc int) {
	lda, ldb, ldc = g.k+3, g.n+1, g.n+2
	rowsA, rowsB := g.m, g.k
	if g.ta {
		lda, rowsA = g.m+1, g.k
	}
	if g.tb {
		ldb, rowsB = g.k+5, g.n
	}
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	return fill(rowsA * lda), fill(rowsB * ldb), fill(g.m * ldc), lda, ldb, ldc
}

// Every kernel set's bf16 GEMM, serial and parallel, gives the bits of the
// element-by-element contract; with AVX512_BF16 this checks VDPBF16PS's
// rounding against the Go twin's.
func TestSgemmBF16MatchesContract(t *testing.T) {
	defer SetImpl(Impl())
	defer setAMX(setAMX(false)) // the AMX set has its own bits: bf16_amx_test.go
	r := rand.New(rand.NewPCG(5, 6))
	for _, g := range bf16Cases() {
		a, b, c0, lda, ldb, ldc := bf16Operands(r, g)
		want := append([]float32(nil), c0...)
		naiveBF16(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
		for _, impl := range Impls() {
			if err := SetImpl(impl); err != nil {
				t.Fatal(err)
			}
			for _, par := range []bool{false, true} {
				got := append([]float32(nil), c0...)
				if par {
					SgemmBF16(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, got, ldc)
				} else {
					SgemmBF16Serial(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, got, ldc)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s (bf16 %s) parallel=%v %+v: c[%d] = %g (%#08x), want %g (%#08x)", impl, bf16Set().name, par, g,
							i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// The bf16 product is within bf16's rounding of the exact one: each operand
// is off by at most 2^-9 relative, so each product by about 2^-8.
func TestSgemmBF16Error(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, n, k := 40, 50, 300
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(r.NormFloat64())
	}
	c := make([]float32, m*n)
	SgemmBF16(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	var worst float64
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var exact, mag float64
			for p := 0; p < k; p++ {
				x := float64(a[i*k+p]) * float64(b[p*n+j])
				exact += x
				mag += math.Abs(x)
			}
			worst = max(worst, math.Abs(float64(c[i*n+j])-exact)/mag)
		}
	}
	if worst > 1.0/128 || worst == 0 {
		t.Fatalf("worst error relative to sum |a||b|: %g, want (0, 2^-7]", worst)
	}
	t.Logf("worst error relative to sum |a||b|: %.2e", worst)
}

func TestSgemmBF16NaN(t *testing.T) {
	a := []float32{float32(math.NaN()), 1}
	b := []float32{1, 1}
	c := []float32{0}
	SgemmBF16(false, false, 1, 1, 2, 1, a, 2, b, 1, 0, c, 1)
	if !math.IsNaN(float64(c[0])) {
		t.Fatalf("NaN operand gave %g", c[0])
	}
}

func BenchmarkSgemmBF16(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{64, 4608, 288}, {512, 512, 512}, {1024, 1024, 1024}} {
		for _, prec := range []string{"fp32", "bf16", "bf16-vdpbf16ps"} {
			if prec == "bf16-vdpbf16ps" && bf16AMX == nil {
				continue // "bf16" already is the VDPBF16PS set
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, prec), func(b *testing.B) {
				defer setAMX(setAMX(prec != "bf16-vdpbf16ps"))
				r := rand.New(rand.NewPCG(1, 1))
				a, bb, c := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
				for i := range a {
					a[i] = float32(r.NormFloat64())
				}
				for i := range bb {
					bb[i] = float32(r.NormFloat64())
				}
				f := SgemmSerial
				if prec != "fp32" {
					f = SgemmBF16Serial
				}
				b.ResetTimer()
				for range b.N {
					f(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
	_ = runtime.GOMAXPROCS
}

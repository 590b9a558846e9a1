package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// s8Sets lists the int8 implementations this machine runs: the Go twin and,
// where the CPU has AVX512_VNNI, the native one.
func s8Sets() []*s8Kernels {
	if s8Native != nil {
		return []*s8Kernels{s8Go, s8Native}
	}
	return []*s8Kernels{s8Go}
}

// s8Guard fills C's unused entries (columns past n in a row, rows past m):
// a NaN whose bits no kernel produces.
const s8Guard = 0x7fc0dead

// s8Case is one product's shape and padding.
type s8Case struct{ m, k, n, padA, padC int }

func (g s8Case) String() string {
	return fmt.Sprintf("m=%d k=%d n=%d lda=k+%d ldc=n+%d", g.m, g.k, g.n, g.padA, g.padC)
}

// s8Cases covers every row count of the edge kernels, every k tail, a
// partial, a whole and several panels, and strides past the row.
func s8Cases() []s8Case {
	var cs []s8Case
	ks := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 783, 784, 785}
	for m := 1; m <= 30; m++ {
		for i, k := range ks {
			for j, n := range []int{1, 31, 32, 33, 10} {
				cs = append(cs, s8Case{m, k, n, (m + i) % 3 * 5, (m + j) % 2 * 3})
			}
		}
	}
	for _, m := range []int{128, 257} {
		for _, k := range []int{1, 7, 784, 785} {
			for _, n := range []int{512, 33} {
				cs = append(cs, s8Case{m, k, n, 0, 0})
				if k > 700 && n == 33 {
					cs = append(cs, s8Case{m, k, n, 9, 5})
				}
			}
		}
	}
	return cs
}

// s8Operands returns random pixels (a row of 255s and one of 0s among them),
// weights with a few exact zeros and a zero row, a bias and a guarded C.
func s8Operands(r *rand.Rand, g s8Case) (a []uint8, lda int, p *PackedS8, c []float32, ldc int) {
	lda, ldc = g.k+g.padA, g.n+g.padC
	a = make([]uint8, (g.m-1)*lda+g.k) // exactly as long as the contract needs
	for i := range a {
		a[i] = uint8(r.IntN(256))
	}
	for t := 0; t < g.k; t++ {
		a[t] = 255
		if g.m > 2 {
			a[lda+t] = 0
		}
	}
	w := make([]float32, g.n*g.k)
	for i := range w {
		if r.IntN(10) > 0 {
			w[i] = float32(r.NormFloat64() * 0.05)
		}
	}
	if g.n > 3 {
		clear(w[2*g.k : 3*g.k])
	}
	bias := make([]float32, g.n)
	for j := range bias {
		bias[j] = float32(r.NormFloat64())
	}
	p = QuantizeS8(g.n, g.k, w, g.k, bias)
	c = make([]float32, (g.m+2)*ldc)
	for i := range c {
		c[i] = math.Float32frombits(s8Guard)
	}
	return a, lda, p, c, ldc
}

// s8Reference computes the contract in float64 from the exposed q, scale and
// the bias b: the integer sum is exact in float64, and each float64 result
// rounded to float32 is float32's correctly rounded multiply or add.
func s8Reference(m int, a []uint8, lda int, p *PackedS8, bias []float32) []float32 {
	return s8RowsReference(m, a, lda, nil, p, bias)
}

// checkS8 compares c (m×n, stride ldc) with want bit for bit and checks that
// every guard entry is untouched.
func checkS8(t *testing.T, what string, g s8Case, c []float32, ldc int, want []float32) {
	t.Helper()
	for i := 0; i < g.m+2; i++ {
		for j := 0; j < ldc; j++ {
			got := math.Float32bits(c[i*ldc+j])
			if i < g.m && j < g.n {
				if w := math.Float32bits(want[i*g.n+j]); got != w {
					t.Fatalf("%s %v: c[%d][%d] = %g (%#x), want %g (%#x)", what, g, i, j, c[i*ldc+j], got, want[i*g.n+j], w)
				}
			} else if got != s8Guard {
				t.Fatalf("%s %v: c[%d][%d] = %g outside the %d×%d product was written", what, g, i, j, c[i*ldc+j], g.m, g.n)
			}
		}
	}
}

// Every set, on one goroutine and split, matches the float64 reference of
// the exposed q and scale bit for bit, so the native kernels and the Go
// twin agree with each other bit for bit; nothing outside the m×n product
// is written.
func TestGemmU8S8MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, g := range s8Cases() {
		a, lda, p, c0, ldc := s8Operands(r, g)
		want := s8Reference(g.m, a, lda, p, p.bias[:g.n])
		var first []float32
		for _, ks := range s8Sets() {
			for _, threads := range []int{1, 3} {
				c := append([]float32(nil), c0...)
				gemmU8S8(ks, threads, g.m, a, lda, p, c, ldc)
				checkS8(t, fmt.Sprintf("%s threads=%d", ks.name, threads), g, c, ldc, want)
				if first == nil {
					first = c
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%s threads=%d %v: c[%d] = %g, the Go twin's is %g", ks.name, threads, g, i, c[i], first[i])
					}
				}
			}
		}
	}
}

// A failing comparison must be able to fail: a one-step change to one
// weight changes the product.
func TestGemmU8S8ReferenceDetectsChange(t *testing.T) {
	r := rand.New(rand.NewPCG(83, 84))
	g := s8Case{5, 9, 33, 0, 0}
	a, lda, p, c, ldc := s8Operands(r, g)
	want := s8Reference(g.m, a, lda, p, p.bias[:g.n])
	a[0] = 255
	p.b[0]++ // q[0][0]
	GemmU8S8(g.m, a, lda, p, c, ldc)
	if math.Float32bits(c[0]) == math.Float32bits(want[0]) {
		t.Fatalf("c[0][0] = %g unchanged after q[0][0] changed", c[0])
	}
}

// The result does not depend on GOMAXPROCS (the split changes, the bits do
// not), and GemmU8S8 splits the MLP's product when it has two threads.
func TestGemmU8S8Threads(t *testing.T) {
	r := rand.New(rand.NewPCG(85, 86))
	for _, g := range []s8Case{{128, 784, 512, 0, 0}, {257, 785, 33, 3, 1}, {1000, 100, 70, 0, 0}} {
		a, lda, p, c0, ldc := s8Operands(r, g)
		sameOnOneAndTwoProcs(t, fmt.Sprint(g), c0, g.m == 128, func(c []float32) { GemmU8S8(g.m, a, lda, p, c, ldc) })
	}
}

// sameOnOneAndTwoProcs runs gemm on copies of c0 with GOMAXPROCS 1 and 2:
// the bits must agree, one thread must not split the job, and two must
// when wantSplit.
func sameOnOneAndTwoProcs(t *testing.T, name string, c0 []float32, wantSplit bool, gemm func(c []float32)) {
	t.Helper()
	var outs [][]float32
	for _, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		c := append([]float32(nil), c0...)
		h := Handoffs()
		gemm(c)
		split := Handoffs() != h
		runtime.GOMAXPROCS(prev)
		if procs == 1 && split {
			t.Errorf("%s: split with GOMAXPROCS=1", name)
		}
		if procs == 2 && wantSplit && !split {
			t.Errorf("%s: not split with GOMAXPROCS=2", name)
		}
		outs = append(outs, c)
	}
	for i := range outs[0] {
		if math.Float32bits(outs[0][i]) != math.Float32bits(outs[1][i]) {
			t.Fatalf("%s: c[%d] = %g with GOMAXPROCS=1, %g with 2", name, i, outs[0][i], outs[1][i])
		}
	}
}

// The quantized product approximates the float one: the error of each
// output is at most Σ_t a[t]*|w[j][t]-q[j][t]*scale[j]| plus float32
// rounding, and the rounding error of each q is at most half a step.
func TestGemmU8S8Approximates(t *testing.T) {
	r := rand.New(rand.NewPCG(87, 88))
	m, k, n := 7, 784, 40
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(r.IntN(256))
	}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.01)
	}
	p := QuantizeS8(n, k, w, k, nil)
	c := make([]float32, m*n)
	GemmU8S8(m, a, k, p, c, n)
	for j := 0; j < n; j++ {
		s := float64(p.Scale(j))
		for tt := 0; tt < k; tt++ {
			if d := math.Abs(float64(w[j*k+tt]) - float64(p.Quantized(j, tt))*s); d > s/2*(1+1e-6) {
				t.Fatalf("w[%d][%d] = %g quantized to %d*%g, off by %g > half a step", j, tt, w[j*k+tt], p.Quantized(j, tt), s, d)
			}
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var exact, bound float64
			s := float64(p.Scale(j))
			for tt := 0; tt < k; tt++ {
				x := float64(a[i*k+tt])
				exact += x * float64(w[j*k+tt])
				bound += x * math.Abs(float64(w[j*k+tt])-float64(p.Quantized(j, tt))*s)
			}
			bound += math.Abs(exact)*1e-6 + 1e-6
			if d := math.Abs(float64(c[i*n+j]) - exact); d > bound {
				t.Fatalf("c[%d][%d] = %g, float product %g: off by %g > %g", i, j, c[i*n+j], exact, d, bound)
			}
		}
	}
}

// Quantization: |q| <= 127, a row's largest magnitude maps to ±127, a zero
// row gets scale 1 and q 0, ties round to even, the stride is honored and
// the bias is kept (nil giving zeros).
func TestQuantizeS8(t *testing.T) {
	const n, k, ldw = 4, 9, 11
	w := make([]float32, (n-1)*ldw+k)
	for i := range w {
		w[i] = 1e30 // only the padding between rows: must be ignored
	}
	rows := [n][k]float32{
		{0.5, -3, 1.25, 2, -0.01, 0, 0.75, 3, -2.9},
		{127, 2.5, 3.5, -2.5, -3.5, 0.5, 1.5, -0.5, -126.5}, // scale 1: ties
		{0, 0, 0, 0, 0, 0, 0, 0, 0},
		{-1e-3, 5e-4, 1e-4, 0, 2e-4, -5e-4, 1e-5, 3e-4, 9e-4},
	}
	for j := range rows {
		copy(w[j*ldw:], rows[j][:])
	}
	p := QuantizeS8(n, k, w, ldw, nil)
	if p.N() != n || p.K() != k {
		t.Fatalf("N, K = %d, %d, want %d, %d", p.N(), p.K(), n, k)
	}
	for j := range rows {
		var m float32
		for _, v := range rows[j] {
			m = max(m, float32(math.Abs(float64(v))))
		}
		want := m / 127
		if m == 0 {
			want = 1
		}
		if p.Scale(j) != want {
			t.Errorf("Scale(%d) = %g, want %g", j, p.Scale(j), want)
		}
		sawMax := m == 0
		for tt, v := range rows[j] {
			q := p.Quantized(j, tt)
			if q < -127 || q > 127 {
				t.Errorf("q[%d][%d] = %d outside [-127, 127]", j, tt, q)
			}
			if m > 0 && float32(math.Abs(float64(v))) == m {
				sawMax = true
				if want := int8(127 * math.Copysign(1, float64(v))); q != want {
					t.Errorf("q[%d][%d] = %d for the row's largest magnitude %g, want %d", j, tt, q, v, want)
				}
			}
			if m == 0 && q != 0 {
				t.Errorf("zero row: q[%d][%d] = %d", j, tt, q)
			}
		}
		if !sawMax {
			t.Errorf("row %d: largest magnitude not found", j)
		}
	}
	ties := []int8{127, 2, 4, -2, -4, 0, 2, 0, -126}
	for tt, want := range ties {
		if q := p.Quantized(1, tt); q != want {
			t.Errorf("q[1][%d] = %d for %g, want %d (round half to even)", tt, q, rows[1][tt], want)
		}
	}
	if got := p.Quantized(0, 1); got != -127 {
		t.Errorf("q[0][1] = %d, want -127", got)
	}
	a := make([]uint8, k)
	c := make([]float32, n)
	GemmU8S8(1, a, k, p, c, n)
	for j, v := range c {
		if v != 0 {
			t.Errorf("nil bias: c[%d] = %g for zero pixels, want 0", j, v)
		}
	}
	bias := []float32{1, -2, 3, 0.5}
	GemmU8S8(1, a, k, QuantizeS8(n, k, w, ldw, bias), c, n)
	for j, v := range c {
		if v != bias[j] {
			t.Errorf("c[%d] = %g for zero pixels, want the bias %g", j, v, bias[j])
		}
	}
}

// At k = MaxS8Depth, all pixels 255 and all weights ±127 give the largest
// sums, which must come through without overflow; one step deeper is refused.
func TestGemmU8S8MaxDepth(t *testing.T) {
	if 255*127*MaxS8Depth >= 1<<31 || 255*127*(MaxS8Depth+1) < 1<<31 {
		t.Fatalf("MaxS8Depth = %d is not the largest k with 255*127*k < 2^31", MaxS8Depth)
	}
	k := MaxS8Depth
	w := make([]float32, 2*k)
	for i := range w[:k] {
		w[i] = 1
		w[k+i] = -1
	}
	a := make([]uint8, k)
	for i := range a {
		a[i] = 255
	}
	p := QuantizeS8(2, k, w, k, nil)
	for _, ks := range s8Sets() {
		c := make([]float32, 2)
		gemmU8S8(ks, 1, 1, a, k, p, c, 2)
		want := float32(255*127*k) * (1.0 / 127)
		if c[0] != want || c[1] != -want {
			t.Errorf("%s: c = %v, want ±%g", ks.name, c, want)
		}
	}
	expectPanic(t, "MaxS8Depth", func() { QuantizeS8(1, k+1, make([]float32, k+1), k+1, nil) })
}

// expectPanic runs f and checks it panics with a message containing want.
func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want one mentioning %q", want)
			return
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Errorf("panic %q does not mention %q", msg, want)
		}
	}()
	f()
}

// Bad sizes and non-finite weights are refused with messages that say what
// is wrong.
func TestS8Panics(t *testing.T) {
	w := make([]float32, 12)
	expectPanic(t, "negative size", func() { QuantizeS8(-1, 3, w, 3, nil) })
	expectPanic(t, "ldw=2 < k=3", func() { QuantizeS8(4, 3, w, 2, nil) })
	expectPanic(t, "len(w)=12 < 15", func() { QuantizeS8(5, 3, w, 3, nil) })
	expectPanic(t, "len(bias)=2, want n=4", func() { QuantizeS8(4, 3, w, 3, make([]float32, 2)) })
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		v := append([]float32(nil), w...)
		v[7] = bad
		expectPanic(t, "non-finite weight w[2][1]", func() { QuantizeS8(4, 3, v, 3, nil) })
	}
	p := QuantizeS8(4, 3, w, 3, nil)
	a, c := make([]uint8, 9), make([]float32, 12)
	expectPanic(t, "does not fit len(a)=9", func() { GemmU8S8(4, a, 3, p, c, 4) })
	expectPanic(t, "does not fit len(a)=9", func() { GemmU8S8(2, a, 2, p, c, 4) })
	expectPanic(t, "does not fit len(c)=12", func() { GemmU8S8(3, a, 3, p, c, 5) })
	expectPanic(t, "negative m", func() { GemmU8S8(-1, a, 3, p, c, 4) })
	expectPanic(t, "nil PackedS8", func() { GemmU8S8(1, a, 3, nil, c, 4) })
	expectPanic(t, "out of range", func() { p.Quantized(4, 0) })
	expectPanic(t, "out of range", func() { p.Quantized(0, 3) })
	expectPanic(t, "out of range", func() { p.Scale(-1) })
	// Empty products are fine and write nothing.
	GemmU8S8(0, nil, 3, p, nil, 4)
	GemmU8S8(2, nil, 1, QuantizeS8(0, 0, nil, 1, nil), nil, 1)
	c2 := []float32{7, 7}
	GemmU8S8(2, nil, 1, QuantizeS8(1, 0, nil, 1, []float32{0.25}), c2, 1)
	if c2[0] != 0.25 || c2[1] != 0.25 {
		t.Errorf("k=0: c = %v, want the bias", c2)
	}
}

// The kernel set caps the int8 implementation as it caps bf16's: anything
// below avx512 runs the Go twin.
func TestS8ImplFollowsKernelSet(t *testing.T) {
	prev := Impl()
	defer SetImpl(prev)
	for _, name := range Impls() {
		if err := SetImpl(name); err != nil {
			t.Fatal(err)
		}
		want := "go"
		if name == "avx512" && s8Native != nil {
			want = "avx512vnni"
		}
		if got := S8Impl(); got != want {
			t.Errorf("with %s: S8Impl() = %q, want %q", name, got, want)
		}
	}
}

// QuantizeS8's fast rounding is math.RoundToEven of the float32 quotient,
// for ordinary rows, rows with exact ties, and a row so small that its scale
// underflows to the smallest subnormal.
func TestQuantizeS8RoundsLikeRoundToEven(t *testing.T) {
	tiny := math.SmallestNonzeroFloat32
	rows := [][]float32{
		{1, -0.5, 0.25, 127.0 / 254, -1.5 / 127, 2.5 / 127, 0, -1},
		{3e-44, -1.4e-45, 7e-45, 0, 2.8e-45, -3e-44, 1e-45, 4.2e-45},
		{float32(60 * tiny), float32(-13 * tiny), float32(tiny), 0, float32(2 * tiny), float32(-60 * tiny), float32(59 * tiny), float32(30 * tiny)},
	}
	for i, row := range rows {
		p := QuantizeS8(1, len(row), row, len(row), nil)
		s := p.Scale(0)
		var m float32
		for _, v := range row {
			m = max(m, float32(math.Abs(float64(v))))
		}
		if want := m / 127; want != 0 && s != want || want == 0 && s != float32(tiny) {
			t.Errorf("row %d: scale %g, want %g (or the smallest subnormal)", i, s, m/127)
		}
		for k, v := range row {
			want := max(-127, min(127, math.RoundToEven(float64(v/s))))
			if got := p.Quantized(0, k); float64(got) != want {
				t.Errorf("row %d, weight %d (%g): q %d, want %v", i, k, v, got, want)
			}
		}
	}
}

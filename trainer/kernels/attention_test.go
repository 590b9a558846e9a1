package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fmaRef is a·b + c rounded once to float32, from an exact big.Float sum.
func fmaRef(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(200).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// TestFma32 checks the Go twin's fused multiply-add against exact
// arithmetic, on random triples and on triples built so that a·b + c lies
// next to the midpoint of two float32s, where rounding through float64 in
// one step would round twice.
func TestFma32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	naive := 0
	check := func(a, b, c float32) {
		t.Helper()
		want := fmaRef(a, b, c)
		if got := fma32(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%#x), want %g (%#x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
		if float32(float64(a)*float64(b)+float64(c)) != want {
			naive++
		}
	}
	for i := 0; i < 200000; i++ {
		a := float32(r.NormFloat64() * math.Exp2(float64(r.IntN(20)-10)))
		b := float32(r.NormFloat64() * math.Exp2(float64(r.IntN(20)-10)))
		c := float32(r.NormFloat64() * math.Exp2(float64(r.IntN(40)-20)))
		check(a, b, c)
		// c a float32 midpoint away from -a·b's neighbour plus a tiny
		// remainder: the exact sum is a hair off a float32 midpoint.
		p := float32(a * b)
		ulp := math.Float32frombits(math.Float32bits(p)+1) - p
		check(a, b, -p+ulp/2)
		check(1+ulp, 1+float32(r.IntN(8))*ulp, float32(r.IntN(3)-1)*ulp/2)
		// a·b = ±2⁻²⁴·(1 − e²) next to c in [1, 2): the float64 sum is
		// exactly c ± half a float32 ulp, the exact one a hair inside.
		e := math.Exp2(-float64(15 + r.IntN(9)))
		sa, sb := float32(1+e), float32(1-e)
		if r.IntN(2) == 0 {
			sb = -sb
		}
		cm := math.Float32frombits(math.Float32bits(1) + uint32(r.IntN(1<<23)))
		check(sa*float32(math.Exp2(-12)), sb*float32(math.Exp2(-12)), cm)
	}
	for _, v := range [][3]float32{{0, 0, 0}, {-1, 0, 0}, {1, -0.0, float32(math.Copysign(0, -1))},
		{float32(math.Inf(1)), 1, 1}, {1, 1, float32(math.Inf(-1))}, {1e-30, 1e-30, 1e-45}, {3e38, 2, -3e38}} {
		want := fmaRef(v[0], v[1], v[2])
		if math.IsInf(float64(v[0]), 0) || math.IsInf(float64(v[2]), 0) {
			want = float32(float64(v[0])*float64(v[1]) + float64(v[2]))
		}
		if got := fma32(v[0], v[1], v[2]); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", v[0], v[1], v[2], got, want)
		}
	}
	// The midpoint cases must exercise the round-to-odd step.
	if naive == 0 {
		t.Fatal("no case where rounding through float64 alone differs: the test lost its hard cases")
	}
	t.Logf("rounding through float64 alone is wrong in %d cases", naive)
}

// smallCase is one SgemmSmall call with NaN in the padding of A and B and a
// sentinel in C's padding and initial contents.
type smallCase struct {
	transA        bool
	m, n, k       int
	lda, ldb, ldc int
	alpha         float32
	a, b, c       []float32
}

func newSmallCase(r *rand.Rand, transA bool, m, n, k int, alpha float32) *smallCase {
	g := &smallCase{transA: transA, m: m, n: n, k: k, alpha: alpha}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	g.lda, g.ldb, g.ldc = ac+r.IntN(5), n+r.IntN(5), n+r.IntN(5)
	g.a = fill(r, ar, ac, g.lda, float32(math.NaN()))
	g.b = fill(r, k, n, g.ldb, float32(math.NaN()))
	g.c = make([]float32, max(m, 1)*g.ldc+17)
	for i := range g.c {
		g.c[i] = sentinel
	}
	return g
}

func (g *smallCase) opA(i, p int) float32 {
	if g.transA {
		return g.a[p*g.lda+i]
	}
	return g.a[i*g.lda+p]
}

func (g *smallCase) run() []float32 {
	c := append([]float32(nil), g.c...)
	SgemmSmall(g.transA, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, c, g.ldc)
	return c
}

// check compares c with a float64 product and the untouched padding with
// the sentinel.
func (g *smallCase) check(t *testing.T, c []float32) {
	t.Helper()
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.ldc; j++ {
			got := c[i*g.ldc+j]
			if j >= g.n {
				if got != sentinel {
					t.Fatalf("%v: C[%d][%d] padding overwritten: %g", g, i, j, got)
				}
				continue
			}
			var want, mag float64
			for p := 0; p < g.k; p++ {
				v := float64(g.opA(i, p)) * float64(g.b[p*g.ldb+j])
				want += v
				mag += math.Abs(v)
			}
			want *= float64(g.alpha)
			mag *= math.Abs(float64(g.alpha))
			if math.IsNaN(float64(got)) || math.Abs(float64(got)-want) > 1e-5*mag+1e-30 {
				t.Fatalf("%v: C[%d][%d] = %g, want %g", g, i, j, got, want)
			}
		}
	}
	for i := g.m * g.ldc; i < len(c); i++ {
		if c[i] != sentinel {
			t.Fatalf("%v: C[%d] past the matrix overwritten: %g", g, i, c[i])
		}
	}
}

func (g *smallCase) String() string {
	return fmt.Sprintf("transA=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", g.transA, g.m, g.n, g.k, g.lda, g.ldb, g.ldc)
}

// smallShapes are the table cases (every tile height and vector count
// of both assembly sets, with tails) and a spread of random ones.
func smallShapes(r *rand.Rand) [][3]int {
	var s [][3]int
	for _, m := range []int{1, 2, 3, 5, 6, 7, 11, 12, 13, 25, 50} {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 50, 63, 64, 65, 100} {
			s = append(s, [3]int{m, n, 1 + (m*7+n)%23})
		}
	}
	s = append(s, [3]int{50, 50, 16}, [3]int{50, 16, 50}, [3]int{197, 197, 64}, [3]int{197, 64, 197}, [3]int{3, 4, 0})
	for i := 0; i < 60; i++ {
		s = append(s, [3]int{1 + r.IntN(200), 1 + r.IntN(200), 1 + r.IntN(70)})
	}
	return s
}

func TestSgemmSmallAgainstReference(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, s := range smallShapes(r) {
			for _, transA := range []bool{false, true} {
				g := newSmallCase(r, transA, s[0], s[1], s[2], float32(0.25+r.Float64()))
				g.check(t, g.run())
			}
		}
	})
}

// TestSgemmSmallBitwiseAcrossSets: every kernel set gives the Go twin's
// bits, whatever tiles the shape falls into.
func TestSgemmSmallBitwiseAcrossSets(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shapes := smallShapes(r)
	cases := make([]*smallCase, 0, 2*len(shapes))
	for _, s := range shapes {
		for _, transA := range []bool{false, true} {
			cases = append(cases, newSmallCase(r, transA, s[0], s[1], s[2], float32(r.Float64()+0.1)))
		}
	}
	want := make([][]float32, len(cases))
	prev := Impl()
	defer SetImpl(prev)
	if err := SetImpl("go"); err != nil {
		t.Fatal(err)
	}
	for i, g := range cases {
		want[i] = g.run()
	}
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		for i, g := range cases {
			got := g.run()
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[i][j]) {
					t.Fatalf("%v: C[%d] = %g, go set %g", g, j, got[j], want[i][j])
				}
			}
		}
	})
}

// headCase is one head's operands inside a fused [t, 3·ld] qkv-like buffer.
type headCase struct {
	t, hd, ld, ldo int
	scale          float32
	qkv, do        []float32
}

func newHeadCase(r *rand.Rand, t, hd int) *headCase {
	h := &headCase{t: t, hd: hd, ld: 3*hd + r.IntN(3)*hd + r.IntN(2), ldo: hd + r.IntN(9),
		scale: float32(1 / math.Sqrt(float64(hd)))}
	h.qkv = randSlice(r, t*h.ld)
	h.do = randSlice(r, t*h.ldo)
	for i := range h.qkv {
		h.qkv[i] *= 2 // logits of a few units, as after training
	}
	return h
}

func (h *headCase) q() []float32 { return h.qkv }
func (h *headCase) k() []float32 { return h.qkv[h.hd:] }
func (h *headCase) v() []float32 { return h.qkv[2*h.hd:] }

type headOut struct{ p, o, dq, dk, dv, dp []float32 }

func (h *headCase) alloc() headOut {
	t := h.t
	return headOut{p: make([]float32, t*t), o: make([]float32, t*h.ldo), dp: make([]float32, t*t),
		dq: make([]float32, t*h.ld), dk: make([]float32, t*h.ld), dv: make([]float32, t*h.ld)}
}

func (h *headCase) fused() headOut {
	out := h.alloc()
	h.fusedInto(out, make([]float32, AttentionScratch(h.t, h.hd)))
	return out
}

func (h *headCase) fusedInto(out headOut, scratch []float32) {
	t, hd := h.t, h.hd
	AttentionHeadForward(t, hd, h.scale, h.q(), h.k(), h.v(), h.ld, out.p, out.o, h.ldo, scratch)
	AttentionHeadBackward(t, hd, h.scale, h.q(), h.k(), h.v(), h.ld, out.p, h.do, h.ldo,
		out.dq, out.dk, out.dv, h.ld, out.dp, scratch)
}

// unfused runs the same head through the packed Sgemm, as the attention
// layer did before the fused kernels.
func (h *headCase) unfused() headOut {
	out := h.alloc()
	h.unfusedInto(out)
	return out
}

func (h *headCase) unfusedInto(out headOut) {
	t, hd, ld, ldo := h.t, h.hd, h.ld, h.ldo
	SgemmSerial(false, true, t, t, hd, h.scale, h.q(), ld, h.k(), ld, 0, out.p, t)
	SoftmaxRows(out.p, t, t)
	SgemmSerial(false, false, t, hd, t, 1, out.p, t, h.v(), ld, 0, out.o, ldo)
	SgemmSerial(true, false, t, hd, t, 1, out.p, t, h.do, ldo, 0, out.dv, ld)
	SgemmSerial(false, true, t, t, hd, 1, h.do, ldo, h.v(), ld, 0, out.dp, t)
	SoftmaxRowsGrad(out.dp, out.p, t, t)
	SgemmSerial(false, false, t, hd, t, h.scale, out.dp, t, h.k(), ld, 0, out.dq, ld)
	SgemmSerial(true, false, t, hd, t, h.scale, out.dp, t, h.q(), ld, 0, out.dk, ld)
}

func headShapes(r *rand.Rand) [][2]int {
	var s [][2]int
	for _, hd := range []int{8, 16, 32, 64} {
		for _, t := range []int{1, 2, 7, 8, 9, 17, 50, 65} {
			s = append(s, [2]int{t, hd})
		}
	}
	s = append(s, [2]int{197, 64}, [2]int{200, 16}, [2]int{50, 5}, [2]int{33, 12}, [2]int{10, 1})
	for i := 0; i < 8; i++ {
		s = append(s, [2]int{1 + r.IntN(200), 1 + r.IntN(64)})
	}
	return s
}

// TestAttentionHeadMatchesUnfused compares the fused head, forward and
// backward, with the same head through Sgemm, in every kernel set.
func TestAttentionHeadMatchesUnfused(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, s := range headShapes(r) {
			h := newHeadCase(r, s[0], s[1])
			got, want := h.fused(), h.unfused()
			cmp := func(name string, g, w []float32, rows, cols, ld int) {
				t.Helper()
				var scale float64
				for _, v := range w {
					scale = max(scale, math.Abs(float64(v)))
				}
				for i := 0; i < rows; i++ {
					for j := 0; j < cols; j++ {
						a, b := g[i*ld+j], w[i*ld+j]
						if math.IsNaN(float64(a)) || math.Abs(float64(a-b)) > 1e-4*scale+1e-6 {
							t.Fatalf("t=%d hd=%d: %s[%d][%d] = %g, unfused %g", h.t, h.hd, name, i, j, a, b)
						}
					}
				}
			}
			cmp("P", got.p, want.p, h.t, h.t, h.t)
			cmp("O", got.o, want.o, h.t, h.hd, h.ldo)
			cmp("dQ", got.dq, want.dq, h.t, h.hd, h.ld)
			cmp("dK", got.dk, want.dk, h.t, h.hd, h.ld)
			cmp("dV", got.dv, want.dv, h.t, h.hd, h.ld)
			cmp("dS", got.dp, want.dp, h.t, h.t, h.t)
			for i := 0; i < h.t; i++ {
				var s float64
				for _, v := range got.p[i*h.t : (i+1)*h.t] {
					s += float64(v)
				}
				if math.Abs(s-1) > 1e-5 {
					t.Fatalf("t=%d hd=%d: row %d of P sums to %g", h.t, h.hd, i, s)
				}
			}
		}
	})
}

// TestAttentionHeadBitwiseAcrossSets: the fused head gives the same bits
// in every kernel set.
func TestAttentionHeadBitwiseAcrossSets(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := headShapes(r)
	cases := make([]*headCase, len(shapes))
	for i, s := range shapes {
		cases[i] = newHeadCase(r, s[0], s[1])
	}
	prev := Impl()
	defer SetImpl(prev)
	if err := SetImpl("go"); err != nil {
		t.Fatal(err)
	}
	want := make([]headOut, len(cases))
	for i, h := range cases {
		want[i] = h.fused()
	}
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		for i, h := range cases {
			got := h.fused()
			for _, pair := range [][2][]float32{{got.p, want[i].p}, {got.o, want[i].o}, {got.dq, want[i].dq},
				{got.dk, want[i].dk}, {got.dv, want[i].dv}, {got.dp, want[i].dp}} {
				for j := range pair[0] {
					if math.Float32bits(pair[0][j]) != math.Float32bits(pair[1][j]) {
						t.Fatalf("t=%d hd=%d: element %d = %g, go set %g", h.t, h.hd, j, pair[0][j], pair[1][j])
					}
				}
			}
		}
	})
}

func TestAttentionHeadPanicsOnShortSlices(t *testing.T) {
	q := make([]float32, 10*48)
	for _, f := range []func(){
		func() {
			AttentionHeadForward(10, 16, 1, q, q[16:], q[32:], 48, make([]float32, 99), make([]float32, 160), 16, make([]float32, 160))
		},
		func() {
			AttentionHeadForward(10, 16, 1, q, q[16:], q[32:], 48, make([]float32, 100), make([]float32, 160), 16, make([]float32, 159))
		},
		func() {
			AttentionHeadBackward(10, 16, 1, q, q[16:], q[32:], 48, make([]float32, 100), make([]float32, 160), 16,
				q, q[16:], q[40:], 48, make([]float32, 100), make([]float32, 160))
		},
		func() {
			SgemmSmall(false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, make([]float32, 16), 4)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

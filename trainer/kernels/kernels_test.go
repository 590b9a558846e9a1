package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// forEachImpl runs f once per kernel set this machine supports.
func forEachImpl(t *testing.T, f func(t *testing.T, ks *kernelSet)) {
	t.Helper()
	prev := Impl()
	defer func() {
		if err := SetImpl(prev); err != nil {
			t.Fatal(err)
		}
	}()
	for _, name := range Impls() {
		t.Run(name, func(t *testing.T) {
			if err := SetImpl(name); err != nil {
				t.Fatal(err)
			}
			f(t, active())
		})
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// gemmCase is one Sgemm call with its operands laid out in memory.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	a, b, c        []float32
}

// newGemmCase lays out random operands with row strides padded by up to
// pad elements. The padding of A and B holds NaN, so reading it shows up in
// the result; the padding of C holds a sentinel that must survive.
func newGemmCase(r *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *gemmCase {
	g := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	g.lda = ac + r.IntN(pad+1)
	g.ldb = bc + r.IntN(pad+1)
	g.ldc = n + r.IntN(pad+1)
	g.a = fill(r, ar, ac, g.lda, float32(math.NaN()))
	g.b = fill(r, br, bc, g.ldb, float32(math.NaN()))
	g.c = fill(r, m, n, g.ldc, sentinel)
	return g
}

const sentinel = 12345.5

func fill(r *rand.Rand, rows, cols, ld int, padding float32) []float32 {
	x := make([]float32, max(0, (rows-1)*ld+cols))
	for i := range x {
		if i%ld < cols {
			x[i] = float32(r.NormFloat64())
		} else {
			x[i] = padding
		}
	}
	return x
}

func (g *gemmCase) opA(i, p int) float32 {
	if g.transA {
		return g.a[p*g.lda+i]
	}
	return g.a[i*g.lda+p]
}

func (g *gemmCase) opB(p, j int) float32 {
	if g.transB {
		return g.b[j*g.ldb+p]
	}
	return g.b[p*g.ldb+j]
}

// check compares got (the C after the call) with a float64 reference
// computed from c0 (the C before it). The tolerance is the usual bound for
// a k-term float32 dot product, relative to the sum of absolute values.
func (g *gemmCase) check(t *testing.T, c0, got []float32) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, sa float64
			for p := 0; p < g.k; p++ {
				x := float64(g.opA(i, p)) * float64(g.opB(p, j))
				s += x
				sa += math.Abs(x)
			}
			want := float64(g.alpha) * s
			mag := math.Abs(float64(g.alpha)) * sa
			if g.beta != 0 {
				want += float64(g.beta) * float64(c0[i*g.ldc+j])
				mag += math.Abs(float64(g.beta) * float64(c0[i*g.ldc+j]))
			}
			tol := 2*float64(g.k+3)*u*mag + 1e-30
			v := float64(got[i*g.ldc+j])
			if math.IsNaN(v) || math.Abs(v-want) > tol {
				if bad++; bad <= 3 {
					t.Errorf("%s: C[%d][%d] = %g, want %g ± %g", g, i, j, v, want, tol)
				}
			}
		}
		for j := i*g.ldc + g.n; j < min(len(got), (i+1)*g.ldc); j++ {
			if got[j] != sentinel {
				if bad++; bad <= 3 {
					t.Errorf("%s: padding C[%d] overwritten with %g", g, j, got[j])
				}
			}
		}
	}
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.lda, g.ldb, g.ldc)
}

func (g *gemmCase) run(serial bool) []float32 {
	c := append([]float32(nil), g.c...)
	f := Sgemm
	if serial {
		f = SgemmSerial
	}
	f(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, c, g.ldc)
	return c
}

var sizes = []int{1, 2, 3, 5, 7, 12, 16, 17, 31, 33, 64, 97}

func TestSgemmAgainstReference(t *testing.T) {
	scalars := [][2]float32{{1, 0}, {1, 1}, {-2.5, 0.5}, {0.75, -1}}
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for it := 0; it < 60; it++ {
					m := sizes[r.IntN(len(sizes))]
					n := sizes[r.IntN(len(sizes))]
					k := sizes[r.IntN(len(sizes))]
					s := scalars[it%len(scalars)]
					g := newGemmCase(r, ta, tb, m, n, k, 5, s[0], s[1])
					g.check(t, g.c, g.run(it%2 == 0))
				}
			}
		}
	})
}

// TestSgemmBlocking covers shapes that cross the depth, row and column
// block sizes of every kernel set, where the packed blocks are reused and
// beta switches to 1 after the first depth block.
func TestSgemmBlocking(t *testing.T) {
	shapes := [][3]int{
		{13, 9, 600},  // several depth blocks
		{1000, 5, 11}, // several row blocks for the assembly sets
		{7, 1100, 9},  // several column blocks
		{300, 270, 1}, // k = 1
		{130, 140, 260},
	}
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(3, 4))
		for i, s := range shapes {
			ta, tb := i%2 == 1, i/2%2 == 1
			g := newGemmCase(r, ta, tb, s[0], s[1], s[2], 3, 1.5, -0.5)
			g.check(t, g.c, g.run(false))
		}
	})
}

func TestSgemmBetaZeroIgnoresC(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, s := range [][3]int{{1, 1, 1}, {17, 33, 65}, {24, 64, 300}, {128, 40, 7}} {
			g := newGemmCase(r, false, true, s[0], s[1], s[2], 2, 2, 0)
			for i := range g.c {
				if i%g.ldc < g.n {
					g.c[i] = float32(math.NaN())
				}
			}
			g.check(t, g.c, g.run(false))
		}
	})
}

func TestSgemmDegenerate(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(7, 8))
		// k = 0 and alpha = 0 reduce to C = beta*C.
		for _, tc := range []struct {
			k     int
			alpha float32
			beta  float32
		}{{0, 1, 0}, {0, 1, 2}, {5, 0, 0.5}, {5, 0, 1}} {
			g := newGemmCase(r, false, false, 6, 7, tc.k, 2, tc.alpha, tc.beta)
			g.check(t, g.c, g.run(false))
		}
		// Empty C is a no-op even with empty slices.
		Sgemm(false, false, 0, 5, 5, 1, nil, 5, make([]float32, 25), 5, 0, nil, 5)
		Sgemm(false, false, 5, 0, 5, 1, make([]float32, 25), 5, nil, 1, 0, nil, 1)
	})
}

// TestSgemmDeterministic checks that results are bitwise identical for any
// number of goroutines.
func TestSgemmDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, s := range [][3]int{{250, 130, 300}, {37, 700, 90}, {600, 40, 100}} {
			g := newGemmCase(r, s[0]%2 == 0, s[1]%2 == 0, s[0], s[1], s[2], 1, 1, 0.5)
			runtime.GOMAXPROCS(1)
			want := g.run(true)
			for _, procs := range []int{2, 3, 5} {
				runtime.GOMAXPROCS(procs)
				got := g.run(false)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: GOMAXPROCS=%d: C[%d] = %g, serial %g", g, procs, i, got[i], want[i])
					}
				}
			}
		}
	})
}

func TestSplitGrid(t *testing.T) {
	for _, tc := range []struct{ threads, tm, tn, wantWorkers int }{
		{2, 100, 100, 2}, {2, 1, 100, 2}, {2, 100, 1, 2}, {4, 10, 10, 4}, {8, 1, 1, 1}, {3, 1, 2, 2},
	} {
		pm, pn := splitGrid(tc.threads, tc.tm, tc.tn, 12, 32)
		if pm*pn != tc.wantWorkers || pm > tc.tm || pn > tc.tn {
			t.Errorf("splitGrid(%d, %d, %d) = %d×%d, want %d workers within the tiles",
				tc.threads, tc.tm, tc.tn, pm, pn, tc.wantWorkers)
		}
	}
}

func TestSgemmPanicsOnBadOperands(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func()
		want string
	}{
		{"short a", func() {
			Sgemm(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
		}, "len(a)=15 < 16"},
		{"small ldb", func() {
			Sgemm(false, true, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 3, 0, make([]float32, 16), 4)
		}, "ldb=3 < 4"},
		{"short c", func() {
			Sgemm(true, false, 2, 3, 4, 1, make([]float32, 8), 2, make([]float32, 12), 3, 0, make([]float32, 6), 4)
		}, "len(c)=6 < 7"},
		{"negative", func() { Sgemm(false, false, -1, 1, 1, 1, nil, 1, nil, 1, 0, nil, 1) }, "negative dimension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, tc.want) {
					t.Fatalf("panic %q, want it to mention %q", msg, tc.want)
				}
			}()
			tc.call()
		})
	}
}

// TestMicroKernels runs each micro-kernel next to the straightforward
// reference on the same packed panels.
func TestMicroKernels(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, k := range []int{1, 2, 3, 4, 5, 8, 17, 256} {
			for _, beta := range []float32{0, 1, -0.5} {
				ldc := ks.nr + 3
				a := randSlice(r, ks.mr*k)
				b := randSlice(r, ks.nr*k)
				c := randSlice(r, ks.mr*ldc)
				want := append([]float32(nil), c...)
				if beta == 0 {
					for i := range c {
						if i%ldc < ks.nr {
							c[i] = float32(math.Inf(1))
						}
					}
				}
				c0 := append([]float32(nil), c...)
				ks.gemm(k, &a[0], &b[0], &c[0], ldc, 1.25, beta, nil)
				gemmKernelRef(ks.mr, ks.nr, k, a, b, want, ldc, 1.25, beta, nil)
				for i := range c {
					tol := 1e-5 * float64(k+1) * (1 + math.Abs(float64(want[i])))
					if math.Abs(float64(c[i]-want[i])) > tol {
						t.Fatalf("k=%d beta=%g: c[%d] = %g, want %g", k, beta, i, c[i], want[i])
					}
				}
				checkBiasEpilogue(t, ks.mr, ks.nr, ldc, c0, c, beta, fmt.Sprintf("k=%d beta=%g", k, beta),
					func(c []float32, beta float32, bias *float32) { ks.gemm(k, &a[0], &b[0], &c[0], ldc, 1.25, beta, bias) })
			}
		}
	})
}

// checkBiasEpilogue checks a micro-kernel's bias epilogue on an mr×nr tile
// (row stride ldc) that started as c0 and, run with beta and no bias, gave
// noBias. With a bias it must give bitwise noBias + bias[j] in every row,
// one rounded add, and leave the columns past nr alone; with beta 0 that
// must also be bitwise the old way of adding a bias: C filled with it and
// beta 1. run calls the kernel on c with a beta and a bias.
func checkBiasEpilogue(t *testing.T, mr, nr, ldc int, c0, noBias []float32, beta float32, what string,
	run func(c []float32, beta float32, bias *float32)) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(mr), uint64(nr)))
	bias := randSlice(r, nr)
	bias[0] = float32(math.Copysign(0, -1))
	got := append([]float32(nil), c0...)
	run(got, beta, &bias[0])
	for i := range got {
		row, j := i/ldc, i%ldc
		want := c0[i]
		if row < mr && j < nr {
			want = noBias[i] + bias[j]
		}
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("%s with a bias: c[%d] (row %d col %d) = %g, want %g", what, i, row, j, got[i], want)
		}
	}
	if beta != 0 {
		return
	}
	filled := append([]float32(nil), c0...)
	fillBias(filled, ldc, bias, 0, mr, 0, nr)
	run(filled, 1, nil)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(filled[i]) {
			t.Fatalf("%s: the bias epilogue gives c[%d] = %g, C filled with the bias and beta 1 %g", what, i, got[i], filled[i])
		}
	}
}

func TestPickRespectsCap(t *testing.T) {
	if got := pick("go"); got != goKernels {
		t.Errorf("pick(go) = %s", got.name)
	}
	if got := pick(""); got != available[0] {
		t.Errorf("pick(\"\") = %s, want best %s", got.name, available[0].name)
	}
	if got := pick("avx2"); rank[got.name] > rank["avx2"] {
		t.Errorf("pick(avx2) = %s, above the cap", got.name)
	}
	if err := SetImpl("sse9"); err == nil || !strings.Contains(err.Error(), `"sse9"`) {
		t.Errorf("SetImpl(sse9) error = %v", err)
	}
}

// TestSgemmConcurrentCallers runs parallel-sized products from several
// goroutines at once: one owns the helper pool, the others fall back to
// fresh goroutines, and all must get the serial result.
func TestSgemmConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	cases := make([]*gemmCase, 4)
	wants := make([][]float32, len(cases))
	for i := range cases {
		cases[i] = newGemmCase(r, i%2 == 0, i/2 == 0, 150+i, 120, 90, 2, 1, 0.5)
		wants[i] = cases[i].run(true)
	}
	errs := make(chan error, len(cases))
	for i, g := range cases {
		go func() {
			for rep := 0; rep < 5; rep++ {
				got := g.run(false)
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(wants[i][j]) {
						errs <- fmt.Errorf("%s: C[%d] = %g, serial %g", g, j, got[j], wants[i][j])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range cases {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestEdgeKernelsMatchFullKernel checks each edge micro-kernel against the
// full one on the same packed panels: its rows must be bitwise equal (the
// same chain of FMAs per element) and it must not touch the rows below.
func TestEdgeKernelsMatchFullKernel(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		if len(ks.gemmEdge) == 0 {
			t.Skip("no edge kernels in this set")
		}
		if len(ks.gemmEdge) != ks.mr {
			t.Fatalf("%d edge kernels for mr=%d, want one per row count 1..%d", len(ks.gemmEdge)-1, ks.mr, ks.mr-1)
		}
		r := rand.New(rand.NewPCG(13, 14))
		for _, k := range []int{1, 3, 4, 7, 64, 257} {
			for _, beta := range []float32{0, 1, -0.5} {
				ldc := ks.nr + 3
				a := randSlice(r, ks.mr*k)
				b := randSlice(r, ks.nr*k)
				c0 := randSlice(r, ks.mr*ldc)
				full := append([]float32(nil), c0...)
				ks.gemm(k, &a[0], &b[0], &full[0], ldc, 0.75, beta, nil)
				for rows := 1; rows < ks.mr; rows++ {
					c := append([]float32(nil), c0...)
					ks.gemmEdge[rows](k, &a[0], &b[0], &c[0], ldc, 0.75, beta, nil)
					for i := range c {
						want := full[i]
						if i/ldc >= rows || i%ldc >= ks.nr {
							want = c0[i]
						}
						if math.Float32bits(c[i]) != math.Float32bits(want) {
							t.Fatalf("k=%d beta=%g rows=%d: c[%d] (row %d) = %g, want %g", k, beta, rows, i, i/ldc, c[i], want)
						}
					}
					checkBiasEpilogue(t, rows, ks.nr, ldc, c0, c, beta, fmt.Sprintf("k=%d beta=%g rows=%d", k, beta, rows),
						func(c []float32, beta float32, bias *float32) {
							ks.gemmEdge[rows](k, &a[0], &b[0], &c[0], ldc, 0.75, beta, bias)
						})
				}
			}
		}
	})
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// biasCase is one product with a bias: its shape and its operands, with
// row strides past the width.
type biasCase struct {
	ta, tb        bool
	m, n, k       int
	a, b, bias    []float32
	lda, ldb, ldc int
}

func (g biasCase) String() string {
	return fmt.Sprintf("ta=%v tb=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", g.ta, g.tb, g.m, g.n, g.k, g.lda, g.ldb, g.ldc)
}

// biasCases are the shapes around the block sizes and micro-tile edges
// (1, 11–13 and 31–33 about the tiles, 257 and 961 past the column and
// row blocks, k of 0, one step, one depth block and several), each
// transposition, the products over maxMACs (a twentieth under -race) left
// out (m, n and k counted rounded up to unit, as padded tiles compute them).
func biasCases(r *rand.Rand, maxMACs, unit int) []biasCase {
	if raceDetector {
		maxMACs /= 20 // the race detector slows the products tenfold and more
	}
	sizes := []int{1, 11, 12, 13, 31, 32, 33, 96, 257, 961}
	depths := []int{0, 1, 63, 64, 257, 513}
	var cases []biasCase
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range depths {
				if roundUp(m, unit)*roundUp(n, unit)*roundUp(k, unit) > maxMACs {
					continue
				}
				for tr := 0; tr < 4; tr++ {
					g := biasCase{ta: tr&1 != 0, tb: tr&2 != 0, m: m, n: n, k: k}
					ar, ac := m, k
					if g.ta {
						ar, ac = k, m
					}
					br, bc := k, n
					if g.tb {
						br, bc = n, k
					}
					g.lda = max(1, ac) + r.IntN(3)
					g.ldb = max(1, bc) + r.IntN(3)
					g.ldc = n + 1 + r.IntN(3)
					g.a = fill(r, ar, ac, g.lda, float32(math.NaN()))
					g.b = fill(r, br, bc, g.ldb, float32(math.NaN()))
					g.bias = randSlice(r, n)
					cases = append(cases, g)
				}
			}
		}
	}
	return cases
}

// filled returns C as the product with a bias expects it from the bias
// pass (each row the bias), its padding the sentinel.
func (g biasCase) filled() []float32 {
	c := make([]float32, (g.m-1)*g.ldc+g.n)
	for i := range c {
		c[i] = sentinel
	}
	for i := 0; i < g.m; i++ {
		copy(c[i*g.ldc:i*g.ldc+g.n], g.bias)
	}
	return c
}

// garbage returns C holding NaN, which the product with a bias must
// overwrite, its padding the sentinel.
func (g biasCase) garbage() []float32 {
	c := make([]float32, (g.m-1)*g.ldc+g.n)
	for i := range c {
		c[i] = sentinel
		if i%g.ldc < g.n {
			c[i] = float32(math.NaN())
		}
	}
	return c
}

func sameBiasBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: c[%d] = %g, want %g (bias pass and beta 1)", what, i, got[i], want[i])
		}
	}
}

// The product with a bias gives the bits of the bias pass followed by the
// product with alpha 1 and beta 1, for every float32 kernel set, shape and
// split of C between goroutines, and writes nothing outside C.
func TestSgemmBiasMatchesBiasPass(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(31, 32))
		maxMACs := 40_000_000
		if ks.name == "go" {
			maxMACs = 4_000_000
		}
		for _, g := range biasCases(r, maxMACs, 1) {
			for _, threads := range []int{1, 2, 3} {
				want := g.filled()
				sgemm(threads, g.ta, g.tb, g.m, g.n, g.k, 1, g.a, g.lda, g.b, g.ldb, 1, want, g.ldc)
				got := g.garbage()
				sgemmBias(threads, g.ta, g.tb, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, g.bias, got, g.ldc)
				sameBiasBits(t, fmt.Sprintf("%s threads=%d %v", ks.name, threads, g), got, want)
			}
		}
	})
}

// bf16BiasSets are the bf16 sets whose drivers the product with a bias
// runs through: the Go twin, the native VDPBF16PS and AMX sets where this
// machine has them, and the AMX driver with the Go twin of its tiles (one
// packing is enough: the bias is the driver's business).
func bf16BiasSets() []*bf16Kernels {
	sets := []*bf16Kernels{bf16Go}
	if bf16Native != nil {
		sets = append(sets, bf16Native)
	}
	if bf16AMX != nil {
		sets = append(sets, bf16AMX)
	}
	return append(sets, amxTwinSets()[0])
}

// The bf16 products with a bias, B packed on the fly or by PackBF16, give
// the bits of the bias pass followed by SgemmBF16 (or SgemmBF16Packed)
// with alpha 1 and beta 1, for every bf16 set, shape and split.
func TestSgemmBF16BiasMatchesBiasPass(t *testing.T) {
	for _, ks := range bf16BiasSets() {
		t.Run(ks.name, func(t *testing.T) { bf16BiasMatchesBiasPass(t, ks) })
	}
}

func bf16BiasMatchesBiasPass(t *testing.T, ks *bf16Kernels) {
	{
		r := rand.New(rand.NewPCG(33, 34))
		maxMACs, unit := 8_000_000, 1
		switch {
		case ks.name == "go":
			maxMACs = 100_000 // the Go twin is a hundred times slower
		case strings.HasPrefix(ks.name, "amx-go"):
			maxMACs, unit = 1_100_000, amxTile // and computes whole tiles
		}
		for _, g := range biasCases(r, maxMACs, unit) {
			p := packBF16For(ks, g.tb, g.n, g.k, g.b, g.ldb)
			for _, threads := range []int{1, 2, 3} {
				what := fmt.Sprintf("%s threads=%d %v", ks.name, threads, g)
				want := g.filled()
				sgemmBF16(ks, threads, g.ta, g.tb, g.m, g.n, g.k, 1, g.a, g.lda, g.b, g.ldb, 1, want, g.ldc)
				got := g.garbage()
				sgemmBF16Bias(ks, threads, g.ta, g.tb, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, g.bias, got, g.ldc)
				sameBiasBits(t, what, got, want)

				want = g.filled()
				sgemmBF16Packed(ks, threads, g.ta, g.m, 1, g.a, g.lda, p, 1, want, g.ldc)
				got = g.garbage()
				sgemmBF16PackedWith(ks, threads, g.ta, g.m, 1, g.a, g.lda, p, 1, got, g.ldc, g.bias)
				sameBiasBits(t, "packed "+what, got, want)
			}
		}
	}
}

// The exported products with a bias, parallel and serial, under GOMAXPROCS
// 1 and 2, give the bits of the bias pass and the exported products with
// beta 1, on shapes large enough to be split between goroutines.
func TestExportedBiasProducts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	// Each but the last two is over the 3.2M multiply-adds from which
	// GOMAXPROCS 2 splits a bf16 product, and small enough for the Go twin
	// under the race detector.
	shapes := [][3]int{{961, 64, 64}, {300, 192, 64}, {33, 13, 0}, {256, 10, 192}}
	r := rand.New(rand.NewPCG(35, 36))
	forEachImpl(t, func(t *testing.T, _ *kernelSet) {
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			for _, s := range shapes {
				m, n, k := s[0], s[1], s[2]
				g := biasCase{tb: true, m: m, n: n, k: k, lda: k + 1, ldb: k + 2, ldc: n + 3}
				g.a = fill(r, m, k, g.lda, float32(math.NaN()))
				g.b = fill(r, n, k, g.ldb, float32(math.NaN()))
				g.bias = randSlice(r, n)
				p := PackBF16(true, n, k, g.b, g.ldb)
				what := fmt.Sprintf("%s/%s GOMAXPROCS=%d %v", Impl(), BF16Impl(), procs, g)
				type pair struct {
					name     string
					plain    func(c []float32)
					withBias func(c []float32)
				}
				for _, f := range []pair{
					{"SgemmBias",
						func(c []float32) { Sgemm(false, true, m, n, k, 1, g.a, g.lda, g.b, g.ldb, 1, c, g.ldc) },
						func(c []float32) { SgemmBias(false, true, m, n, k, g.a, g.lda, g.b, g.ldb, g.bias, c, g.ldc) }},
					{"SgemmBiasSerial",
						func(c []float32) { SgemmSerial(false, true, m, n, k, 1, g.a, g.lda, g.b, g.ldb, 1, c, g.ldc) },
						func(c []float32) { SgemmBiasSerial(false, true, m, n, k, g.a, g.lda, g.b, g.ldb, g.bias, c, g.ldc) }},
					{"SgemmBF16Bias",
						func(c []float32) { SgemmBF16(false, true, m, n, k, 1, g.a, g.lda, g.b, g.ldb, 1, c, g.ldc) },
						func(c []float32) { SgemmBF16Bias(false, true, m, n, k, g.a, g.lda, g.b, g.ldb, g.bias, c, g.ldc) }},
					{"SgemmBF16BiasSerial",
						func(c []float32) { SgemmBF16Serial(false, true, m, n, k, 1, g.a, g.lda, g.b, g.ldb, 1, c, g.ldc) },
						func(c []float32) { SgemmBF16BiasSerial(false, true, m, n, k, g.a, g.lda, g.b, g.ldb, g.bias, c, g.ldc) }},
					{"SgemmBF16PackedBias",
						func(c []float32) { SgemmBF16Packed(false, m, 1, g.a, g.lda, p, 1, c, g.ldc) },
						func(c []float32) { SgemmBF16PackedBias(false, m, g.a, g.lda, p, g.bias, c, g.ldc) }},
				} {
					want := g.filled()
					f.plain(want)
					got := g.garbage()
					f.withBias(got)
					sameBiasBits(t, f.name+" "+what, got, want)
				}
			}
		}
	})
}

// A bias shorter than C's rows panics, saying so.
func TestSgemmBiasRefusesShortBias(t *testing.T) {
	for name, call := range map[string]func(){
		"SgemmBias": func() {
			SgemmBias(false, false, 2, 3, 4, make([]float32, 8), 4, make([]float32, 12), 3, make([]float32, 2), make([]float32, 6), 3)
		},
		"SgemmBF16Bias": func() {
			SgemmBF16Bias(false, false, 2, 3, 4, make([]float32, 8), 4, make([]float32, 12), 3, make([]float32, 2), make([]float32, 6), 3)
		},
		"SgemmBF16PackedBias": func() {
			p := PackBF16(false, 3, 4, make([]float32, 12), 3)
			SgemmBF16PackedBias(false, 2, make([]float32, 8), 4, p, make([]float32, 2), make([]float32, 6), 3)
		},
	} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, "len(bias)=2 < n=3") {
					t.Errorf("%s: panic %q", name, msg)
				}
			}()
			call()
		}()
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// amxTwinSets are AMX-layout sets whose tiles run on the Go twin: one with
// the Go packing kernels and, where the CPU has them, one with the native
// ones (whose transposes pack a transposed A).
func amxTwinSets() []*bf16Kernels {
	sets := []*bf16Kernels{amxSet(bf16Go, "amx-go", amxTilesGo, gemmMACsPerNs)}
	if bf16Native != nil {
		sets = append(sets, amxSet(bf16Native, "amx-go-native-packing", amxTilesGo, gemmMACsPerNs))
	}
	return sets
}

// The AMX driver — packing into tile layout, padding of k, edge tiles,
// depth blocks, thread split — gives the contract's bits exactly when its
// tiles are computed by the Go twin. This runs on every machine.
func TestAMXDriverMatchesContract(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, ks := range amxTwinSets() {
		for _, g := range bf16Cases() {
			a, b, c0, lda, ldb, ldc := bf16Operands(r, g)
			want := append([]float32(nil), c0...)
			naiveBF16(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
			for _, threads := range []int{1, 3} {
				got := append([]float32(nil), c0...)
				sgemmBF16(ks, threads, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, got, ldc)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s threads=%d %+v: c[%d] = %g, want %g", ks.name, threads, g, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// bf16Bound returns, for each element of C, the exact float64 value of
// alpha*bf16(op(A))*bf16(op(B)) + beta*C and a bound on the error of any
// float32 evaluation of it: every one of the k products and the epilogue's
// three roundings can add at most one float32 half-ulp of the running
// magnitude, so (k+3)·2^-24 times the sum of the terms' magnitudes.
func bf16Bound(g bf16Case, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (exact, bound []float64) {
	exact, bound = make([]float64, g.m*ldc), make([]float64, g.m*ldc)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, mag float64
			for p := 0; p < g.k; p++ {
				var x, y float32
				if g.ta {
					x = a[p*lda+i]
				} else {
					x = a[i*lda+p]
				}
				if g.tb {
					y = b[j*ldb+p]
				} else {
					y = b[p*ldb+j]
				}
				v := float64(BF16Float32(BF16(x))) * float64(BF16Float32(BF16(y)))
				s += v
				mag += math.Abs(v)
			}
			cv := float64(g.beta) * float64(c[i*ldc+j])
			e := float64(g.alpha)*s + cv
			m := math.Abs(float64(g.alpha))*mag + math.Abs(cv)
			exact[i*ldc+j], bound[i*ldc+j] = e, float64(g.k+3)*0x1p-24*m
		}
	}
	return exact, bound
}

// The AMX tile kernel against the exact product: within float32 summation
// error on every shape, bitwise the same serial and parallel, and from run
// to run. Skipped where the CPU or OS offers no AMX.
func TestSgemmBF16AMXAgainstContract(t *testing.T) {
	if bf16AMX == nil {
		t.Skip("no AMX-BF16 on this machine")
	}
	r := rand.New(rand.NewPCG(11, 12))
	differ, total := 0, 0
	for _, g := range bf16Cases() {
		a, b, c0, lda, ldb, ldc := bf16Operands(r, g)
		exact, bound := bf16Bound(g, a, lda, b, ldb, c0, ldc)
		twin := append([]float32(nil), c0...)
		naiveBF16(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, twin, ldc)
		serial := append([]float32(nil), c0...)
		sgemmBF16(bf16AMX, 1, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, serial, ldc)
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				x := i*ldc + j
				if d := math.Abs(float64(serial[x]) - exact[x]); !(d <= bound[x]) {
					t.Fatalf("%+v: c[%d][%d] = %g, exact %g: error %.3g over the bound %.3g", g, i, j, serial[x], exact[x], d, bound[x])
				}
				total++
				if serial[x] != twin[x] {
					differ++
				}
			}
			for j := g.n; j < ldc && i < g.m-1; j++ {
				if x := i*ldc + j; math.Float32bits(serial[x]) != math.Float32bits(c0[x]) {
					t.Fatalf("%+v: c[%d][%d], outside the product, changed", g, i, j)
				}
			}
		}
		for _, threads := range []int{1, 2, 3} {
			got := append([]float32(nil), c0...)
			sgemmBF16(bf16AMX, threads, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, got, ldc)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(serial[i]) {
					t.Fatalf("%+v threads=%d: c[%d] = %g, serial run gave %g", g, threads, i, got[i], serial[i])
				}
			}
		}
	}
	t.Logf("AMX differs from the in-order contract in %d of %d outputs (all within the bound)", differ, total)
}

// The AMX micro-kernel against its Go twin on raw panels, both epilogues
// and several tiles per call, within the same bound.
func TestAMXTilesAgainstTwin(t *testing.T) {
	if bf16AMX == nil {
		t.Skip("no AMX-BF16 on this machine")
	}
	r := rand.New(rand.NewPCG(13, 14))
	pair := func() uint32 {
		return uint32(BF16(float32(r.NormFloat64()))) | uint32(BF16(float32(r.NormFloat64())))<<16
	}
	for _, steps := range []int{1, 2, 9, 16} {
		for _, tiles := range []int{1, 3} {
			for _, ab := range [][2]float32{{1.5, 0}, {1.5, 0.5}, {1, 0}, {1, -0.0}, {1, 0.5}} {
				alpha, beta := ab[0], ab[1]
				t.Run(fmt.Sprintf("steps=%d/tiles=%d/alpha=%g/beta=%g", steps, tiles, alpha, beta), func(t *testing.T) {
					ldb := tiles*amxTile + 7
					a, b := make([]uint32, steps*amxBlock), make([]uint32, steps*amxBlockPairs*ldb)
					for i := range a {
						a[i] = pair()
					}
					for i := range b {
						b[i] = pair()
					}
					ldc := tiles*amxTile + 5
					c0 := make([]float32, amxTile*ldc)
					for i := range c0 {
						c0[i] = float32(r.NormFloat64())
					}
					got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
					acc := make([]float32, amxTile*amxTile)
					bf16AMX.tiles(steps, tiles, &a[0], &b[0], ldb, &got[0], ldc, alpha, beta, &acc[0])
					amxTilesGo(steps, tiles, &a[0], &b[0], ldb, &want[0], ldc, alpha, beta, nil)
					kp := steps * amxBlockPairs
					for i := 0; i < amxTile; i++ {
						for j := 0; j < ldc; j++ {
							x := i*ldc + j
							if j >= tiles*amxTile {
								if got[x] != c0[x] {
									t.Fatalf("c[%d][%d], past the tiles, changed", i, j)
								}
								continue
							}
							tile, col := j/amxTile, j%amxTile
							var mag float64
							for p := 0; p < kp; p++ {
								u := a[(p/amxBlockPairs)*amxBlock+i*amxBlockPairs+p%amxBlockPairs]
								v := b[p*ldb+tile*amxTile+col]
								mag += math.Abs(bf16Operand(uint16(u))*bf16Operand(uint16(v))) +
									math.Abs(bf16Operand(uint16(u>>16))*bf16Operand(uint16(v>>16)))
							}
							bound := float64(2*kp+3) * 0x1p-23 * (float64(alpha)*mag + math.Abs(float64(beta*c0[x])))
							if d := math.Abs(float64(got[x]) - float64(want[x])); !(d <= bound) {
								t.Fatalf("c[%d][%d] = %g, twin %g: difference %.3g over %.3g", i, j, got[x], want[x], d, bound)
							}
						}
					}
				})
			}
		}
	}
}

// FuzzSgemmBF16Sets checks every bf16 GEMM on shapes around the 32×32 AMX
// tile, the 16-pair blocks of k and the depth blocks: the AMX driver on the
// Go twin's tiles and the VDPBF16PS set give the contract's bits; the AMX
// tiles, where the CPU has them, stay within the float32 summation bound of
// the exact product and give the same bits serial and parallel.
func FuzzSgemmBF16Sets(f *testing.F) {
	f.Add(uint8(33), uint8(65), uint16(47), false, true, float32(1), float32(0), uint64(1))
	f.Add(uint8(64), uint8(7), uint16(1025), true, false, float32(-2.5), float32(0.5), uint64(2))
	f.Add(uint8(1), uint8(1), uint16(1), true, true, float32(0.75), float32(-1), uint64(3))
	f.Fuzz(func(t *testing.T, m8, n8 uint8, k16 uint16, ta, tb bool, alpha, beta float32, seed uint64) {
		g := bf16Case{ta, tb, 1 + int(m8)%100, 1 + int(n8)%100, 1 + int(k16)%1200, alpha, beta}
		if !finite([]float32{alpha, beta}) || math.Abs(float64(alpha)) > 1e6 || math.Abs(float64(beta)) > 1e6 {
			return
		}
		a, b, c0, lda, ldb, ldc := bf16Operands(rand.New(rand.NewPCG(seed, 15)), g)
		want := append([]float32(nil), c0...)
		naiveBF16(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc)
		sets := amxTwinSets()
		if bf16Native != nil {
			sets = append(sets, bf16Native)
		}
		for _, ks := range sets {
			got := append([]float32(nil), c0...)
			sgemmBF16(ks, 2, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, got, ldc)
			if i := sameBits(want, got); i >= 0 {
				t.Fatalf("%s %+v: c[%d] = %g, contract %g", ks.name, g, i, got[i], want[i])
			}
		}
		if bf16AMX == nil {
			return
		}
		exact, bound := bf16Bound(g, a, lda, b, ldb, c0, ldc)
		ser, par := append([]float32(nil), c0...), append([]float32(nil), c0...)
		sgemmBF16(bf16AMX, 1, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, ser, ldc)
		sgemmBF16(bf16AMX, 3, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, par, ldc)
		if i := sameBits(ser, par); i >= 0 {
			t.Fatalf("AMX %+v: serial and parallel differ at %d: %g, %g", g, i, ser[i], par[i])
		}
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				x := i*ldc + j
				if d := math.Abs(float64(ser[x]) - exact[x]); !(d <= bound[x]) {
					t.Fatalf("AMX %+v: c[%d][%d] = %g, exact %g: error %.3g over the bound %.3g", g, i, j, ser[x], exact[x], d, bound[x])
				}
			}
		}
	})
}

// SHARDSMITH_KERNELS keeps the bf16 GEMM off AMX only when it caps the sets
// below "amx".
func TestAMXAllowedBy(t *testing.T) {
	for env, want := range map[string]bool{"": true, "amx": true, "bogus": true, "avx512": false, "avx2": false, "go": false} {
		if got := amxAllowedBy(env); got != want {
			t.Errorf("SHARDSMITH_KERNELS=%q: AMX allowed %v, want %v", env, got, want)
		}
	}
}

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTranspose checks Transpose against its definition on every kernel
// set, on sizes around the 8×8 and 4×8 blocks, and that it writes nothing
// outside the rows×cols block of dst.
func TestTranspose(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(7, 1))
		for _, sz := range [][2]int{{1, 1}, {3, 5}, {4, 8}, {8, 8}, {8, 16}, {12, 9}, {13, 27}, {32, 676}, {32, 26}, {17, 3}} {
			rows, cols := sz[0], sz[1]
			lds, ldd := cols+r.IntN(3), rows+r.IntN(3)
			src := randSlice(r, (rows-1)*lds+cols)
			dst := make([]float32, (cols-1)*ldd+rows+5)
			const fill = -123.5
			for i := range dst {
				dst[i] = fill
			}
			Transpose(dst, ldd, src, lds, rows, cols)
			for i := range dst {
				j, row := i/ldd, i%ldd
				want := float32(fill)
				if j < cols && row < rows {
					want = src[row*lds+j]
				}
				if math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Fatalf("%d×%d lds=%d ldd=%d: dst[%d] = %v, want %v", rows, cols, lds, ldd, i, dst[i], want)
				}
			}
		}
	})
}

func TestTransposePanicsOnShortDst(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a dst one element short")
		}
	}()
	Transpose(make([]float32, 3*4-1), 4, make([]float32, 4*3), 3, 4, 3)
}

// refPackB packs op(B) by the definition in PackB's documentation, from a
// row-major k×n matrix b with row stride ldb.
func refPackB(b []float32, ldb int) PackB {
	return func(dst []float32, nr, p0, pb, j0, cols int) {
		for q := 0; q*nr < cols; q++ {
			for p := 0; p < pb; p++ {
				for j := 0; j < nr; j++ {
					v := float32(0)
					if q*nr+j < cols {
						v = b[(p0+p)*ldb+j0+q*nr+j]
					}
					dst[q*pb*nr+p*nr+j] = v
				}
			}
		}
	}
}

// TestSgemmSerialPackB checks that a product whose op(B) is packed by a
// PackB writing the panels by their definition is bitwise SgemmSerial's,
// on shapes that cross the depth (kc) and column (nc) blocks and the
// micro-tile edges, with both forms of A and beta 0 and 1.
func TestSgemmSerialPackB(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(3, 9))
		for _, sh := range [][3]int{{1, 1, 1}, {64, 288, 576}, {32, 9, 676}, {13, 37, 300}, {7, 1100, 5}, {25, 70, 520}} {
			m, n, k := sh[0], sh[1], sh[2]
			for _, transA := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					lda := k + 1
					a := randSlice(r, m*lda)
					if transA {
						lda = m + 2
						a = randSlice(r, k*lda)
					}
					ldb := n + 3
					b := randSlice(r, k*ldb)
					ldc := n + 1
					c0 := randSlice(r, m*ldc)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					SgemmSerial(transA, false, m, n, k, 0.5, a, lda, b, ldb, beta, want, ldc)
					calls := 0
					pack := refPackB(b, ldb)
					SgemmSerialPackB(transA, m, n, k, 0.5, a, lda, func(dst []float32, nr, p0, pb, j0, cols int) {
						calls++
						if nr != ks.nr || len(dst) != ceilDiv(cols, nr)*nr*pb {
							t.Fatalf("pack got nr=%d len(dst)=%d for %d columns of depth %d; kernel set nr=%d", nr, len(dst), cols, pb, ks.nr)
						}
						pack(dst, nr, p0, pb, j0, cols)
					}, beta, got, ldc)
					if calls == 0 {
						t.Fatal("pack never called")
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("m=%d n=%d k=%d transA=%v beta=%v: c[%d] = %v, SgemmSerial %v", m, n, k, transA, beta, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}

package kernels

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// # int8 GEMM on activations
//
// The MLP's later dense layers multiply ReLU outputs, float32 values >= 0,
// not pixels. QuantizeRowsU8 turns them into bytes with one scale per row,
// chosen afresh for every batch, and GemmU8S8Rows multiplies those bytes by
// the int8 weights as GemmU8S8 does, scaling each row of the result back by
// its row's scale. The exact int32 sums and the separately rounded
// epilogue keep the promise GemmU8S8 makes: the same bits from every kernel
// set and every split of the work.
//
// Both are defined down to the bit, NaN and infinities included, so that
// the AVX-512 kernels and the Go twins agree everywhere, not only on
// well-behaved input.

// QuantizeRowsU8 quantizes m rows of k float32 values (row i at
// x[i*ldx : i*ldx+k]), meant for non-negative values such as a ReLU's
// output, to bytes with one scale per row, so that x[i][j] ≈
// scale[i]*dst[i*ldd+j]:
//
//   - mx is the largest finite value of the row, or 0 if none is positive:
//     NaN, +Inf and -Inf are ignored;
//   - inv = 255/mx and scale[i] = mx/255, each a float32 division; where
//     inv is not finite (mx == 0, or mx so small, below about 7.5e-37 =
//     255/MaxFloat32, that 255/mx overflows), inv = 0 and scale[i] = 1, and
//     the row's bytes are all 0;
//   - dst[i*ldd+j] = clamp(roundHalfEven(x[i][j]*inv), 0, 255), the product
//     rounded to float32 first; negative values give 0, and so do NaN, +Inf
//     and -Inf (which would otherwise saturate to 255 or spread NaN into
//     the product: an activation that is not finite is already a bug
//     upstream, and a 0 keeps the rest of the row usable).
//
// The row maximum thus maps to 255, and every finite x in [0, mx] to a byte
// within half a step, scale[i]/2, of it. len(scale) must be at least m.
// Bytes of dst between rows (j >= k) are not written. It runs on the
// calling goroutine: it is one pass over the activations, far cheaper than
// the product that follows. Panics with a clear message on bad sizes.
func QuantizeRowsU8(m, k int, x []float32, ldx int, dst []uint8, ldd int, scale []float32) {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: QuantizeRowsU8: negative size m=%d k=%d", m, k))
	}
	if ldx < max(1, k) || (m > 0 && k > 0 && len(x) < (m-1)*ldx+k) {
		panic(fmt.Sprintf("kernels: QuantizeRowsU8: x (%d×%d, ldx=%d) does not fit len(x)=%d", m, k, ldx, len(x)))
	}
	if ldd < max(1, k) || (m > 0 && k > 0 && len(dst) < (m-1)*ldd+k) {
		panic(fmt.Sprintf("kernels: QuantizeRowsU8: dst (%d×%d, ldd=%d) does not fit len(dst)=%d", m, k, ldd, len(dst)))
	}
	if len(scale) < m {
		panic(fmt.Sprintf("kernels: QuantizeRowsU8: len(scale)=%d < m=%d", len(scale), m))
	}
	quantizeRowsU8(s8Set(), m, k, x, ldx, dst, ldd, scale)
}

// quantizeRowsU8 is QuantizeRowsU8 on the set ks, sizes checked.
func quantizeRowsU8(ks *s8Kernels, m, k int, x []float32, ldx int, dst []uint8, ldd int, scale []float32) {
	if m == 0 {
		return
	}
	if k == 0 {
		// No values: every row is a zero row.
		for i := range scale[:m] {
			scale[i] = 1
		}
		return
	}
	ks.quantizeRows(m, k, &x[0], ldx, &dst[0], ldd, &scale[0])
}

// rowScaleU8 returns the multiplier inv and the scale of a row whose
// largest finite value is mx >= 0, as QuantizeRowsU8 defines them.
func rowScaleU8(mx float32) (inv, scale float32) {
	inv = 255 / mx
	if math.IsInf(float64(inv), 1) {
		return 0, 1
	}
	return inv, mx / 255
}

// quantizeU8 is one byte of QuantizeRowsU8, written as the AVX-512 kernel
// computes it: VCVTPS2DQ rounds half to even and gives 0x80000000 for NaN
// and out-of-range values, which the clamp at 0 then removes along with
// the negatives.
func quantizeU8(v, inv float32) uint8 {
	r := math.RoundToEven(float64(v * inv))
	if !(r >= -(1<<31) && r < 1<<31) {
		return 0
	}
	return uint8(max(0, min(255, r)))
}

// quantizeRowsU8Go is the Go twin of the quantization kernel.
func quantizeRowsU8Go(m, k int, xp *float32, ldx int, dp *uint8, ldd int, sp *float32) {
	x := unsafe.Slice(xp, (m-1)*ldx+k)
	dst := unsafe.Slice(dp, (m-1)*ldd+k)
	scale := unsafe.Slice(sp, m)
	for i := range m {
		row := x[i*ldx : i*ldx+k]
		var mx float32
		for _, v := range row {
			if v > mx && v <= math.MaxFloat32 {
				mx = v
			}
		}
		inv, s := rowScaleU8(mx)
		scale[i] = s
		out := dst[i*ldd : i*ldd+k]
		for j, v := range row {
			out[j] = quantizeU8(v, inv)
		}
	}
}

// GemmU8S8Rows is GemmU8S8 with one more scale per row of A, as
// QuantizeRowsU8 produces:
//
//	c[i*ldc+j] = (float32(acc)*scale[j])*rowScale[i] + bias[j]
//
// for i < m, j < n, acc the exact int32 sum, each multiply and the add
// rounded to float32 (no fused multiply-add), so every kernel set and every
// GOMAXPROCS gives the same bits. len(rowScale) must be at least m. Large
// products are split across GOMAXPROCS goroutines.
func GemmU8S8Rows(m int, a []uint8, lda int, rowScale []float32, p *PackedS8, c []float32, ldc int) {
	if p == nil {
		panic("kernels: GemmU8S8Rows: nil PackedS8")
	}
	ks := s8Set()
	gemmU8S8Rows(ks, gemmThreads(runtime.GOMAXPROCS(0), m, p.n, p.k, ks.macsPerNs), m, a, lda, rowScale, p, c, ldc)
}

func gemmU8S8Rows(ks *s8Kernels, threads, m int, a []uint8, lda int, rowScale []float32, p *PackedS8, c []float32, ldc int) {
	if m > 0 && len(rowScale) < m {
		panic(fmt.Sprintf("kernels: GemmU8S8Rows: len(rowScale)=%d < m=%d", len(rowScale), m))
	}
	gemmU8S8Split(ks, "GemmU8S8Rows", threads, m, a, lda, rowScale, p, c, ldc)
}

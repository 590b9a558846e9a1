package kernels

import (
	"fmt"
	"math"
)

// The attention heads' products. One head of a small ViT multiplies 50×16
// and 50×50 matrices (S = QKᵀ, P·V and, backwards, Pᵀ·dO, dO·Vᵀ, dS·K,
// dSᵀ·Q); through Sgemm most of their time goes into packing panels, and a
// 16-wide output fills half of a 32-wide micro-tile. SgemmSmall multiplies
// straight from the operands instead, and AttentionHeadForward and
// AttentionHeadBackward run a whole head on it: the two transposed
// operands (Kᵀ and Vᵀ, hd×T) are copied once into scratch, the softmax is
// SoftmaxRows and SoftmaxRowsGrad.
//
// Each element of C is one chain of fused multiply-adds over k in order,
// started from zero, then multiplied by alpha. The AVX2 and AVX-512
// micro-kernels issue exactly that chain whatever their tile shape, and the
// Go twin computes each fused multiply-add exactly (fma32), so the products
// — and with the softmax kernels the whole head — are bitwise identical in
// every kernel set and for any tiling.

// attnKernel is an attention micro-kernel:
// C[r*ldc+j] = alpha * Σ_{p<k} A[r*ars+p*acs] * B[p*ldb+j] for r < mr and
// j < (nv−1)·lanes + tail.
type attnKernel = func(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, alpha float32, tail int)

// SgemmSmall computes C = alpha·op(A)·B for row-major matrices without
// packing: op(A) is A (m×k, row stride lda) or, with transA, Aᵀ for a k×m
// A; B is k×n with row stride ldb and C m×n with row stride ldc. C is only
// written (beta = 0). It runs on the calling goroutine and suits products
// of a few hundred thousand multiply-adds, such as one attention head's.
func SgemmSmall(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	checkGemm(transA, false, m, n, k, a, lda, b, ldb, c, ldc)
	ars, acs := lda, 1
	if transA {
		ars, acs = 1, lda
	}
	smallGemm(active(), m, n, k, alpha, a, ars, acs, b, ldb, c, ldc)
}

// smallGemm is SgemmSmall on checked operands, A read at
// A[i*ars+p*acs].
func smallGemm(ks *kernelSet, m, n, k int, alpha float32, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	if ks.attnGemm == nil {
		attnGemmGo(m, n, k, alpha, a, ars, acs, b, ldb, c, ldc)
		return
	}
	lanes := ks.attnLanes
	for j0 := 0; j0 < n; j0 += 4 * lanes {
		w := min(4*lanes, n-j0)
		nv := (w + lanes - 1) / lanes
		tail := w - (nv-1)*lanes
		kern := ks.attnGemm[nv]
		rmax := len(kern) - 1
		for i0 := 0; i0 < m; i0 += rmax {
			r := min(rmax, m-i0)
			kern[r](k, &a[i0*ars], ars, acs, &b[j0], ldb, &c[i0*ldc+j0], ldc, alpha, tail)
		}
	}
}

// attnGemmGo is the Go twin of the attention micro-kernels over a whole
// m×n product.
func attnGemmGo(m, n, k int, alpha float32, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		clear(ci)
		for p := 0; p < k; p++ {
			ap := a[i*ars+p*acs]
			bp := b[p*ldb : p*ldb+n]
			for j, bv := range bp {
				ci[j] = fma32(ap, bv, ci[j])
			}
		}
		for j := range ci {
			ci[j] *= alpha
		}
	}
}

// fma32 returns a·b + c rounded once to float32, as VFMADD231PS does. The
// product is exact in float64; the sum is rounded to float64 with round to
// odd (the nearest float64 plus the TwoSum error deciding the last bit),
// after which rounding to float32 is correct, 53 ≥ 24+2 bits.
func fma32(a, b, c float32) float32 {
	p, q := float64(a)*float64(b), float64(c)
	s := p + q
	bb := s - p
	e := (p - (s - bb)) + (q - bb)
	if e != 0 && e-e == 0 { // inexact and finite
		u := math.Float64bits(s)
		if u&1 == 0 {
			if (e > 0) == (s > 0) {
				u++
			} else {
				u--
			}
			s = math.Float64frombits(u)
		}
	}
	return float32(s)
}

// transposeHead sets dst[c*t+j] = src[j*ld+c] for j < t, c < hd: one
// head's keys or values as an hd×t matrix.
func transposeHead(ks *kernelSet, dst, src []float32, ld, t, hd int) {
	dst = dst[:hd*t]
	j := 0
	if ks.transpose8 != nil && hd >= 8 {
		steps := hd / 8
		for ; j+8 <= t; j += 8 {
			_ = src[(j+7)*ld+8*steps-1]
			ks.transpose8(&dst[j], t, &src[j*ld], ld, steps)
		}
		for c := 8 * steps; c < hd; c++ {
			for jj := 0; jj < j; jj++ {
				dst[c*t+jj] = src[jj*ld+c]
			}
		}
	}
	for ; j < t; j++ {
		row := src[j*ld : j*ld+hd]
		for c, v := range row {
			dst[c*t+j] = v
		}
	}
}

// AttentionScratch is the number of float32s of scratch space one
// AttentionHeadForward or AttentionHeadBackward call needs.
func AttentionScratch(t, hd int) int { return t * hd }

func checkHead(name string, t, hd, ld int, q, k, v []float32, ldo int, o []float32, p []float32, scratch []float32) {
	need := (t-1)*ld + hd
	if t <= 0 || hd <= 0 || ld < hd || ldo < hd || len(q) < need || len(k) < need || len(v) < need ||
		len(o) < (t-1)*ldo+hd || len(p) < t*t || len(scratch) < t*hd {
		panic(fmt.Sprintf("kernels: %s: t=%d hd=%d ld=%d ldo=%d len(q,k,v)=%d,%d,%d len(o)=%d len(p)=%d len(scratch)=%d",
			name, t, hd, ld, ldo, len(q), len(k), len(v), len(o), len(p), len(scratch)))
	}
}

// AttentionHeadForward computes one attention head of t tokens and hd
// features: P = softmax(scale·Q·Kᵀ) row by row (t×t, into p) and
// O = P·V. Q, K and V are t rows of hd values with row stride ld (columns
// of one fused qkv buffer), O has row stride ldo. scratch holds at least
// AttentionScratch(t, hd) values.
func AttentionHeadForward(t, hd int, scale float32, q, k, v []float32, ld int, p, o []float32, ldo int, scratch []float32) {
	checkHead("AttentionHeadForward", t, hd, ld, q, k, v, ldo, o, p, scratch)
	ks := active()
	kt := scratch[:t*hd]
	transposeHead(ks, kt, k, ld, t, hd)
	smallGemm(ks, t, t, hd, scale, q, ld, 1, kt, t, p, t)
	SoftmaxRows(p, t, t)
	smallGemm(ks, t, hd, t, 1, p, t, 1, v, ld, o, ldo)
}

// AttentionHeadBackward back-propagates through AttentionHeadForward: with
// P its probabilities and dO (row stride ldo) the gradient of O it sets
// dV = Pᵀ·dO, dS = softmax'(dO·Vᵀ), dQ = scale·dS·K and dK = scale·dSᵀ·Q,
// dQ, dK and dV with row stride ldd. dp (t×t) and scratch
// (AttentionScratch values) are work space; dp ends holding dS.
func AttentionHeadBackward(t, hd int, scale float32, q, k, v []float32, ld int, p, do []float32, ldo int,
	dq, dk, dv []float32, ldd int, dp, scratch []float32) {
	checkHead("AttentionHeadBackward", t, hd, ld, q, k, v, ldo, do, p, scratch)
	if need := (t-1)*ldd + hd; ldd < hd || len(dq) < need || len(dk) < need || len(dv) < need || len(dp) < t*t {
		panic(fmt.Sprintf("kernels: AttentionHeadBackward: t=%d hd=%d ldd=%d len(dq,dk,dv)=%d,%d,%d len(dp)=%d",
			t, hd, ldd, len(dq), len(dk), len(dv), len(dp)))
	}
	ks := active()
	smallGemm(ks, t, hd, t, 1, p, 1, t, do, ldo, dv, ldd)
	vt := scratch[:t*hd]
	transposeHead(ks, vt, v, ld, t, hd)
	smallGemm(ks, t, t, hd, 1, do, ldo, 1, vt, t, dp, t)
	SoftmaxRowsGrad(dp, p, t, t)
	smallGemm(ks, t, hd, t, scale, dp, t, 1, k, ld, dq, ldd)
	smallGemm(ks, t, hd, t, scale, dp, 1, t, q, ld, dk, ldd)
}

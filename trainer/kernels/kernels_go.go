package kernels

import (
	"math"
	"unsafe"
)

// The pure-Go kernel set. It is the reference twin of the assembly kernels
// and the fallback for CPUs without AVX2 and for non-amd64 targets.
var goKernels = &kernelSet{
	name: "go",
	mr:   2, nr: 4,
	gemm: gemmKernel2x4Go,
	kc:   256, mc: 256, nc: 1024,
	axpy:         axpyGo,
	dot:          dotGo,
	scal:         scalGo,
	addScaledSum: addScaledSumGo,
	relu:         reluGo,
	addBias:      addBiasGo,
	biasRelu:     biasReluGo,
	reluGrad:     reluGradGo,
	adam:         adamGo,

	gelu:        geluGo,
	geluGrad:    geluGradGo,
	expShift:    expShiftGo,
	softmaxGrad: softmaxGradGo,
	layerNorm:   layerNormGo,
	lnGrad:      lnGradGo,
}

// gemmKernel2x4Go is the micro-kernel contract of kernelSet.gemm for a 2×4
// tile. Eight accumulators plus the six loaded values fit in the sixteen
// SSE registers the compiler uses; a 4×4 tile spills and runs slower.
func gemmKernel2x4Go(k int, pa, pb, pc *float32, ldc int, alpha, beta float32, pbias *float32) {
	a := unsafe.Slice(pa, 2*k)
	b := unsafe.Slice(pb, 4*k)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	for p := 0; p < k; p++ {
		av := a[2*p : 2*p+2 : 2*p+2]
		bv := b[4*p : 4*p+4 : 4*p+4]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0 := av[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := av[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	c := unsafe.Slice(pc, ldc+4)
	storeRow4(c[0:4:4], c00, c01, c02, c03, alpha, beta)
	storeRow4(c[ldc:ldc+4:ldc+4], c10, c11, c12, c13, alpha, beta)
	if pbias != nil {
		bias := unsafe.Slice(pbias, 4)
		for j, v := range bias {
			c[j] += v
			c[ldc+j] += v
		}
	}
}

func storeRow4(c []float32, s0, s1, s2, s3, alpha, beta float32) {
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*s0, alpha*s1, alpha*s2, alpha*s3
		return
	}
	c[0] = float32(alpha*s0) + float32(beta*c[0])
	c[1] = float32(alpha*s1) + float32(beta*c[1])
	c[2] = float32(alpha*s2) + float32(beta*c[2])
	c[3] = float32(alpha*s3) + float32(beta*c[3])
}

// gemmKernelRef is a straightforward implementation of the micro-kernel
// contract for any mr×nr (bias nil or nr values). Tests run it next to the
// optimised kernels.
func gemmKernelRef(mr, nr, k int, a, b, c []float32, ldc int, alpha, beta float32, bias []float32) {
	for r := 0; r < mr; r++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[p*mr+r] * b[p*nr+j]
			}
			if beta == 0 {
				c[r*ldc+j] = alpha * s
			} else {
				c[r*ldc+j] = float32(alpha*s) + float32(beta*c[r*ldc+j])
			}
			if bias != nil {
				c[r*ldc+j] += bias[j]
			}
		}
	}
}

func addScaledSumGo(y, a, b []float32, k float32) {
	a, b = a[:len(y)], b[:len(y)]
	for i := range y {
		y[i] += float32(k * float32(a[i]+b[i])) // explicit rounding: no FMA on any platform
	}
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs := x[i : i+4 : i+4]
		ys := y[i : i+4 : i+4]
		ys[0] += alpha * xs[0]
		ys[1] += alpha * xs[1]
		ys[2] += alpha * xs[2]
		ys[3] += alpha * xs[3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs := x[i : i+4 : i+4]
		ys := y[i : i+4 : i+4]
		s0 += xs[0] * ys[0]
		s1 += xs[1] * ys[1]
		s2 += xs[2] * ys[2]
		s3 += xs[3] * ys[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func scalGo(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// positiveMask returns all ones if the float32 with bits b is > 0 (and not
// NaN), else 0. b-1 (in 32 bits) is below 0x7f800000 exactly for +0's
// successors up to +Inf; subtracting in 64 bits turns that comparison into
// the sign bit. Branch-free, because the sign of real activations is a coin
// toss for a branch predictor.
func positiveMask(b uint32) uint32 {
	return uint32(int64(uint64(b-1)-0x7f800000) >> 63)
}

func reluGo(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		b := math.Float32bits(v)
		dst[i] = math.Float32frombits(b & positiveMask(b))
	}
}

func addBiasGo(dst, x []float32, b float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = v + b
	}
}

func biasReluGo(dst, x []float32, b float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		// NaN and -0 give +0, as MAXPS against zero does in the assembly.
		if v := v + b; v > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

func maxPool2x2Go(y []float32, arg []int32, x []float32, oh, ow, w int) {
	for i := 0; i < oh; i++ {
		r0 := x[2*i*w : 2*i*w+2*ow]
		r1 := x[(2*i+1)*w : (2*i+1)*w+2*ow]
		yr := y[i*ow : (i+1)*ow]
		ar := arg[i*ow : (i+1)*ow]
		base := int32(2 * i * w)
		for j := range yr {
			// Selects rather than max: the winner is data-dependent, and
			// the compiler can turn these into conditional moves.
			a, b, c, d := r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1]
			m0, i0 := a, int32(0)
			if b > a {
				m0, i0 = b, 1
			}
			m1, i1 := c, int32(w)
			if d > c {
				m1, i1 = d, int32(w+1)
			}
			if m1 > m0 {
				m0, i0 = m1, i1
			}
			yr[j] = m0
			ar[j] = base + int32(2*j) + i0
		}
	}
}

func reluGradGo(dst, dy, y []float32) {
	dst = dst[:len(dy)]
	y = y[:len(dy)]
	for i, d := range dy {
		dst[i] = math.Float32frombits(math.Float32bits(d) & positiveMask(math.Float32bits(y[i])))
	}
}

// adamGo is the twin of the Adam kernels. It rounds after every operation,
// in the order the assembly uses (the explicit conversions forbid the
// compiler from fusing a multiply and an add), and, as the kernels run with
// MXCSR's FTZ and DAZ bits set, passes every operand and every result
// through flush: a subnormal anywhere reads and writes as a zero of its
// sign. All kernel sets agree bit for bit.
func adamGo(p, g, m, v []float32, lr, b1, c1, b2, c2, eps float32) {
	g = g[:len(p)]
	m = m[:len(p)]
	v = v[:len(p)]
	lr, b1, c1, b2, c2, eps = flush(lr), flush(b1), flush(c1), flush(b2), flush(c2), flush(eps)
	for i := range p {
		gi := flush(g[i])
		mi := flush(flush(float32(b1*flush(m[i]))) + flush(float32(c1*gi)))
		vi := flush(flush(float32(b2*flush(v[i]))) + flush(float32(flush(float32(c2*gi))*gi)))
		m[i] = mi
		v[i] = vi
		// A float64 square root rounded to float32 is the correctly
		// rounded float32 square root, as VSQRTPS computes it.
		d := flush(flush(float32(math.Sqrt(float64(vi)))) + eps)
		p[i] = flush(flush(p[i]) - flush(flush(float32(lr*mi))/d))
	}
}

// flush returns x, or a zero of its sign if x is subnormal: what FTZ does
// to a result and DAZ to an operand. A float32 result that Go rounds to a
// subnormal is exactly one that x86, which detects tininess after rounding
// to the full significand, flushes: the two roundings differ only within
// half a subnormal step of the smallest normal, where both give that normal.
func flush(x float32) float32 {
	if b := math.Float32bits(x); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return x
}

func lookupU8Go(dst []float32, src []uint8, t *[256]float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = t[v]
	}
}

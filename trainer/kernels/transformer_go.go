package kernels

import "math"

// Pure-Go twins of the transformer kernels. Every expression is written one
// rounded float32 operation at a time, in the order the assembly issues its
// instructions (a product is converted with float32() before it is added, so
// the compiler may not fuse it into an FMA): the kernel sets then agree bit
// for bit, which is what keeps a ViT's training identical across sets.

// Constants of the approximations, shared with the generator in _asm
// (transformer.go there holds the same values).
const (
	// exp: clamp range, 2^n·e^r with r = x − n·ln2 split in two.
	expLo    = -87.33654 // e^expLo is about the smallest normal float32
	expHi    = 88.37626
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375
	ln2Lo    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
	invSqrt2 = 0.70710678118654752

	// erf on |z| <= erfSplit: z + z·p(z²).
	erfSplit = 0.927734375
	erfS0    = -5.96761703e-4
	erfS1    = 4.99119423e-3
	erfS2    = -2.67681349e-2
	erfS3    = 1.12819925e-1
	erfS4    = -3.76125336e-1
	erfS5    = 1.28379166e-1
	// erfc(t) = exp(q(t)) for t = |z| > erfSplit.
	erfT0 = -1.72853470e-5
	erfT1 = 3.83197126e-4
	erfT2 = -3.88396438e-3
	erfT3 = 2.42546219e-2
	erfT4 = -1.06777877e-1
	erfT5 = -6.34846687e-1
	erfT6 = -1.28717512e-1

	invSqrt2Pi = 0.3989422804014327 // φ(0)
)

// maxps and minps are the x86 MAXPS/MINPS rules: the second operand unless
// the comparison holds, so a NaN a gives b.
func maxps(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

func minps(a, b float32) float32 {
	if a < b {
		return a
	}
	return b
}

// mad is p*q + c with the product rounded first (no FMA).
func mad(p, q, c float32) float32 { return float32(p*q) + c }

// exp32 approximates e^x to within 1 ulp of float32 for x in
// [expLo, expHi] (inputs outside are clamped; a NaN gives e^expLo): Cephes'
// expf, 2^n·e^r with |r| <= ln2/2 and a degree-5 polynomial for e^r.
func exp32(x float32) float32 {
	x = minps(maxps(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(float32(x * log2e))))
	r := x - float32(n*ln2Hi)
	r = r - float32(n*ln2Lo)
	p := mad(expP0, r, expP1)
	p = mad(p, r, expP2)
	p = mad(p, r, expP3)
	p = mad(p, r, expP4)
	p = mad(p, r, expP5)
	p = float32(float32(p*r)*r) + r
	p = p + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// phi32 returns Φ(x), the standard normal CDF ½(1 + erf(x/√2)). erf is
// N. Juffa's float32 minimax pair (within 1 ulp of math.Erf in float32,
// see TestErfAccuracy): an odd polynomial on |z| <= 0.9277 and
// erfc(t) = exp(q(t)) beyond, so that Φ of a negative x is ½·erfc(|z|)
// without the cancellation of 1 + erf(z).
func phi32(x float32) float32 {
	z := x * invSqrt2
	t := math.Float32frombits(math.Float32bits(z) &^ (1 << 31))
	s := z * z
	// Small branch.
	r := mad(erfS0, s, erfS1)
	r = mad(r, s, erfS2)
	r = mad(r, s, erfS3)
	r = mad(r, s, erfS4)
	r = mad(r, s, erfS5)
	r = mad(r, z, z)
	small := mad(r, 0.5, 0.5)
	// Tail branch.
	q := mad(erfT0, t, erfT1)
	u := mad(erfT2, t, erfT3)
	q = mad(q, s, u)
	q = mad(q, t, erfT4)
	q = mad(q, t, erfT5)
	q = mad(q, t, erfT6)
	q = float32(q*t) - t
	h := exp32(q) * 0.5
	tail := 1 - h
	if x < 0 {
		tail = h
	}
	if t > erfSplit {
		return tail
	}
	return small
}

// erf32 is the erf approximation behind phi32, for the accuracy test.
func erf32(z float32) float32 {
	// Φ(√2·z) computed on z directly would round √2·z; undo phi32's scaling
	// by building the same branches here.
	t := math.Float32frombits(math.Float32bits(z) &^ (1 << 31))
	s := z * z
	if t <= erfSplit {
		r := mad(erfS0, s, erfS1)
		r = mad(r, s, erfS2)
		r = mad(r, s, erfS3)
		r = mad(r, s, erfS4)
		r = mad(r, s, erfS5)
		return mad(r, z, z)
	}
	q := mad(erfT0, t, erfT1)
	u := mad(erfT2, t, erfT3)
	q = mad(q, s, u)
	q = mad(q, t, erfT4)
	q = mad(q, t, erfT5)
	q = mad(q, t, erfT6)
	q = float32(q*t) - t
	r := 1 - exp32(q)
	if z < 0 {
		r = -r
	}
	return r
}

func geluGo(dst, x []float32) {
	for i, v := range x {
		dst[i] = v * phi32(v)
	}
}

func geluGradGo(dst, dy, x []float32) {
	x = x[:len(dy)]
	for i, d := range dy {
		v := x[i]
		cdf := phi32(v)
		w := float32(v*v) * -0.5
		pdf := exp32(w) * invSqrt2Pi
		g := cdf + float32(v*pdf)
		dst[i] = d * g
	}
}

func expShiftGo(dst, x []float32, m float32) {
	for i, v := range x {
		dst[i] = exp32(v - m)
	}
}

func softmaxGradGo(dst, dp, p []float32, d float32) {
	p = p[:len(dp)]
	for i, v := range dp {
		dst[i] = p[i] * (v - d)
	}
}

func lnApplyGo(y, x, g, b []float32, m, r float32) {
	g, b = g[:len(x)], b[:len(x)]
	for i, v := range x {
		y[i] = float32(float32((v-m)*r)*g[i]) + b[i]
	}
}

func lnGradGo(dx, dy, x, g []float32, m, s, mg, mgx float32) {
	x, g = x[:len(dy)], g[:len(dy)]
	for i, v := range dy {
		xh := float32((x[i] - m) * s)
		dx[i] = (float32(v*g[i]) - mg - float32(xh*mgx)) * s
	}
}

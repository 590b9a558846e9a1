package kernels

import (
	"fmt"
	"math"
)

// The transformer kernels: GELU and its gradient, a row-wise softmax and
// its gradient, and LayerNorm forward and backward. Their element-wise
// parts run in the kernel set (the exp and erf approximations of
// transformer_go.go, one rounded operation at a time, no FMA), their row
// reductions (maximum, sums, mean and variance) in float64 scalar Go, so
// every kernel set gives bitwise the same result. The reductions keep four
// partial sums (element i in sum i mod 4, then (s0+s1)+(s2+s3)), which
// breaks the chain of dependent float64 additions without making the
// result depend on anything but the data.

// sum64 returns the float64 sum of x in the order described above.
func sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for j, v := range x[i:] {
		switch j {
		case 0:
			s0 += float64(v)
		case 1:
			s1 += float64(v)
		default:
			s2 += float64(v)
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// dot64 returns Σ float64(x[i]·y[i]) (each product rounded to float32
// first) in sum64's order.
func dot64(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b := x[i:i+4:i+4], y[i:i+4:i+4]
		s0 += float64(a[0] * b[0])
		s1 += float64(a[1] * b[1])
		s2 += float64(a[2] * b[2])
		s3 += float64(a[3] * b[3])
	}
	for j := i; j < len(x); j++ {
		p := float64(x[j] * y[j])
		switch j - i {
		case 0:
			s0 += p
		case 1:
			s1 += p
		default:
			s2 += p
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// sqdev64 returns Σ (float64(x[i]) − mu)² in sum64's order.
func sqdev64(x []float32, mu float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		e0, e1, e2, e3 := float64(v[0])-mu, float64(v[1])-mu, float64(v[2])-mu, float64(v[3])-mu
		s0 += e0 * e0
		s1 += e1 * e1
		s2 += e2 * e2
		s3 += e3 * e3
	}
	for j, v := range x[i:] {
		e := float64(v) - mu
		switch j {
		case 0:
			s0 += e * e
		case 1:
			s1 += e * e
		default:
			s2 += e * e
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// rowMax returns the largest element of x (non-empty), or NaN if x holds
// one, like the builtin max over all of x; of +0 and −0 it may return
// either, which changes no e^(x−m). The maximum is exact, so it is taken in
// four independent running maxima (element i in m[i mod 4]) that the CPU
// can compare in parallel instead of one chain of dependent compares: the
// result is the same as a single pass's. The assembly sets run it as a
// vector kernel (rowMaxAVX2, rowMaxAVX512) with the same result.
func rowMax(x []float32) float32 {
	m0 := x[0]
	m1, m2, m3 := m0, m0, m0
	nan := false
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		m0, m1, m2, m3 = max32(m0, v[0]), max32(m1, v[1]), max32(m2, v[2]), max32(m3, v[3])
		nan = nan || v[0] != v[0] || v[1] != v[1] || v[2] != v[2] || v[3] != v[3]
	}
	for _, v := range x[i:] {
		m0 = max32(m0, v)
		nan = nan || v != v
	}
	mx := max32(max32(m0, m1), max32(m2, m3))
	if nan || mx != mx {
		return float32(math.NaN())
	}
	return mx
}

// shortRowMax is rowMax without branches, for the short rows of
// softmaxShortRows, whose comparisons (random logits) a branch predictor
// gets wrong about half the time. Each float's bits become a key whose
// unsigned order is the floats' order (negative floats' bits inverted,
// positive ones' sign bit set; −0 then sorts just below +0), so the
// maximum is an integer max; a NaN anywhere is flagged by its magnitude
// bits exceeding +Inf's.
func shortRowMax(x []float32) float32 {
	var best, nan uint32
	for _, v := range x {
		u := math.Float32bits(v)
		best = max(best, u^(uint32(int32(u)>>31)|1<<31))
		nan |= (0x7f800000 - u&0x7fffffff) >> 31
	}
	if nan != 0 {
		return float32(math.NaN())
	}
	if best&(1<<31) != 0 {
		return math.Float32frombits(best &^ (1 << 31))
	}
	return math.Float32frombits(^best)
}

// max32 returns the larger of a and b, a when they compare equal or b is
// NaN (NaN is detected apart in rowMax), without the builtin max's NaN and
// signed-zero handling.
func max32(a, b float32) float32 {
	if b > a {
		return b
	}
	return a
}

// GELU sets dst[i] = x[i]·Φ(x[i]), the exact (erf) Gaussian error linear
// unit, for i < len(x); dst may be x. Φ uses a float32 erf accurate to
// about 1 ulp, so the result is within a few ulp of the float64 formula
// (less where Φ is tiny; see phi32).
func GELU(dst, x []float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: GELU: len(dst)=%d < len(x)=%d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active().gelu(dst[:len(x)], x)
}

// GELUGrad sets dst[i] = dy[i]·(Φ(x[i]) + x[i]·φ(x[i])), the gradient of
// GELU at its input x, for i < len(dy); dst may be dy.
func GELUGrad(dst, dy, x []float32) {
	n := len(dy)
	if len(dst) < n || len(x) < n {
		panic(fmt.Sprintf("kernels: GELUGrad: len(dst)=%d len(x)=%d, want >= len(dy)=%d", len(dst), len(x), n))
	}
	if n == 0 {
		return
	}
	active().geluGrad(dst[:n], dy, x[:n])
}

// ExpShift sets dst[i] = e^(x[i]−m) for i < len(x) with a float32 exp
// accurate to 1 ulp; arguments below about −87.3 give e^−87.3 rather than
// a subnormal or 0. dst may be x.
func ExpShift(dst, x []float32, m float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: ExpShift: len(dst)=%d < len(x)=%d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active().expShift(dst[:len(x)], x, m)
}

// checkMatrix panics unless s holds a rows×cols matrix and reports whether
// it is non-empty.
func checkMatrix(name string, s []float32, rows, cols int) bool {
	if rows < 0 || cols < 0 || len(s) < rows*cols {
		panic(fmt.Sprintf("kernels: %s: %d×%d matrix in len %d", name, rows, cols, len(s)))
	}
	return rows > 0 && cols > 0
}

// SoftmaxRows replaces each row of the row-major rows×cols matrix s by its
// softmax. The row maximum is subtracted before exp, so no input overflows;
// the sum of the exponentials is taken in float64 (see sum64).
func SoftmaxRows(s []float32, rows, cols int) {
	if !checkMatrix("SoftmaxRows", s, rows, cols) {
		return
	}
	ks := active()
	if cols < shortRow {
		softmaxShortRows(ks, s, rows, cols)
		return
	}
	softmaxEachRow(ks, s, rows, cols)
}

// shortRow is the row length below which SoftmaxRows takes the rows
// together (softmaxShortRows): a 5-token ViT's 5×5 scores made it call
// three kernels of 5 elements per row, and the calls cost more than the
// arithmetic.
const shortRow = 16

// softmaxEachRow is SoftmaxRows one row at a time: the maximum, e^(x−m) and
// the scaling each run in the kernel set.
func softmaxEachRow(ks *kernelSet, s []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		row := s[r*cols : (r+1)*cols]
		var m float32
		if ks.rowMax != nil {
			m = ks.rowMax(row)
		} else {
			m = rowMax(row)
		}
		ks.expShift(row, row, m)
		ks.scal(float32(1/sum64(row)), row)
	}
}

// softmaxShortRows is SoftmaxRows for short rows, bitwise softmaxEachRow's
// result with one exp call for the whole matrix: it subtracts each row's
// maximum in Go (one rounding, as the kernels' subtraction), so that
// e^((x−m)−0) is e^(x−m) (y−0 is y for every float32, −0 and NaN
// included), and scales in Go (one multiply, as the kernels' scal). Of
// +0 and −0 the maximum may differ from the kernel's, which changes no
// e^(x−m).
func softmaxShortRows(ks *kernelSet, s []float32, rows, cols int) {
	all := s[:rows*cols]
	for r := 0; r < rows; r++ {
		row := all[r*cols : (r+1)*cols]
		m := shortRowMax(row)
		for j := range row {
			row[j] -= m
		}
	}
	ks.expShift(all, all, 0)
	for r := 0; r < rows; r++ {
		row := all[r*cols : (r+1)*cols]
		f := float32(1 / sum64(row))
		for j := range row {
			row[j] *= f
		}
	}
}

// SoftmaxRowsGrad back-propagates through SoftmaxRows: with p the
// probabilities and dp the gradient with respect to them, it replaces each
// row of dp by p∘(dp − Σ dp∘p), the gradient with respect to the logits.
// The dot product is taken in float64 (see dot64).
func SoftmaxRowsGrad(dp, p []float32, rows, cols int) {
	if !checkMatrix("SoftmaxRowsGrad", dp, rows, cols) || !checkMatrix("SoftmaxRowsGrad", p, rows, cols) {
		return
	}
	ks := active()
	for r := 0; r < rows; r++ {
		pr, dr := p[r*cols:(r+1)*cols], dp[r*cols:(r+1)*cols]
		ks.softmaxGrad(dr, dr, pr, float32(dot64(dr, pr)))
	}
}

// LayerNorm normalises each row of d features of x:
// y = γ∘(x − μ)/√(σ² + eps) + β, with μ and the biased variance σ²
// accumulated in float64. It stores each row's μ and 1/√(σ²+eps) in mean
// and rstd for LayerNormGrad. len(x) must be a multiple of d.
func LayerNorm(y, mean, rstd, x, g, b []float32, d int, eps float64) {
	if d <= 0 || len(x)%d != 0 {
		panic(fmt.Sprintf("kernels: LayerNorm: len(x)=%d is not a multiple of d=%d", len(x), d))
	}
	rows := len(x) / d
	if len(y) < len(x) || len(mean) < rows || len(rstd) < rows || len(g) < d || len(b) < d {
		panic(fmt.Sprintf("kernels: LayerNorm: len(y)=%d len(mean)=%d len(rstd)=%d len(g)=%d len(b)=%d for %d rows of %d",
			len(y), len(mean), len(rstd), len(g), len(b), rows, d))
	}
	ks := active()
	g, b = g[:d], b[:d]
	if rows > 0 {
		ks.layerNorm(y[:rows*d], mean[:rows], rstd[:rows], x, g, b, d, eps)
	}
}

// layerNormGo is the Go twin of the layerNorm kernel: for each row of d
// features of x, mean = float32(μ) and rstd = float32(1/√(σ²+eps)) with
// μ = sum64(row)/d and σ² = sqdev64(row, μ)/d in float64, then
// y = ((x − mean)·rstd)·γ + β in float32 (lnApplyGo).
func layerNormGo(y, mean, rstd, x, g, b []float32, d int, eps float64) {
	for r := range mean {
		xr := x[r*d : (r+1)*d]
		mu := sum64(xr) / float64(d)
		q := sqdev64(xr, mu)
		mean[r], rstd[r] = float32(mu), float32(1/math.Sqrt(q/float64(d)+eps))
		lnApplyGo(y[r*d:(r+1)*d], xr, g, b, mean[r], rstd[r])
	}
}

// LayerNormGrad sets dx to the input gradient of LayerNorm for the output
// gradient dy: with x̂ = (x − μ)·rstd and g = dy∘γ,
// dx = (g − mean(g) − x̂·mean(g∘x̂))·rstd, the means in float64.
func LayerNormGrad(dx, dy, x, g, mean, rstd []float32, d int) {
	if d <= 0 || len(x)%d != 0 {
		panic(fmt.Sprintf("kernels: LayerNormGrad: len(x)=%d is not a multiple of d=%d", len(x), d))
	}
	rows := len(x) / d
	if len(dx) < len(x) || len(dy) < len(x) || len(mean) < rows || len(rstd) < rows || len(g) < d {
		panic(fmt.Sprintf("kernels: LayerNormGrad: len(dx)=%d len(dy)=%d len(mean)=%d len(rstd)=%d len(g)=%d for %d rows of %d",
			len(dx), len(dy), len(mean), len(rstd), len(g), rows, d))
	}
	ks := active()
	g = g[:d]
	for r := 0; r < rows; r++ {
		xr, dyr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d]
		m, s := mean[r], rstd[r]
		var sg, sgx float64
		for j, v := range dyr {
			gj := float64(v * g[j])
			sg += gj
			sgx += gj * float64((xr[j]-m)*s)
		}
		ks.lnGrad(dx[r*d:(r+1)*d], dyr, xr, g, m, s, float32(sg/float64(d)), float32(sgx/float64(d)))
	}
}

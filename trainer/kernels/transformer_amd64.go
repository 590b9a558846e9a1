//go:build amd64 && !purego

package kernels

func init() {
	// layerNorm is one AVX2 kernel (float64 lanes of ymm for the
	// statistics) for both sets.
	layerNorm := func(y, mean, rstd, x, g, b []float32, d int, eps float64) {
		rows := len(mean)
		_, _, _, _, _ = rstd[rows-1], x[rows*d-1], y[rows*d-1], g[d-1], b[d-1]
		layerNormAVX2(&y[0], &x[0], d, rows, eps, &g[0], &b[0], &mean[0], &rstd[0])
	}
	avx2Kernels.layerNorm, avx512Kernels.layerNorm = layerNorm, layerNorm
	avx2Kernels.gelu = func(dst, x []float32) { geluAVX2(&dst[0], &x[0], len(x)) }
	avx2Kernels.geluGrad = func(dst, dy, x []float32) { geluGradAVX2(&dst[0], &dy[0], &x[0], len(dy)) }
	avx2Kernels.expShift = func(dst, x []float32, m float32) { expShiftAVX2(&dst[0], &x[0], len(x), m) }
	avx2Kernels.softmaxGrad = func(dst, dp, p []float32, d float32) { softmaxGradAVX2(&dst[0], &dp[0], &p[0], len(dp), d) }
	avx2Kernels.lnGrad = func(dx, dy, x, g []float32, m, s, mg, mgx float32) {
		lnGradAVX2(&dx[0], &dy[0], &x[0], &g[0], len(dy), m, s, mg, mgx)
	}

	avx512Kernels.gelu = func(dst, x []float32) { geluAVX512(&dst[0], &x[0], len(x)) }
	avx512Kernels.geluGrad = func(dst, dy, x []float32) { geluGradAVX512(&dst[0], &dy[0], &x[0], len(dy)) }
	avx512Kernels.expShift = func(dst, x []float32, m float32) { expShiftAVX512(&dst[0], &x[0], len(x), m) }
	avx512Kernels.softmaxGrad = func(dst, dp, p []float32, d float32) { softmaxGradAVX512(&dst[0], &dp[0], &p[0], len(dp), d) }
	avx512Kernels.lnGrad = func(dx, dy, x, g []float32, m, s, mg, mgx float32) {
		lnGradAVX512(&dx[0], &dy[0], &x[0], &g[0], len(dy), m, s, mg, mgx)
	}
}

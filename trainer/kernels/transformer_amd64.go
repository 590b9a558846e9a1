//go:build amd64 && !purego

package kernels

func init() {
	// lnStats is one AVX2 kernel (float64 lanes of ymm) for both sets.
	lnStats := func(mean, rstd, x []float32, d int, eps float64) {
		if len(mean) == 0 {
			return
		}
		_, _ = rstd[len(mean)-1], x[len(mean)*d-1]
		lnStatsAVX2(&x[0], d, len(mean), eps, &mean[0], &rstd[0])
	}
	avx2Kernels.lnStats, avx512Kernels.lnStats = lnStats, lnStats
	avx2Kernels.gelu = func(dst, x []float32) { geluAVX2(&dst[0], &x[0], len(x)) }
	avx2Kernels.geluGrad = func(dst, dy, x []float32) { geluGradAVX2(&dst[0], &dy[0], &x[0], len(dy)) }
	avx2Kernels.expShift = func(dst, x []float32, m float32) { expShiftAVX2(&dst[0], &x[0], len(x), m) }
	avx2Kernels.softmaxGrad = func(dst, dp, p []float32, d float32) { softmaxGradAVX2(&dst[0], &dp[0], &p[0], len(dp), d) }
	avx2Kernels.lnApply = func(y, x, g, b []float32, m, r float32) { lnApplyAVX2(&y[0], &x[0], &g[0], &b[0], len(x), m, r) }
	avx2Kernels.lnGrad = func(dx, dy, x, g []float32, m, s, mg, mgx float32) {
		lnGradAVX2(&dx[0], &dy[0], &x[0], &g[0], len(dy), m, s, mg, mgx)
	}

	avx512Kernels.gelu = func(dst, x []float32) { geluAVX512(&dst[0], &x[0], len(x)) }
	avx512Kernels.geluGrad = func(dst, dy, x []float32) { geluGradAVX512(&dst[0], &dy[0], &x[0], len(dy)) }
	avx512Kernels.expShift = func(dst, x []float32, m float32) { expShiftAVX512(&dst[0], &x[0], len(x), m) }
	avx512Kernels.softmaxGrad = func(dst, dp, p []float32, d float32) { softmaxGradAVX512(&dst[0], &dp[0], &p[0], len(dp), d) }
	avx512Kernels.lnApply = func(y, x, g, b []float32, m, r float32) { lnApplyAVX512(&y[0], &x[0], &g[0], &b[0], len(x), m, r) }
	avx512Kernels.lnGrad = func(dx, dy, x, g []float32, m, s, mg, mgx float32) {
		lnGradAVX512(&dx[0], &dy[0], &x[0], &g[0], len(dy), m, s, mg, mgx)
	}
}

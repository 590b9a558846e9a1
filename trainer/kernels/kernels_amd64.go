//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// archKernelSets returns the assembly kernel sets this CPU supports, best
// first.
func archKernelSets() []*kernelSet {
	var sets []*kernelSet
	// The AVX-512 set also uses the AVX transposes and AVX2 reductions.
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, avx512Kernels)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, avx2Kernels)
	}
	return sets
}

var avx512Kernels = &kernelSet{
	name: "avx512",
	mr:   12, nr: 32,
	gemm: sgemmKernel12x32AVX512,
	gemmEdge: []gemmKernel{nil,
		sgemmKernel1of12x32AVX512, sgemmKernel2of12x32AVX512, sgemmKernel3of12x32AVX512,
		sgemmKernel4of12x32AVX512, sgemmKernel5of12x32AVX512, sgemmKernel6of12x32AVX512,
		sgemmKernel7of12x32AVX512, sgemmKernel8of12x32AVX512, sgemmKernel9of12x32AVX512,
		sgemmKernel10of12x32AVX512, sgemmKernel11of12x32AVX512},
	kc: 256, mc: 960, nc: 512,
	transpose8: transpose8x8AVX,
	transpose4: transpose4x8AVX,
	copyRows:   copyRowsAVX512,
	addRows:    addRowsAVX,
	axpy:       func(alpha float32, x, y []float32) { axpyAVX512(alpha, &x[0], &y[0], len(x)) },
	dot:        func(x, y []float32) float32 { return dotAVX512(&x[0], &y[0], len(x)) },
	scal:       func(alpha float32, x []float32) { scalAVX512(alpha, &x[0], len(x)) },
	addScaledSum: func(y, a, b []float32, k float32) {
		addScaledSumAVX512(k, &a[0], &b[0], &y[0], len(y))
	},
	relu:     func(dst, x []float32) { reluAVX512(&dst[0], &x[0], len(x)) },
	addBias:  func(dst, x []float32, b float32) { addBiasAVX512(&dst[0], &x[0], len(x), b) },
	biasRelu: func(dst, x []float32, b float32) { biasReluAVX512(&dst[0], &x[0], len(x), b) },
	reluGrad: func(dst, dy, y []float32) {
		reluGradAVX512(&dst[0], &dy[0], &y[0], len(dy))
	},
	adam: func(p, g, m, v []float32, lr, b1, c1, b2, c2, eps float32) {
		adamAVX512(&p[0], &g[0], &m[0], &v[0], len(p), lr, b1, c1, b2, c2, eps)
	},
	maxPool2x2: func(y []float32, arg []int32, x []float32, oh, ow, w int) {
		maxPool2x2AVX512(&y[0], &arg[0], &x[0], oh, ow, w)
	},
	lookupU8: func(dst []float32, src []uint8, t *[256]float32) {
		lookupU8AVX512(&dst[0], &src[0], &t[0], len(src))
	},
}

var avx2Kernels = &kernelSet{
	name: "avx2",
	mr:   6, nr: 16,
	gemm: sgemmKernel6x16AVX2,
	gemmEdge: []gemmKernel{nil,
		sgemmKernel1of6x16AVX2, sgemmKernel2of6x16AVX2, sgemmKernel3of6x16AVX2,
		sgemmKernel4of6x16AVX2, sgemmKernel5of6x16AVX2},
	kc: 256, mc: 960, nc: 512,
	transpose8: transpose8x8AVX,
	transpose4: transpose4x8AVX,
	copyRows:   copyRowsAVX,
	addRows:    addRowsAVX,
	axpy:       func(alpha float32, x, y []float32) { axpyAVX2(alpha, &x[0], &y[0], len(x)) },
	dot:        func(x, y []float32) float32 { return dotAVX2(&x[0], &y[0], len(x)) },
	scal:       func(alpha float32, x []float32) { scalAVX2(alpha, &x[0], len(x)) },
	addScaledSum: func(y, a, b []float32, k float32) {
		addScaledSumAVX2(k, &a[0], &b[0], &y[0], len(y))
	},
	relu:     func(dst, x []float32) { reluAVX2(&dst[0], &x[0], len(x)) },
	addBias:  func(dst, x []float32, b float32) { addBiasAVX2(&dst[0], &x[0], len(x), b) },
	biasRelu: func(dst, x []float32, b float32) { biasReluAVX2(&dst[0], &x[0], len(x), b) },
	reluGrad: func(dst, dy, y []float32) {
		reluGradAVX2(&dst[0], &dy[0], &y[0], len(dy))
	},
	adam: func(p, g, m, v []float32, lr, b1, c1, b2, c2, eps float32) {
		adamAVX2(&p[0], &g[0], &m[0], &v[0], len(p), lr, b1, c1, b2, c2, eps)
	},
}

//go:build amd64 && !purego

package kernels

// The attention micro-kernels of _asm/attention.go, indexed [vectors][rows].

var attnGemmAVX512 = [5][]attnKernel{nil,
	{nil, attnGemm1x1AVX512, attnGemm2x1AVX512, attnGemm3x1AVX512, attnGemm4x1AVX512, attnGemm5x1AVX512, attnGemm6x1AVX512, attnGemm7x1AVX512, attnGemm8x1AVX512, attnGemm9x1AVX512, attnGemm10x1AVX512, attnGemm11x1AVX512, attnGemm12x1AVX512},
	{nil, attnGemm1x2AVX512, attnGemm2x2AVX512, attnGemm3x2AVX512, attnGemm4x2AVX512, attnGemm5x2AVX512, attnGemm6x2AVX512, attnGemm7x2AVX512, attnGemm8x2AVX512, attnGemm9x2AVX512, attnGemm10x2AVX512, attnGemm11x2AVX512, attnGemm12x2AVX512},
	{nil, attnGemm1x3AVX512, attnGemm2x3AVX512, attnGemm3x3AVX512, attnGemm4x3AVX512, attnGemm5x3AVX512, attnGemm6x3AVX512, attnGemm7x3AVX512, attnGemm8x3AVX512},
	{nil, attnGemm1x4AVX512, attnGemm2x4AVX512, attnGemm3x4AVX512, attnGemm4x4AVX512, attnGemm5x4AVX512, attnGemm6x4AVX512},
}

var attnGemmAVX2 = [5][]attnKernel{nil,
	{nil, attnGemm1x1AVX2, attnGemm2x1AVX2, attnGemm3x1AVX2, attnGemm4x1AVX2, attnGemm5x1AVX2, attnGemm6x1AVX2, attnGemm7x1AVX2, attnGemm8x1AVX2, attnGemm9x1AVX2, attnGemm10x1AVX2, attnGemm11x1AVX2, attnGemm12x1AVX2},
	{nil, attnGemm1x2AVX2, attnGemm2x2AVX2, attnGemm3x2AVX2, attnGemm4x2AVX2, attnGemm5x2AVX2, attnGemm6x2AVX2},
	{nil, attnGemm1x3AVX2, attnGemm2x3AVX2, attnGemm3x3AVX2},
	{nil, attnGemm1x4AVX2, attnGemm2x4AVX2},
}

func init() {
	avx512Kernels.attnLanes, avx512Kernels.attnGemm = 16, &attnGemmAVX512
	avx2Kernels.attnLanes, avx2Kernels.attnGemm = 8, &attnGemmAVX2
	avx512Kernels.rowMax = func(x []float32) float32 { return rowMaxAVX512(&x[0], len(x)) }
	avx2Kernels.rowMax = func(x []float32) float32 { return rowMaxAVX2(&x[0], len(x)) }
}

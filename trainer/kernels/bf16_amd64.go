//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX2 {
		bf16Native = &bf16Kernels{
			name: "avx512bf16", mr: 12, nr: 32,
			gemm: sgemmBF16Kernel12x32AVX512,
			gemmEdge: []bf16GemmKernel{nil,
				sgemmBF16Kernel1of12x32AVX512, sgemmBF16Kernel2of12x32AVX512, sgemmBF16Kernel3of12x32AVX512,
				sgemmBF16Kernel4of12x32AVX512, sgemmBF16Kernel5of12x32AVX512, sgemmBF16Kernel6of12x32AVX512,
				sgemmBF16Kernel7of12x32AVX512, sgemmBF16Kernel8of12x32AVX512, sgemmBF16Kernel9of12x32AVX512,
				sgemmBF16Kernel10of12x32AVX512, sgemmBF16Kernel11of12x32AVX512},
			pairRows: func(dst []uint32, r0, r1 []float32) {
				if len(r0) > 0 {
					_, _ = dst[len(r0)-1], r1[len(r0)-1]
					pairRowsBF16AVX512(&dst[0], &r0[0], &r1[0], len(r0))
				}
			},
			cvt: func(dst []uint16, src []float32) {
				if len(src) > 0 {
					_ = dst[len(src)-1]
					cvtBF16AVX512(&dst[0], &src[0], len(src))
				}
			},
			transpose8: transpose8x8AVX,
			transpose4: transpose4x8AVX,
			macsPerNs:  2 * gemmMACsPerNs,
		}
		if cpu.X86.HasAMXTile && cpu.X86.HasAMXBF16 && requestAMX() {
			// A tile multiply is about 8× the VDPBF16PS rate (one
			// TDPBF16PS per 16 cycles against 32 lanes × 2 per cycle).
			bf16AMX = amxSet(bf16Native, "amxbf16", amxBF16Tiles, 16*gemmMACsPerNs)
		}
	}
}

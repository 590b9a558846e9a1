//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		s8Native = &s8Kernels{
			name: "avx512vnni",
			gemm: [s8Rows + 1]s8Kernel{nil,
				gemmU8S8Kernel1x32VNNI, gemmU8S8Kernel2x32VNNI, gemmU8S8Kernel3x32VNNI,
				gemmU8S8Kernel4x32VNNI, gemmU8S8Kernel5x32VNNI, gemmU8S8Kernel6x32VNNI,
				gemmU8S8Kernel7x32VNNI, gemmU8S8Kernel8x32VNNI, gemmU8S8Kernel9x32VNNI,
				gemmU8S8Kernel10x32VNNI, gemmU8S8Kernel11x32VNNI, gemmU8S8Kernel12x32VNNI},
			gemmRows: [s8Rows + 1]s8RowsKernel{nil,
				gemmU8S8RowsKernel1x32VNNI, gemmU8S8RowsKernel2x32VNNI, gemmU8S8RowsKernel3x32VNNI,
				gemmU8S8RowsKernel4x32VNNI, gemmU8S8RowsKernel5x32VNNI, gemmU8S8RowsKernel6x32VNNI,
				gemmU8S8RowsKernel7x32VNNI, gemmU8S8RowsKernel8x32VNNI, gemmU8S8RowsKernel9x32VNNI,
				gemmU8S8RowsKernel10x32VNNI, gemmU8S8RowsKernel11x32VNNI, gemmU8S8RowsKernel12x32VNNI},
			quantizeRows: quantizeRowsU8AVX512,
			// One VPDPBUSD is 64 multiply-adds, four times a VFMADD231PS's.
			macsPerNs: 4 * gemmMACsPerNs,
		}
	}
}

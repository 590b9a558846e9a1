// Command _asm generates the amd64 assembly of package kernels with avo.
//
// It lives in its own module so that avo never becomes a dependency of the
// main module. Run it through `go generate` in the parent directory:
//
//	go run . -out ../kernels_amd64.s -stubs ../kernels_amd64_stub.go -pkg kernels
//
// Every kernel is emitted twice, once for AVX2+FMA (16 ymm registers, 8 lanes)
// and once for AVX-512F (32 zmm registers, 16 lanes). Register names are
// fixed by hand rather than left to avo's allocator: the SGEMM micro-kernels
// are all about register budgeting, and the vector kernels are simple enough
// that explicit names make the output easier to read next to the source.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa describes one vector instruction set.
type isa struct {
	suffix string // appended to function names: "AVX2" or "AVX512"
	lanes  int    // float32 lanes per vector register
	regs   []VecPhysical
	avx512 bool
}

func (s isa) vbytes() int { return 4 * s.lanes }

var avx2 = isa{
	suffix: "AVX2",
	lanes:  8,
	regs:   []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15},
}

var avx512 = isa{
	suffix: "AVX512",
	lanes:  16,
	regs: []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31},
	avx512: true,
}

// lowMask sets each mask register of ks to the low CL bits, (1 << n) - 1
// for the n elements of a masked tail (n in RCX, below 16). It clobbers EAX.
func lowMask(ks ...Op) {
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	for _, k := range ks {
		KMOVW(EAX, k)
	}
}

// param returns the frame address of a named argument.
func param(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func main() {
	ConstraintExpr("amd64,!purego")

	// Masks for the AVX2 tails: loading 8 dwords at masktab + 4*(8-r)
	// yields r all-ones lanes followed by zero lanes.
	masktab := GLOBL("masktab", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}

	gemmKernel(avx2, 6, 6, 2)
	gemmKernel(avx512, 12, 12, 2)
	for rows := 1; rows < 6; rows++ {
		gemmKernel(avx2, rows, 6, 2)
	}
	for rows := 1; rows < 12; rows++ {
		gemmKernel(avx512, rows, 12, 2)
	}

	transpose(8)
	transpose(4)
	rowsAVX(false)
	rowsAVX(true)
	copyRowsAVX512()
	maxPool2x2()

	emitTFTable()
	for _, s := range []isa{avx2, avx512} {
		transformerKernels(s, masktab)
		axpy(s, masktab)
		dot(s, masktab)
		scal(s, masktab)
		addScaledSum(s, masktab)
		relu(s, masktab)
		bias(s, masktab, false)
		bias(s, masktab, true)
		reluGrad(s, masktab)
		adam(s, masktab)
		attnKernels(s, masktab)
		rowMaxKernel(s, masktab)
	}

	layerNormRows(masktab)
	lookupU8()
	bf16Kernels()
	int8Kernels()
	amxKernels()

	Generate()
}

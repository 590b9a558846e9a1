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
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gemmKernel emits sgemmKernel<mr>x<nr><ISA>, the register-blocked SGEMM
// micro-kernel. It multiplies a packed mr×k panel of A (stored k-major: mr
// values per step) with a packed k×nr panel of B (nr values per step) and
// writes C = alpha*A*B + beta*C into an mr×nr tile of row-major C with row
// stride ldc elements. beta == 0 (of either sign) stores without reading C.
// A non-nil bias (nr values) is then added to every row, one rounded add:
// a dense layer's bias in the product's epilogue, bitwise what C filled
// with the bias and beta 1 gave (an FMA with factor 1 rounds as the add),
// without writing C first and reading it back.
//
// The tile is held in mr*nv accumulators, nv = nr/lanes. Per step of k it
// loads nv vectors of B and broadcasts each of the mr A values once, then
// issues mr*nv FMAs, so the FMA units, not the load ports, set the pace.
//
// With stride > mr it emits sgemmKernel<mr>of<stride>x<nr><ISA> instead: the
// first mr rows of a panel packed stride rows wide, for the last panel of an
// A whose height is not a multiple of stride. Each element is summed by the
// same chain of FMAs as in the full kernel, so edge rows round identically.
func gemmKernel(s isa, mr, stride, nv int) {
	nr := nv * s.lanes
	name := fmt.Sprintf("sgemmKernel%dx%d%s", mr, nr, s.suffix)
	doc := fmt.Sprintf("%s computes C = alpha*A*B + beta*C (+ bias) for one %d×%d tile from packed panels.", name, mr, nr)
	if stride != mr {
		name = fmt.Sprintf("sgemmKernel%dof%dx%d%s", mr, stride, nr, s.suffix)
		doc = fmt.Sprintf("%s computes C = alpha*A*B + beta*C (+ bias) for a %d×%d tile from the first %d rows of a %d-row A panel.", name, mr, nr, mr, stride)
	}
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32)")
	Pragma("noescape")
	Doc(doc)

	nacc := mr * nv
	if nacc+nv+2 > len(s.regs) {
		panic("register budget exceeded")
	}
	acc := func(r, v int) VecPhysical { return s.regs[r*nv+v] }
	breg := func(v int) VecPhysical { return s.regs[nacc+v] }
	bcast := func(i int) VecPhysical { return s.regs[nacc+nv+i%2] }

	k, pa, pb, pc, ldc, t := RCX, RSI, RDX, RDI, R8, R9
	MOVQ(param("k"), k)
	MOVQ(param("a"), pa)
	MOVQ(param("b"), pb)
	MOVQ(param("c"), pc)
	MOVQ(param("ldc"), ldc)
	SHLQ(U8(2), ldc)

	// Pull the C tile towards L1 while the products are being summed.
	MOVQ(pc, t)
	for r := 0; r < mr; r++ {
		PREFETCHT0(Mem{Base: t})
		PREFETCHT0(Mem{Base: t, Disp: 4*nr - 4})
		ADDQ(ldc, t)
	}

	for i := 0; i < nacc; i++ {
		VXORPS(s.regs[i], s.regs[i], s.regs[i])
	}

	step := func(u int) {
		bo := u * nr * 4
		ao := u * stride * 4
		for v := 0; v < nv; v++ {
			VMOVUPS(Mem{Base: pb, Disp: bo + v*s.vbytes()}, breg(v))
		}
		for r := 0; r < mr; r++ {
			VBROADCASTSS(Mem{Base: pa, Disp: ao + 4*r}, bcast(r))
			for v := 0; v < nv; v++ {
				VFMADD231PS(breg(v), bcast(r), acc(r, v))
			}
		}
	}

	const unroll = 4
	MOVQ(k, t)
	SHRQ(U8(2), t)
	JZ(LabelRef(name + "_rem"))
	Label(name + "_loop4")
	// Prefetch B a few steps ahead; A is resident in L1.
	PREFETCHT0(Mem{Base: pb, Disp: 8 * nr * 4})
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*stride*4), pa)
	ADDQ(U32(unroll*nr*4), pb)
	DECQ(t)
	JNZ(LabelRef(name + "_loop4"))

	Label(name + "_rem")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_loop1")
	step(0)
	ADDQ(U32(stride*4), pa)
	ADDQ(U32(nr*4), pb)
	DECQ(k)
	JNZ(LabelRef(name + "_loop1"))

	Label(name + "_store")
	valpha := breg(0)
	VBROADCASTSS(param("alpha"), valpha)
	for i := 0; i < nacc; i++ {
		VMULPS(valpha, s.regs[i], s.regs[i])
	}
	MOVL(param("beta"), EAX)
	TESTL(U32(0x7fffffff), EAX)
	JZ(LabelRef(name + "_bias"))
	vbeta := breg(1)
	VBROADCASTSS(param("beta"), vbeta)
	MOVQ(pc, t)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VFMADD231PS(Mem{Base: t, Disp: v * s.vbytes()}, vbeta, acc(r, v))
		}
		if r < mr-1 {
			ADDQ(ldc, t)
		}
	}
	Label(name + "_bias")
	addBias(name, func(i int) VecPhysical { return s.regs[i] }, mr, nv, s.vbytes())
	Label(name + "_write")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc(r, v), Mem{Base: pc, Disp: v * s.vbytes()})
		}
		if r < mr-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

// addBias emits the micro-kernels' bias epilogue: unless the bias argument
// is nil, one VADDPS of bias vector v (read from memory, no register
// taken) into accumulator acc(r*nv+v) of every row r. It jumps to
// name_write when there is no bias.
func addBias(name string, acc func(i int) VecPhysical, mr, nv, vbytes int) {
	MOVQ(param("bias"), RAX)
	TESTQ(RAX, RAX)
	JZ(LabelRef(name + "_write"))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VADDPS(Mem{Base: RAX, Disp: v * vbytes}, acc(r*nv+v), acc(r*nv+v))
		}
	}
}

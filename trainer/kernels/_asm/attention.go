package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The attention heads' small products. A ViT head multiplies 50×16 and
// 50×50 matrices six times per sample; through the packed SGEMM most of
// that time is packing, and a 16-wide output fills half of a 32-wide
// micro-tile. smallGemm multiplies straight from the operands instead:
// rows of B are loaded as they lie in memory (the last vector of a row
// masked), the values of A are broadcast from wherever they are (any row
// and column stride, so A and Aᵀ are the same kernel), and each element of
// C is one chain of FMAs over k in order, started from zero and scaled by
// alpha at the end, whatever the tile shape: the AVX2 and AVX-512 kernels,
// and attnGemmGo in the Go set, round alike. A one-vector AVX-512 tile
// broadcasts A inside the FMA; wider tiles broadcast each value once into a
// register, which keeps the loads below the FMAs.

// attnMaxRows is the largest tile height for nv vectors per row.
func attnMaxRows(s isa, nv int) int {
	if s.avx512 {
		return [...]int{0, 12, 12, 8, 6}[nv]
	}
	return [...]int{0, 12, 6, 3, 2}[nv]
}

// attnGemm emits attnGemm<mr>x<nv><ISA>:
//
//	C[r*ldc+j] = alpha * Σ_{p<k} A[r*ars+p*acs] * B[p*ldb+j]
//
// for r < mr and j < (nv−1)·lanes + tail, 1 <= tail <= lanes. C is
// written, never read.
func attnGemm(s isa, masktab Mem, mr, nv int) {
	name := fmt.Sprintf("attnGemm%dx%d%s", mr, nv, s.suffix)
	TEXT(name, NOSPLIT, "func(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, alpha float32, tail int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes C = alpha*A*B for %d rows and %d vectors of columns, the last one tail lanes wide, with A read at any strides.", name, mr, nv))

	nacc := mr * nv
	acc := func(r, v int) VecPhysical { return s.regs[r*nv+v] }
	breg := func(v int) VecPhysical { return s.regs[nacc+v] }
	bc := s.regs[nacc+nv]
	mask := tailMaskReg(s)
	if nacc+nv+2 > len(s.regs) {
		panic("register budget exceeded")
	}

	// Tail mask first: the AVX-512 shift needs CL.
	if s.avx512 {
		MOVQ(param("tail"), RCX)
		lowMask(K1)
	} else {
		MOVQ(U32(8), RAX)
		SUBQ(param("tail"), RAX)
		LEAQ(masktab, RBX)
		VMOVUPS(Mem{Base: RBX, Index: RAX, Scale: 4}, mask)
	}

	k, pb, rs, cs, ldb, pc, ldc := RCX, RDX, R8, R9, R10, RBX, R13
	bases := []GPPhysical{RSI, RDI, R11, R12}
	nb := (mr + 2) / 3
	MOVQ(param("k"), k)
	MOVQ(param("b"), pb)
	MOVQ(param("ars"), rs)
	SHLQ(U8(2), rs)
	MOVQ(param("acs"), cs)
	SHLQ(U8(2), cs)
	MOVQ(param("ldb"), ldb)
	SHLQ(U8(2), ldb)
	MOVQ(param("a"), bases[0])
	if nb > 1 {
		LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, RAX) // 3 rows
		for j := 1; j < nb; j++ {
			MOVQ(bases[j-1], bases[j])
			ADDQ(RAX, bases[j])
		}
	}
	aAddr := func(r int) Mem {
		m := Mem{Base: bases[r/3]}
		if r%3 != 0 {
			m.Index, m.Scale = rs, uint8(r%3)
		}
		return m
	}

	for i := 0; i < nacc; i++ {
		VXORPS(s.regs[i], s.regs[i], s.regs[i])
	}
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))

	Label(name + "_loop")
	for v := 0; v < nv; v++ {
		m := Mem{Base: pb, Disp: v * s.vbytes()}
		switch {
		case v < nv-1:
			VMOVUPS(m, breg(v))
		case s.avx512:
			VMOVUPS_Z(m, K1, breg(v))
		default:
			VMASKMOVPS(m, mask, breg(v))
		}
	}
	for r := 0; r < mr; r++ {
		if s.avx512 && nv == 1 {
			for v := 0; v < nv; v++ {
				VFMADD231PS_BCST(aAddr(r), breg(v), acc(r, v))
			}
		} else {
			VBROADCASTSS(aAddr(r), bc)
			for v := 0; v < nv; v++ {
				VFMADD231PS(breg(v), bc, acc(r, v))
			}
		}
	}
	for j := 0; j < nb; j++ {
		ADDQ(cs, bases[j])
	}
	ADDQ(ldb, pb)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_store")
	MOVQ(param("c"), pc)
	MOVQ(param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	valpha := breg(0)
	VBROADCASTSS(param("alpha"), valpha)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMULPS(valpha, acc(r, v), acc(r, v))
			m := Mem{Base: pc, Disp: v * s.vbytes()}
			switch {
			case v < nv-1:
				VMOVUPS(acc(r, v), m)
			case s.avx512:
				VMOVUPS(acc(r, v), K1, m)
			default:
				VMASKMOVPS(acc(r, v), mask, m)
			}
		}
		if r < mr-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

func attnKernels(s isa, masktab Mem) {
	for nv := 1; nv <= 4; nv++ {
		for mr := 1; mr <= attnMaxRows(s, nv); mr++ {
			attnGemm(s, masktab, mr, nv)
		}
	}
}

// rowMaxKernel emits rowMax<ISA>(x *float32, n int) float32, the largest
// of n >= 1 elements, or NaN if one is NaN: the maximum is exact, so any
// order of comparisons gives the Go rowMax's result (of +0 and −0 either,
// which changes no e^(x−m)). Four running maxima start from x[0]; the
// masked tail fills its empty lanes with elements already seen. NaNs are tracked apart,
// since MAXPS drops them.
func rowMaxKernel(s isa, masktab Mem) {
	name := "rowMax" + s.suffix
	TEXT(name, NOSPLIT, "func(x *float32, n int) float32")
	Pragma("noescape")
	Doc(name + " returns the largest of n >= 1 elements, or NaN if one is NaN.")
	x, n := RSI, RCX
	MOVQ(param("x"), x)
	MOVQ(param("n"), n)
	acc := s.regs[0:4]
	ld := s.regs[4:8]
	nanv := s.regs[8] // AVX2 NaN lanes
	tmp := s.regs[9]
	mask := tailMaskReg(s)
	VBROADCASTSS(Mem{Base: x}, acc[0])
	for i := 1; i < 4; i++ {
		VMOVAPS(acc[0], acc[i])
	}
	if s.avx512 {
		KXORW(K3, K3, K3)
	} else {
		VXORPS(nanv, nanv, nanv)
	}
	see := func(v, a VecPhysical) {
		VMAXPS(v, a, a)
		if s.avx512 {
			VCMPPS(U8(3), v, v, K2)
			KORW(K2, K3, K3)
		} else {
			VCMPPS(U8(3), v, v, tmp)
			VORPS(tmp, nanv, nanv)
		}
	}
	Label(name + "_loop4")
	CMPQ(n, U32(4*s.lanes))
	JL(LabelRef(name + "_loop1"))
	for u := 0; u < 4; u++ {
		VMOVUPS(Mem{Base: x, Disp: u * s.vbytes()}, ld[u])
	}
	for u := 0; u < 4; u++ {
		see(ld[u], acc[u])
	}
	ADDQ(U32(4*s.vbytes()), x)
	SUBQ(U32(4*s.lanes), n)
	JMP(LabelRef(name + "_loop4"))

	Label(name + "_loop1")
	CMPQ(n, U32(s.lanes))
	JL(LabelRef(name + "_tail"))
	VMOVUPS(Mem{Base: x}, ld[0])
	see(ld[0], acc[0])
	ADDQ(U32(s.vbytes()), x)
	SUBQ(U32(s.lanes), n)
	JMP(LabelRef(name + "_loop1"))

	Label(name + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_reduce"))
	if s.avx512 {
		lowMask(K1)
		VMOVAPS(acc[1], ld[0]) // elements already seen in the lanes the load leaves
		VMOVUPS(Mem{Base: x}, K1, ld[0])
	} else {
		MOVQ(U32(8), RAX)
		SUBQ(n, RAX)
		LEAQ(masktab, RBX)
		VMOVUPS(Mem{Base: RBX, Index: RAX, Scale: 4}, mask)
		VMASKMOVPS(Mem{Base: x}, mask, ld[0])
		VBLENDVPS(mask, ld[0], acc[1], ld[0])
	}
	see(ld[0], acc[0])

	Label(name + "_reduce")
	VMAXPS(acc[1], acc[0], acc[0])
	VMAXPS(acc[3], acc[2], acc[2])
	VMAXPS(acc[2], acc[0], acc[0])
	if s.avx512 {
		VEXTRACTF64X4(U8(1), Z0, Y1)
		VMAXPS(Y1, Y0, Y0)
	}
	VEXTRACTF128(U8(1), Y0, X1)
	VMAXPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VMAXPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VMAXSS(X1, X0, X0)
	ret, err := ReturnIndex(0).Resolve()
	if err != nil {
		panic(err)
	}
	if s.avx512 {
		KORTESTW(K3, K3)
	} else {
		VMOVMSKPS(nanv, EAX)
		TESTL(EAX, EAX)
	}
	JNZ(LabelRef(name + "_nan"))
	VMOVSS(X0, ret.Addr)
	VZEROUPPER()
	RET()
	Label(name + "_nan")
	MOVL(U32(0x7fc00000), ret.Addr)
	VZEROUPPER()
	RET()
}

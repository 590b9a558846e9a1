package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The int8 GEMM needs VPDPBUSD (AVX512_VNNI), which avo does not know.
// vpdpbusd emits it as raw bytes in its one form used here, all registers:
// VPDPBUSD zmm_acc, zmm_u, zmm_s, that is, for each of the 16 dword lanes i,
// acc[i] += Σ_{b<4} uint8(u.byte[4i+b]) * int8(s.byte[4i+b]), summed exactly
// and wrapped (not saturated) to int32. The unsigned operand is the EVEX
// vvvv register and the signed one the ModRM rm register. The prefix is 62,
// P0 = R̄ X̄ B̄ R̄' 0 0 m m (mm = 10: the 0F38 map; X̄ extends rm to the upper
// 16 registers in register form), P1 = W v̄v̄v̄v̄ 1 pp (W 0, pp 01: 66),
// P2 = z L'L b V̄' aaa (L'L 10: 512 bits), then opcode 50 and ModRM 11 acc rm.
func vpdpbusd(acc, u, s int) {
	p0 := invBit(acc>>3)<<7 | invBit(s>>4)<<6 | invBit(s>>3)<<5 | invBit(acc>>4)<<4 | 0b10
	p1 := byte(0)<<7 | byte(^u&15)<<3 | 1<<2 | 0b01
	p2 := byte(0)<<7 | 0b10<<5 | invBit(u>>4)<<3
	modrm := byte(0b11<<6 | (acc&7)<<3 | s&7)
	rawBytes(fmt.Sprintf("VPDPBUSD Z%d, Z%d, Z%d", s, u, acc), 0x62, p0, p1, p2, 0x50, modrm)
}

// gemmU8S8Kernel emits gemmU8S8Kernel<mr>x32VNNI: mr rows of A times one
// 32-column panel of int8 weights. A is read straight from the caller's
// rows, row r at a + r*lda: for each of kq quads of steps it broadcasts the
// dword of 4 pixels of each row and issues one VPDPBUSD per row and vector
// of 16 columns (the pixels the unsigned operand, the panel's quad, 32
// dwords of 4 weights, the signed one) into 2*mr zmm accumulators. When
// tail is not nil, one more quad is read from it, row r at tail + 4r,
// against the panel's next quad (the k%4 steps the driver has copied into a
// zero-padded quad per row, which could not be read in place). The tile is
// written as C = float32(acc)*scale + bias with a separate multiply and add
// (no FMA), which the Go twin reproduces exactly.
//
// Twelve rows are addressed from three base pointers, one per group of four
// rows, with lda and 3*lda as index registers (scales 1 and 2 giving rows 1
// and 2 of a group), so that the rows cost 5 general registers, not 12.
//
// With rowScaled, it emits gemmU8S8RowsKernel<mr>x32VNNI instead, which has
// one more argument, rowScale, and writes C = (float32(acc)*scale)*rowScale[r]
// + bias, one more VMULPS by row r's broadcast scale: a kernel apart, so
// that GemmU8S8's epilogue does not pay for it.
func gemmU8S8Kernel(mr int, rowScaled bool) {
	const nv = 2
	name := fmt.Sprintf("gemmU8S8Kernel%dx32VNNI", mr)
	if rowScaled {
		name = fmt.Sprintf("gemmU8S8RowsKernel%dx32VNNI", mr)
		TEXT(name, NOSPLIT, "func(kq int, a *uint8, lda int, tail *uint8, b *int8, c *float32, ldc int, scale, bias, rowScale *float32)")
		Pragma("noescape")
		Doc(fmt.Sprintf("%s sets C = float32(A*B)*scale*rowScale + bias for a %d×32 tile: A's rows read in place, B a packed int8 panel.", name, mr))
	} else {
		TEXT(name, NOSPLIT, "func(kq int, a *uint8, lda int, tail *uint8, b *int8, c *float32, ldc int, scale, bias *float32)")
		Pragma("noescape")
		Doc(fmt.Sprintf("%s sets C = float32(A*B)*scale + bias for a %d×32 tile: A's rows read in place, B a packed int8 panel.", name, mr))
	}
	regs := avx512.regs
	acc := func(r, v int) int { return r*nv + v }
	breg := func(v int) int { return 24 + v }
	bcast := func(r int) int { return 26 + r%6 }

	kq, pb, lda, lda3, tail, pc, ldc, t := RCX, RDX, R8, R9, RBX, RDI, R12, R13
	bases := []GPPhysical{RSI, R10, R11}[:(mr+3)/4]
	MOVQ(param("kq"), kq)
	MOVQ(param("a"), bases[0])
	MOVQ(param("lda"), lda)
	MOVQ(param("tail"), tail)
	MOVQ(param("b"), pb)
	MOVQ(param("c"), pc)
	MOVQ(param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	for g := 1; g < len(bases); g++ {
		LEAQ(Mem{Base: bases[g-1], Index: lda, Scale: 4}, bases[g])
	}
	row := func(r, disp int) Mem {
		m := Mem{Base: bases[r/4], Disp: disp}
		switch r % 4 {
		case 1:
			m.Index, m.Scale = lda, 1
		case 2:
			m.Index, m.Scale = lda, 2
		case 3:
			m.Index, m.Scale = lda3, 1
		}
		return m
	}
	for i := 0; i < mr*nv; i++ {
		VPXORD(regs[i], regs[i], regs[i])
	}
	// quad multiplies the panel's quad at pb+bo by the rows' dwords at
	// rowAt(r).
	quad := func(bo int, rowAt func(r int) Mem) {
		for v := 0; v < nv; v++ {
			VMOVDQU32(Mem{Base: pb, Disp: bo + v*64}, regs[breg(v)])
		}
		for r := 0; r < mr; r++ {
			VPBROADCASTD(rowAt(r), regs[bcast(r)])
			for v := 0; v < nv; v++ {
				vpdpbusd(acc(r, v), bcast(r), breg(v))
			}
		}
	}
	advance := func(quads int) {
		for _, p := range bases {
			ADDQ(U8(4*quads), p)
		}
		ADDQ(U32(quads*32*4), pb)
	}
	const unroll = 4
	MOVQ(kq, t)
	SHRQ(U8(2), t)
	JZ(LabelRef(name + "_rem"))
	Label(name + "_loop4")
	PREFETCHT0(Mem{Base: pb, Disp: 8 * 32 * 4})
	PREFETCHT0(Mem{Base: pb, Disp: 8*32*4 + 64})
	for u := 0; u < unroll; u++ {
		quad(u*32*4, func(r int) Mem { return row(r, 4*u) })
	}
	advance(unroll)
	DECQ(t)
	JNZ(LabelRef(name + "_loop4"))
	Label(name + "_rem")
	ANDQ(U8(unroll-1), kq)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop1")
	quad(0, func(r int) Mem { return row(r, 0) })
	advance(1)
	DECQ(kq)
	JNZ(LabelRef(name + "_loop1"))

	Label(name + "_tail")
	TESTQ(tail, tail)
	JZ(LabelRef(name + "_store"))
	quad(0, func(r int) Mem { return Mem{Base: tail, Disp: 4 * r} })

	Label(name + "_store")
	vscale := []VecPhysical{regs[24], regs[25]}
	vbias := []VecPhysical{regs[26], regs[27]}
	MOVQ(param("scale"), t)
	MOVQ(param("bias"), kq)
	for v := 0; v < nv; v++ {
		VMOVUPS(Mem{Base: t, Disp: v * 64}, vscale[v])
		VMOVUPS(Mem{Base: kq, Disp: v * 64}, vbias[v])
	}
	rs, vrs := RAX, regs[28]
	if rowScaled {
		MOVQ(param("rowScale"), rs)
	}
	for r := 0; r < mr; r++ {
		if rowScaled {
			VBROADCASTSS(Mem{Base: rs, Disp: 4 * r}, vrs)
		}
		for v := 0; v < nv; v++ {
			z := regs[acc(r, v)]
			VCVTDQ2PS(z, z)
			VMULPS(vscale[v], z, z)
			if rowScaled {
				VMULPS(vrs, z, z)
			}
			VADDPS(vbias[v], z, z)
			VMOVUPS(z, Mem{Base: pc, Disp: v * 64})
		}
		if r < mr-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

// quantizeRowsU8 emits quantizeRowsU8AVX512, QuantizeRowsU8 for m >= 1
// rows of k >= 1 values, in two passes over each row, the second reading
// the row from L1.
//
// The first finds the largest finite value: each vector is compared with
// +Inf (less than, ordered: false for NaN and +Inf) and only the lanes that
// pass are maxed into one of four accumulators, which start at +0. The
// accumulator is MAXPS's second source, the one it returns on a tie, so
// that a -0 never replaces the +0 and mx is never -0. The masked tail
// loads zeros into the lanes past k, which change no maximum. All lanes
// being ordered, the reduction's order does not matter.
//
// Then inv = 255/mx and scale = mx/255 (DIVSS), replaced by 0 and 1 when
// inv is infinite, as in the Go rowScaleU8, and the second pass writes
// VPMOVUSDB(max(0, VCVTPS2DQ(x*inv))) with the conversion rounding to
// nearest even by its embedded rounding, whatever MXCSR says. NaN and
// infinite products convert to 0x80000000, which the max with 0 clears
// along with the negatives; the unsigned saturation clamps at 255.
func quantizeRowsU8() {
	name := "quantizeRowsU8AVX512"
	TEXT(name, NOSPLIT, "func(m, k int, x *float32, ldx int, dst *uint8, ldd int, scale *float32)")
	Pragma("noescape")
	Doc(name + " quantizes m >= 1 rows of k >= 1 float32 values to bytes with one scale per row, as QuantizeRowsU8 defines.")
	m, k, px, ldx, pd, ldd, ps := R8, R9, RSI, R10, RDI, R11, R12
	cx, cd, n := RBX, R13, RDX
	MOVQ(param("m"), m)
	MOVQ(param("k"), k)
	MOVQ(param("x"), px)
	MOVQ(param("ldx"), ldx)
	SHLQ(U8(2), ldx)
	MOVQ(param("dst"), pd)
	MOVQ(param("ldd"), ldd)
	MOVQ(param("scale"), ps)
	// K1 is the tail's mask, the same for every row.
	MOVQ(k, RCX)
	ANDQ(U8(15), RCX)
	lowMask(K1)
	acc := []VecPhysical{Z0, Z1, Z2, Z3}
	ld := []VecPhysical{Z4, Z5, Z6, Z7}
	vinv, zero, vinf := Z8, Z30, Z31
	MOVL(U32(0x7f800000), EAX)
	VPBROADCASTD(EAX, vinf)
	VPXORD(zero, zero, zero)

	Label(name + "_row")
	for _, a := range acc {
		VPXORD(a, a, a)
	}
	// see maxes the finite lanes of v into a.
	see := func(v, a VecPhysical) {
		VCMPPS(U8(0x11), vinf, v, K2) // v < +Inf, ordered
		VMAXPS(a, v, K2, a)
	}
	MOVQ(px, cx)
	MOVQ(k, n)
	Label(name + "_max4")
	CMPQ(n, U8(64))
	JL(LabelRef(name + "_max1"))
	for u := range ld {
		VMOVUPS(Mem{Base: cx, Disp: 64 * u}, ld[u])
	}
	for u := range ld {
		see(ld[u], acc[u])
	}
	ADDQ(U32(256), cx)
	SUBQ(U8(64), n)
	JMP(LabelRef(name + "_max4"))
	Label(name + "_max1")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_maxtail"))
	VMOVUPS(Mem{Base: cx}, ld[0])
	see(ld[0], acc[0])
	ADDQ(U8(64), cx)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_max1"))
	Label(name + "_maxtail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_reduce"))
	VMOVUPS_Z(Mem{Base: cx}, K1, ld[0])
	see(ld[0], acc[1])

	Label(name + "_reduce")
	VMAXPS(Z1, Z0, Z0)
	VMAXPS(Z3, Z2, Z2)
	VMAXPS(Z2, Z0, Z0)
	VEXTRACTF64X4(U8(1), Z0, Y1)
	VMAXPS(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VMAXPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VMAXPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VMAXSS(X1, X0, X0) // mx

	MOVL(U32(0x437f0000), EAX) // 255
	VMOVD(EAX, X1)
	VDIVSS(X0, X1, X2) // inv = 255/mx
	VDIVSS(X1, X0, X3) // scale = mx/255
	VMOVD(X2, EAX)
	ANDL(U32(0x7fffffff), EAX)
	CMPL(EAX, U32(0x7f800000))
	JNE(LabelRef(name + "_scaled"))
	VXORPS(X2, X2, X2)
	MOVL(U32(0x3f800000), EAX) // 1
	VMOVD(EAX, X3)
	Label(name + "_scaled")
	VMOVSS(X3, Mem{Base: ps})
	VBROADCASTSS(X2, vinv)

	// quant converts the products in v to bytes at out, the lanes of mask
	// (all of them if nil).
	quant := func(v VecPhysical, out Mem, mask Op) {
		VCVTPS2DQ_RN_SAE(v, v)
		VPMAXSD(zero, v, v)
		if mask == nil {
			VPMOVUSDB(v, out)
		} else {
			VPMOVUSDB(v, mask, out)
		}
	}
	MOVQ(px, cx)
	MOVQ(pd, cd)
	MOVQ(k, n)
	Label(name + "_q4")
	CMPQ(n, U8(64))
	JL(LabelRef(name + "_q1"))
	for u := range ld {
		VMULPS(Mem{Base: cx, Disp: 64 * u}, vinv, ld[u])
	}
	for u := range ld {
		quant(ld[u], Mem{Base: cd, Disp: 16 * u}, nil)
	}
	ADDQ(U32(256), cx)
	ADDQ(U8(64), cd)
	SUBQ(U8(64), n)
	JMP(LabelRef(name + "_q4"))
	Label(name + "_q1")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_qtail"))
	VMULPS(Mem{Base: cx}, vinv, ld[0])
	quant(ld[0], Mem{Base: cd}, nil)
	ADDQ(U8(64), cx)
	ADDQ(U8(16), cd)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_q1"))
	Label(name + "_qtail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_next"))
	VMOVUPS_Z(Mem{Base: cx}, K1, ld[0])
	VMULPS(vinv, ld[0], ld[0])
	quant(ld[0], Mem{Base: cd}, K1)

	Label(name + "_next")
	ADDQ(ldx, px)
	ADDQ(ldd, pd)
	ADDQ(U8(4), ps)
	DECQ(m)
	JNZ(LabelRef(name + "_row"))
	VZEROUPPER()
	RET()
}

func int8Kernels() {
	for rows := 1; rows <= 12; rows++ {
		gemmU8S8Kernel(rows, false)
	}
	for rows := 1; rows <= 12; rows++ {
		gemmU8S8Kernel(rows, true)
	}
	quantizeRowsU8()
}

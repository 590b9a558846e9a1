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

func int8Kernels() {
	for rows := 1; rows <= 12; rows++ {
		gemmU8S8Kernel(rows, false)
	}
	for rows := 1; rows <= 12; rows++ {
		gemmU8S8Kernel(rows, true)
	}
}

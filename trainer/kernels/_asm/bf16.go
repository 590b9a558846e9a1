package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The bf16 kernels need VDPBF16PS (AVX512_BF16), which neither avo nor the Go
// assembler knows. vdpbf16psBcst emits it as raw bytes in its one form used
// here: VDPBF16PS zmm_acc, zmm_b, m32bcst [base+disp], that is, for each of the
// 16 lanes i, acc[i] += b.bf16[2i+1]*m.bf16[1] + b.bf16[2i]*m.bf16[0] with the
// dword at base+disp broadcast. The EVEX prefix is built from the register
// numbers: 62, P0 = R̄ X̄ B̄ R̄' 0 0 m m (mm = 10: the 0F38 map), P1 = W v̄v̄v̄v̄ 1
// pp (W 0, pp 10: F3), P2 = z L'L b V̄' aaa (L'L 10: 512 bits, b 1: broadcast),
// then opcode 52 and ModRM with an 8-bit displacement scaled by 4 (EVEX's
// compressed disp8*N, N = 4 for a 32-bit broadcast) or a 32-bit one.
func vdpbf16psBcst(acc, b int, base GPPhysical, disp int) {
	if disp%4 != 0 {
		panic("vdpbf16ps: displacement not a multiple of 4")
	}
	bn := gpn(base)
	if bn&7 == 4 || bn&7 == 5 {
		panic("vdpbf16ps: base register needs a SIB byte or has no mod 00 form")
	}
	p0 := invBit(acc>>3)<<7 | 1<<6 | invBit(bn>>3)<<5 | invBit(acc>>4)<<4 | 0b10
	p1 := byte(0)<<7 | byte(^b&15)<<3 | 1<<2 | 0b10
	p2 := byte(0)<<7 | 0b10<<5 | 1<<4 | invBit(b>>4)<<3
	bytes := []byte{0x62, p0, p1, p2, 0x52}
	modrm := func(mod int) byte { return byte(mod<<6 | (acc&7)<<3 | bn&7) }
	switch {
	case disp == 0:
		bytes = append(bytes, modrm(0))
	case disp/4 >= -128 && disp/4 <= 127:
		bytes = append(bytes, modrm(1), byte(int8(disp/4)))
	default:
		bytes = append(bytes, modrm(2), byte(disp), byte(disp>>8), byte(disp>>16), byte(disp>>24))
	}
	rawBytes(fmt.Sprintf("VDPBF16PS.BCST %d(%s), Z%d, Z%d", disp, base.Asm(), b, acc), bytes...)
}

// gemmBF16Kernel emits sgemmBF16Kernel<mr>x32AVX512 (or, with stride > mr,
// sgemmBF16Kernel<mr>of<stride>x32AVX512 for the first mr rows of a
// stride-row panel): the bf16 micro-kernel. A is a packed panel of kp pairs
// of steps of k, stride dwords per pair, each dword the bf16 values of one
// row at steps 2t (low half) and 2t+1 (high half); B is a packed panel of kp
// pairs, 32 dwords per pair, laid out the same way per column. The 12×32 tile
// is summed in float32 in 24 zmm accumulators, one VDPBF16PS per row and
// vector per pair, then written as C = alpha*acc + beta*C with a separate
// multiply and add (no FMA), which the Go twin reproduces exactly, and a
// non-nil bias (32 values) added to every row (see addBias).
func gemmBF16Kernel(mr, stride int) {
	const nv = 2
	name := fmt.Sprintf("sgemmBF16Kernel%dx32AVX512", mr)
	doc := fmt.Sprintf("%s computes C = alpha*A*B + beta*C (+ bias) for one %d×32 tile from packed bf16 pair panels.", name, mr)
	if stride != mr {
		name = fmt.Sprintf("sgemmBF16Kernel%dof%dx32AVX512", mr, stride)
		doc = fmt.Sprintf("%s computes C = alpha*A*B + beta*C (+ bias) for a %d×32 tile from the first %d rows of a %d-row bf16 A panel.", name, mr, mr, stride)
	}
	TEXT(name, NOSPLIT, "func(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32, bias *float32)")
	Pragma("noescape")
	Doc(doc)
	regs := avx512.regs
	nacc := mr * nv
	acc := func(r, v int) int { return r*nv + v }
	breg := func(v int) int { return 24 + v }

	k, pa, pb, pc, ldc, t := RCX, RSI, RDX, RDI, R8, R9
	MOVQ(param("kp"), k)
	MOVQ(param("a"), pa)
	MOVQ(param("b"), pb)
	MOVQ(param("c"), pc)
	MOVQ(param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	MOVQ(pc, t)
	for r := 0; r < mr; r++ {
		PREFETCHT0(Mem{Base: t})
		PREFETCHT0(Mem{Base: t, Disp: 4*32 - 4})
		ADDQ(ldc, t)
	}
	for i := 0; i < nacc; i++ {
		VXORPS(regs[i], regs[i], regs[i])
	}
	step := func(u int) {
		bo := u * 32 * 4
		ao := u * stride * 4
		for v := 0; v < nv; v++ {
			VMOVUPS(Mem{Base: pb, Disp: bo + v*64}, regs[breg(v)])
		}
		for r := 0; r < mr; r++ {
			for v := 0; v < nv; v++ {
				vdpbf16psBcst(acc(r, v), breg(v), pa, ao+4*r)
			}
		}
	}
	const unroll = 4
	MOVQ(k, t)
	SHRQ(U8(2), t)
	JZ(LabelRef(name + "_rem"))
	Label(name + "_loop4")
	PREFETCHT0(Mem{Base: pb, Disp: 8 * 32 * 4})
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*stride*4), pa)
	ADDQ(U32(unroll*32*4), pb)
	DECQ(t)
	JNZ(LabelRef(name + "_loop4"))
	Label(name + "_rem")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_loop1")
	step(0)
	ADDQ(U32(stride*4), pa)
	ADDQ(U32(32*4), pb)
	DECQ(k)
	JNZ(LabelRef(name + "_loop1"))

	Label(name + "_store")
	valpha, vbeta, tmp := regs[breg(0)], regs[breg(1)], regs[26]
	VBROADCASTSS(param("alpha"), valpha)
	for i := 0; i < nacc; i++ {
		VMULPS(valpha, regs[i], regs[i])
	}
	MOVL(param("beta"), EAX)
	TESTL(U32(0x7fffffff), EAX)
	JZ(LabelRef(name + "_bias"))
	VBROADCASTSS(param("beta"), vbeta)
	MOVQ(pc, t)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMULPS(Mem{Base: t, Disp: v * 64}, vbeta, tmp)
			VADDPS(tmp, regs[acc(r, v)], regs[acc(r, v)])
		}
		if r < mr-1 {
			ADDQ(ldc, t)
		}
	}
	Label(name + "_bias")
	addBias(name, func(i int) VecPhysical { return regs[i] }, mr, nv, 64)
	Label(name + "_write")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(regs[acc(r, v)], Mem{Base: pc, Disp: v * 64})
		}
		if r < mr-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

// bf16Round emits the rounding of the 16 float32 in x to bfloat16, left in
// the high halves of x's dwords (the low halves are garbage): x += 0x7fff +
// ((x >> 16) & 1), round to nearest even on the bit pattern; NaN lanes
// (found with an unordered compare into K1) instead become x | 0x00400000,
// which keeps them NaN (quiet). Uses Z28-Z31 and K1; Z29 must hold 0x7fff,
// Z30 1 and Z31 0x00400000 in every lane.
func bf16Round(x VecPhysical) {
	VCMPPS(U8(3), x, x, K1)
	VPSRLD(U8(16), x, Z28)
	VPANDD(Z30, Z28, Z28)
	VPADDD(Z29, Z28, Z28)
	VPADDD(x, Z28, Z28)
	VPORD(Z31, x, K1, Z28) // NaN lanes: x with the quiet bit, not rounded
	VMOVDQA32(Z28, x)
}

// bf16Consts loads the constants of bf16Round.
func bf16Consts() {
	MOVL(U32(0x7fff), EAX)
	VPBROADCASTD(EAX, Z29)
	MOVL(U32(1), EAX)
	VPBROADCASTD(EAX, Z30)
	MOVL(U32(0x00400000), EAX)
	VPBROADCASTD(EAX, Z31)
}

// pairRowsBF16 emits pairRowsBF16AVX512(dst *uint32, r0, r1 *float32, n int):
// dst[j] = bf16(r0[j]) | bf16(r1[j])<<16 for j < n, the packing of two
// consecutive steps of k whose values are contiguous in memory (rows of B,
// or of a transposed A). A masked tail handles n % 16.
func pairRowsBF16() {
	name := "pairRowsBF16AVX512"
	TEXT(name, NOSPLIT, "func(dst *uint32, r0, r1 *float32, n int)")
	Pragma("noescape")
	Doc(name + " sets dst[j] = bf16(r0[j]) | bf16(r1[j])<<16 for j < n (bf16: round to nearest even, NaN quieted).")
	dst, r0, r1, n := RDI, RSI, RDX, RCX
	MOVQ(param("dst"), dst)
	MOVQ(param("r0"), r0)
	MOVQ(param("r1"), r1)
	MOVQ(param("n"), n)
	bf16Consts()
	MOVL(U32(0xffff0000), EAX)
	VPBROADCASTD(EAX, Z27)
	body := func(load func(m Mem, z VecPhysical), store func(z VecPhysical, m Mem)) {
		load(Mem{Base: r0}, Z0)
		load(Mem{Base: r1}, Z1)
		bf16Round(Z0)
		bf16Round(Z1)
		VPSRLD(U8(16), Z0, Z0)
		VPANDD(Z27, Z1, Z1)
		VPORD(Z1, Z0, Z0)
		store(Z0, Mem{Base: dst})
	}
	Label(name + "_loop")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_tail"))
	body(func(m Mem, z VecPhysical) { VMOVUPS(m, z) }, func(z VecPhysical, m Mem) { VMOVUPS(z, m) })
	ADDQ(U8(64), r0)
	ADDQ(U8(64), r1)
	ADDQ(U8(64), dst)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	lowMask(K2)
	body(func(m Mem, z VecPhysical) { VMOVUPS_Z(m, K2, z) }, func(z VecPhysical, m Mem) { VMOVUPS(z, K2, m) })
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// cvtBF16 emits cvtBF16AVX512(dst *uint16, src *float32, n int): dst[j] =
// bf16(src[j]) for j < n. Read as dwords, dst then holds the pairs of
// consecutive steps of k that a bf16 panel stores, for operands whose steps
// are contiguous (rows of A, or of a transposed B).
func cvtBF16() {
	name := "cvtBF16AVX512"
	TEXT(name, NOSPLIT, "func(dst *uint16, src *float32, n int)")
	Pragma("noescape")
	Doc(name + " sets dst[j] = bf16(src[j]) for j < n (bf16: round to nearest even, NaN quieted).")
	dst, src, n := RDI, RSI, RCX
	MOVQ(param("dst"), dst)
	MOVQ(param("src"), src)
	MOVQ(param("n"), n)
	bf16Consts()
	Label(name + "_loop")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_tail"))
	VMOVUPS(Mem{Base: src}, Z0)
	bf16Round(Z0)
	VPSRLD(U8(16), Z0, Z0)
	VPMOVDW(Z0, Mem{Base: dst})
	ADDQ(U8(64), src)
	ADDQ(U8(32), dst)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	lowMask(K2)
	VMOVUPS_Z(Mem{Base: src}, K2, Z0)
	bf16Round(Z0)
	VPSRLD(U8(16), Z0, Z0)
	VPMOVDW(Z0, K2, Mem{Base: dst})
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func bf16Kernels() {
	gemmBF16Kernel(12, 12)
	for rows := 1; rows < 12; rows++ {
		gemmBF16Kernel(rows, 12)
	}
	pairRowsBF16()
	cvtBF16()
}

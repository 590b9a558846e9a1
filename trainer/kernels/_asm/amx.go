package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AMX (Advanced Matrix Extensions) keeps eight tile registers of up to 16
// rows of 64 bytes. TDPBF16PS multiplies a 16×32 bf16 tile by a 32×16 one
// stored as 16 rows of 16 bf16 pairs and adds the 16×16 float32 product to a
// third tile: 8,192 multiply-adds in one instruction, where VDPBF16PS does
// 32. Neither avo nor the Go assembler knows the AMX instructions, so they
// are emitted as raw bytes with a hand-built three-byte VEX prefix:
// C4, R̄ X̄ B̄ m-mmmm (m-mmmm 00010: the 0F38 map), W v̄v̄v̄v̄ L pp, opcode, ModRM
// (and a SIB byte for the tile loads and stores, which address memory as
// base + index*1, the index register holding the row stride).

// gpNum numbers the general registers the raw encodings may name.
var gpNum = map[string]int{"AX": 0, "CX": 1, "DX": 2, "BX": 3, "SI": 6, "DI": 7,
	"R8": 8, "R9": 9, "R10": 10, "R11": 11, "R12": 12, "R13": 13, "R14": 14, "R15": 15}

// rawBytes emits an instruction the assembler does not know as BYTE
// directives after a comment that names it.
func rawBytes(comment string, bytes ...byte) {
	Comment(comment)
	for _, x := range bytes {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(x)}})
	}
}

// gpn returns r's number in ModRM, SIB and the prefixes' extension bits.
func gpn(r GPPhysical) int {
	n, ok := gpNum[r.Asm()]
	if !ok {
		panic("raw encoding: unsupported register " + r.Asm())
	}
	return n
}

func invBit(bit int) byte { return byte(1 - bit&1) }

// tileMem emits a tile load (pp 11: F2) or store (pp 10: F3), opcode 4B,
// of tile register tmm at disp(base)(index*1).
func tileMem(pp byte, name string, tmm int, base, index GPPhysical, disp int) {
	bn, xn := gpn(base), gpn(index)
	if xn == 4 {
		panic("amx: SP cannot be an index")
	}
	mod := 0
	switch {
	case disp == 0 && bn&7 != 5:
	case disp >= -128 && disp <= 127:
		mod = 1
	default:
		mod = 2
	}
	b := []byte{0xC4, invBit(tmm>>3)<<7 | invBit(xn>>3)<<6 | invBit(bn>>3)<<5 | 0b00010, 0x78 | pp, 0x4B,
		byte(mod<<6 | (tmm&7)<<3 | 0b100), byte((xn&7)<<3 | bn&7)}
	switch mod {
	case 1:
		b = append(b, byte(int8(disp)))
	case 2:
		b = append(b, byte(disp), byte(disp>>8), byte(disp>>16), byte(disp>>24))
	}
	rawBytes(fmt.Sprintf("%s %d(%s)(%s*1), TMM%d", name, disp, base.Asm(), index.Asm(), tmm), b...)
}

func tileLoad(tmm int, base, index GPPhysical, disp int) {
	tileMem(0b11, "TILELOADD", tmm, base, index, disp)
}

func tileStore(tmm int, base, index GPPhysical, disp int) {
	tileMem(0b10, "TILESTORED", tmm, base, index, disp)
}

// tdpbf16ps emits TDPBF16PS dst, a, b: dst += a·b, with a in ModRM.rm and b
// in VEX.vvvv.
func tdpbf16ps(dst, a, b int) {
	rawBytes(fmt.Sprintf("TDPBF16PS TMM%d, TMM%d, TMM%d", b, a, dst),
		0xC4, 0xE2, byte((^b&15)<<3|0b010), 0x5C, byte(0xC0|dst<<3|a))
}

func tileZero(tmm int) {
	rawBytes(fmt.Sprintf("TILEZERO TMM%d", tmm), 0xC4, 0xE2, 0x7B, 0x49, byte(0xC0|tmm<<3))
}

func ldTileCfg(base GPPhysical) {
	bn := gpn(base)
	if bn&7 == 4 || bn&7 == 5 {
		panic("amx: LDTILECFG base needs a SIB byte or a displacement")
	}
	rawBytes(fmt.Sprintf("LDTILECFG (%s)", base.Asm()), 0xC4, invBit(bn>>3)<<5|0xC2, 0x78, 0x49, byte(bn&7))
}

func tileRelease() { rawBytes("TILERELEASE", 0xC4, 0xE2, 0x78, 0x49, 0xC0) }

// amxKernels emits the AMX bf16 GEMM kernel and its tile configuration.
func amxKernels() {
	// Palette 1, tiles 0-7 each 16 rows of 64 bytes: TMM0-3 the four 16×16
	// float32 quarters of a 32×32 C tile, TMM4-5 the two 16-row halves of
	// an A block (16 pairs of k per row), TMM6-7 the two 16-column halves of
	// a B block (16 pairs of k, 32 columns per row).
	cfg := GLOBL("amxtilecfg", RODATA|NOPTR)
	DATA(0, U8(1))
	for i := 1; i < 64; i++ {
		v := 0
		switch {
		case i >= 16 && i < 32 && i%2 == 0:
			v = 64 // colsb, low byte
		case i >= 48 && i < 56:
			v = 16 // rows
		}
		DATA(i, U8(v))
	}

	name := "amxBF16Tiles"
	TEXT(name, NOSPLIT, "func(steps, tiles int, a, b *uint32, ldb int, c *float32, ldc int, alpha, beta float32, acc *float32)")
	Pragma("noescape")
	Doc(name+" computes C = alpha*A*B + beta*C for tiles consecutive 32×32 tiles of C from one AMX A panel and a B block.",
		"a holds steps blocks of 32 rows × 16 bf16 pairs (2 KiB each); b",
		"holds 16*steps rows of pairs, ldb dwords apart, tile t's columns at",
		"dword 32t of each; the tiles of C lie side by side from c (ldc",
		"float32 per row). Each tile's sums start from zero, go through acc",
		"(32×32 float32) and are written as alpha*acc + beta*C with a",
		"separate multiply and add.")
	steps, tiles, pa, pb, pc, ldc := RCX, RDX, RSI, RDI, RBX, R10
	ap, k, acc, row, bbits := R12, R13, R11, RAX, R14
	s64, ldb := R8, R9
	MOVQ(param("steps"), steps)
	MOVQ(param("tiles"), tiles)
	MOVQ(param("a"), pa)
	MOVQ(param("b"), pb)
	MOVQ(param("ldb"), ldb)
	SHLQ(U8(2), ldb)
	MOVQ(param("c"), pc)
	MOVQ(param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	MOVQ(param("acc"), acc)
	MOVL(param("beta"), bbits.As32())
	VBROADCASTSS(param("alpha"), Z30)
	VBROADCASTSS(param("beta"), Z31)
	MOVQ(U32(64), s64)
	LEAQ(cfg, row)
	ldTileCfg(row)

	Label(name + "_tile")
	for t := 0; t < 4; t++ {
		tileZero(t)
	}
	MOVQ(pa, ap)
	MOVQ(pb, row) // the B cursor while k runs
	MOVQ(steps, k)
	Label(name + "_step")
	tileLoad(4, ap, s64, 0)
	tileLoad(6, row, ldb, 0)
	tdpbf16ps(0, 4, 6)
	tileLoad(7, row, ldb, 64)
	tdpbf16ps(1, 4, 7)
	tileLoad(5, ap, s64, 1024)
	tdpbf16ps(2, 5, 6)
	tdpbf16ps(3, 5, 7)
	ADDQ(U32(2048), ap)
	LEAQ(Mem{Base: row, Index: ldb, Scale: 8}, row) // 16 rows of B on
	LEAQ(Mem{Base: row, Index: ldb, Scale: 8}, row)
	DECQ(k)
	JNZ(LabelRef(name + "_step"))

	MOVQ(U32(128), row) // acc's row stride
	tileStore(0, acc, row, 0)
	tileStore(1, acc, row, 64)
	tileStore(2, acc, row, 2048)
	tileStore(3, acc, row, 2048+64)

	MOVQ(pc, row)
	TESTL(U32(0x7fffffff), bbits.As32())
	JZ(LabelRef(name + "_nobeta"))
	for r := 0; r < 32; r++ {
		for v := 0; v < 2; v++ {
			VMOVUPS(Mem{Base: acc, Disp: r*128 + v*64}, zmm(v))
			VMULPS(Z30, zmm(v), zmm(v))
			VMULPS(Mem{Base: row, Disp: v * 64}, Z31, zmm(2+v))
			VADDPS(zmm(2+v), zmm(v), zmm(v))
			VMOVUPS(zmm(v), Mem{Base: row, Disp: v * 64})
		}
		ADDQ(ldc, row)
	}
	JMP(LabelRef(name + "_next"))
	Label(name + "_nobeta")
	for r := 0; r < 32; r++ {
		for v := 0; v < 2; v++ {
			VMOVUPS(Mem{Base: acc, Disp: r*128 + v*64}, zmm(v))
			VMULPS(Z30, zmm(v), zmm(v))
			VMOVUPS(zmm(v), Mem{Base: row, Disp: v * 64})
		}
		ADDQ(ldc, row)
	}
	Label(name + "_next")
	ADDQ(U32(128), pc)
	ADDQ(U32(128), pb)
	DECQ(tiles)
	JNZ(LabelRef(name + "_tile"))
	tileRelease()
	VZEROUPPER()
	RET()
}

// zmm returns zmm register i.
func zmm(i int) VecPhysical { return avx512.regs[i] }

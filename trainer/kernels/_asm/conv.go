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

// transpose emits transpose<lines>x8AVX, the packing step for operands
// that must be transposed: it reads blocks of lines×8 floats (lines rows of
// src, row stride lds elements) and writes them as 8 rows of lines floats
// (row stride ldd elements) of dst, steps8 blocks in a row. It uses only
// AVX, so both assembly kernel sets share it.
func transpose(lines int) {
	name := fmt.Sprintf("transpose%dx8AVX", lines)
	TEXT(name, NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int, steps8 int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[p*ldd+r] = src[r*lds+p] for r < %d and p < 8*steps8.", name, lines))
	dst, ldd, src, lds, cnt := RDI, R8, RSI, R9, RCX
	row, t := R10, R11
	MOVQ(param("dst"), dst)
	MOVQ(param("ldd"), ldd)
	SHLQ(U8(2), ldd)
	MOVQ(param("src"), src)
	MOVQ(param("lds"), lds)
	SHLQ(U8(2), lds)
	MOVQ(param("steps8"), cnt)
	TESTQ(cnt, cnt)
	JZ(LabelRef(name + "_done"))

	y := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
	tt := []VecPhysical{Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	Label(name + "_loop")
	// Load lines rows of 8 steps.
	MOVQ(src, row)
	for r := 0; r < lines; r++ {
		VMOVUPS(Mem{Base: row}, y[r])
		if r < lines-1 {
			ADDQ(lds, row)
		}
	}
	// Interleave pairs of rows, then pairs of pairs: s[q] holds, in its
	// two 128-bit halves, rows 4g..4g+3 of steps q and q+4.
	for g := 0; g < lines/4; g++ {
		r := y[4*g:]
		w := tt[4*g:]
		VUNPCKLPS(r[1], r[0], w[0])
		VUNPCKHPS(r[1], r[0], w[1])
		VUNPCKLPS(r[3], r[2], w[2])
		VUNPCKHPS(r[3], r[2], w[3])
		VSHUFPS(U8(0x44), w[2], w[0], r[0])
		VSHUFPS(U8(0xee), w[2], w[0], r[1])
		VSHUFPS(U8(0x44), w[3], w[1], r[2])
		VSHUFPS(U8(0xee), w[3], w[1], r[3])
	}
	MOVQ(dst, row)
	MOVQ(ldd, t)
	SHLQ(U8(2), t) // 4 rows of dst
	if lines == 8 {
		for q := 0; q < 4; q++ {
			VPERM2F128(U8(0x20), y[4+q], y[q], tt[q])
			VPERM2F128(U8(0x31), y[4+q], y[q], tt[4+q])
		}
		for q := 0; q < 4; q++ {
			VMOVUPS(tt[q], Mem{Base: row})
			VMOVUPS(tt[4+q], Mem{Base: row, Index: t, Scale: 1})
			ADDQ(ldd, row)
		}
	} else {
		for q := 0; q < 4; q++ {
			VMOVUPS(y[q].AsX(), Mem{Base: row})
			VEXTRACTF128(U8(1), y[q], Mem{Base: row, Index: t, Scale: 1})
			ADDQ(ldd, row)
		}
	}
	ADDQ(U8(32), src)
	LEAQ(Mem{Base: dst, Index: t, Scale: 2}, dst) // 8 rows of dst
	DECQ(cnt)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// Registers of the strided-rows kernels.
var (
	rowDst, rowLdd, rowSrc, rowLds, rowCount = RDI, R8, RSI, R9, R10
)

// stridedRows emits a kernel with the signature of copyRows that runs row
// for each of rows rows, dst and src advancing by their strides (ldd and
// lds, turned into bytes) in between. setup runs once before the first row.
func stridedRows(name, doc string, setup, row func()) {
	TEXT(name, NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int, rows, cols int)")
	Pragma("noescape")
	Doc(name + doc)
	MOVQ(param("dst"), rowDst)
	MOVQ(param("ldd"), rowLdd)
	SHLQ(U8(2), rowLdd)
	MOVQ(param("src"), rowSrc)
	MOVQ(param("lds"), rowLds)
	SHLQ(U8(2), rowLds)
	MOVQ(param("rows"), rowCount)
	setup()
	TESTQ(rowCount, rowCount)
	JZ(LabelRef(name + "_done"))
	Label(name + "_row")
	row()
	Label(name + "_next")
	ADDQ(rowLds, rowSrc)
	ADDQ(rowLdd, rowDst)
	DECQ(rowCount)
	JNZ(LabelRef(name + "_row"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// rowsAVX emits copyRowsAVX or, with add, addRowsAVX: it copies (adds)
// rows rows of cols floats from src (row stride lds elements) into dst (row
// stride ldd elements), 8 lanes at a time, then 4, then one by one. Copying
// is the packing step for operands already laid out step by step, and
// im2col; adding is col2im. The rows are a few dozen floats wide (6- or
// 12-wide panels, 24-wide convolution rows), so one call per block of rows
// instead of a memmove or axpy per row is what saves the time.
func rowsAVX(add bool) {
	name, doc := "copyRowsAVX", " sets dst[r*ldd+j] = src[r*lds+j] for r < rows and j < cols."
	if add {
		name, doc = "addRowsAVX", " sets dst[r*ldd+j] += src[r*lds+j] for r < rows and j < cols."
	}
	cols, s, d, left := RDX, R11, R12, RAX
	// move copies (or adds) one vector or scalar at s to d through v.
	move := func(v VecPhysical, scalar bool) {
		load, store := VMOVUPS, VMOVUPS
		addOp := VADDPS
		if scalar {
			load, store, addOp = VMOVSS, VMOVSS, VADDSS
		}
		if add {
			load(Mem{Base: d}, v)
			addOp(Mem{Base: s}, v, v)
		} else {
			load(Mem{Base: s}, v)
		}
		store(v, Mem{Base: d})
	}
	stridedRows(name, doc, func() { MOVQ(param("cols"), cols) }, func() {
		MOVQ(rowSrc, s)
		MOVQ(rowDst, d)
		MOVQ(cols, left)
		Label(name + "_v8")
		CMPQ(left, U8(8))
		JL(LabelRef(name + "_t4"))
		move(Y0, false)
		ADDQ(U8(32), s)
		ADDQ(U8(32), d)
		SUBQ(U8(8), left)
		JMP(LabelRef(name + "_v8"))
		Label(name + "_t4")
		TESTQ(U32(4), left)
		JZ(LabelRef(name + "_t1"))
		move(X0, false)
		ADDQ(U8(16), s)
		ADDQ(U8(16), d)
		SUBQ(U8(4), left)
		Label(name + "_t1")
		TESTQ(left, left)
		JZ(LabelRef(name + "_next"))
		move(X0, true)
		ADDQ(U8(4), s)
		ADDQ(U8(4), d)
		DECQ(left)
		JMP(LabelRef(name + "_t1"))
	})
}

// splitLanes16 splits the count in RCX into full = RCX/16 vectors and
// RCX = RCX%16 tail lanes, and sets K1 to the mask of the tail lanes.
func splitLanes16(rcx, full GPPhysical) {
	if rcx != RCX {
		panic("splitLanes16 shifts by CL")
	}
	MOVQ(rcx, full)
	SHRQ(U8(4), full)
	ANDQ(U8(15), rcx)
	lowMask(K1)
}

// copyRowsAVX512 emits copyRowsAVX512: copyRows with 16-lane vectors and
// one masked vector for the last cols%16 floats of each row. The mask is the
// same for every row, so it is built once; a 24-float convolution row is two
// vector moves. (addRows has no such twin: col2im adds rows that overlap the
// ones it has just stored, one float apart, and masked stores cannot be
// forwarded to those loads, which made a masked addRows three times slower.)
func copyRowsAVX512() {
	name := "copyRowsAVX512"
	tail, full, s, d, left := RCX, R11, R12, R13, RDX
	setup := func() {
		MOVQ(param("cols"), tail)
		splitLanes16(tail, full)
	}
	stridedRows(name, " sets dst[r*ldd+j] = src[r*lds+j] for r < rows and j < cols.", setup, func() {
		MOVQ(rowSrc, s)
		MOVQ(rowDst, d)
		MOVQ(full, left)
		TESTQ(left, left)
		JZ(LabelRef(name + "_tail"))
		Label(name + "_v16")
		VMOVUPS(Mem{Base: s}, Z0)
		VMOVUPS(Z0, Mem{Base: d})
		ADDQ(U8(64), s)
		ADDQ(U8(64), d)
		DECQ(left)
		JNZ(LabelRef(name + "_v16"))
		Label(name + "_tail")
		TESTQ(tail, tail)
		JZ(LabelRef(name + "_next"))
		VMOVUPS_Z(Mem{Base: s}, K1, Z0)
		VMOVUPS(Z0, K1, Mem{Base: d})
	})
}

// maxPool2x2 emits maxPool2x2AVX512: 2×2 max pooling with stride 2 over one
// plane, recording the winner of each window. Sixteen windows at a time: the
// even and odd columns of two input rows are separated with VPERMI2PS, and
// every choice is a compare into a mask register and a blend, so the
// data-dependent winner costs no branch. On ties the first position in
// row-major order wins, and y is always bitwise the input at arg.
func maxPool2x2() {
	name := "maxPool2x2AVX512"
	TEXT(name, NOSPLIT, "func(y *float32, arg *int32, x *float32, oh, ow, w int)")
	Pragma("noescape")
	Doc(name + " sets y[i*ow+j] to the maximum of the 2×2 window at row 2i, column 2j of x (row stride w) and arg[i*ow+j] to its index in x, for i < oh and j < ow.")

	// Dword table: 0, 2, ..., 30 (even lanes; also 2j for j < 16) and
	// 1, 3, ..., 31 (odd lanes).
	tab := GLOBL("pooltab", RODATA|NOPTR)
	for i := 0; i < 32; i++ { // in address order, as the assembler wants
		DATA(4*i, U32(2*(i%16)+i/16))
	}
	const gtOQ = 0x1e

	py, pa, px, wb, rows, full, tail := RDI, RSI, RDX, R8, R9, R10, RCX
	p0, yo, ao, cnt := R11, R12, R13, RBX
	even, odd, ones, wv, w1v, step32, rowStep, rowBase, pos :=
		Z31, Z30, Z29, Z28, Z27, Z26, Z25, Z24, Z23

	MOVQ(param("y"), py)
	MOVQ(param("arg"), pa)
	MOVQ(param("x"), px)
	MOVQ(param("oh"), rows)
	MOVQ(param("ow"), tail)
	// Output mask K1: tail lanes; input masks K2/K3: 2*tail floats over
	// the low and high vector of a row.
	splitLanes16(tail, full)
	SHLQ(U8(1), tail)
	MOVQ(U32(1), RAX)
	SHLQ(CL, RAX)
	DECQ(RAX)
	KMOVW(EAX, K2)
	SHRQ(U8(16), RAX)
	KMOVW(EAX, K3)
	SHRQ(U8(1), tail)

	LEAQ(tab, RAX)
	VMOVDQU32(Mem{Base: RAX}, even)
	VMOVDQU32(Mem{Base: RAX, Disp: 64}, odd)
	MOVL(U32(1), EAX)
	VPBROADCASTD(EAX, ones)
	MOVQ(param("w"), wb)
	VPBROADCASTD(wb.As32(), wv)
	VPADDD(ones, wv, w1v)
	MOVL(U32(32), EAX)
	VPBROADCASTD(EAX, step32)
	VPADDD(wv, wv, rowStep)
	VMOVDQA32(even, rowBase) // 2j for the first chunk of row 0
	SHLQ(U8(2), wb)          // row stride in bytes

	TESTQ(rows, rows)
	JZ(LabelRef(name + "_done"))

	// chunk pools 16 windows (or the tail lanes when masked) at p0.
	chunk := func(masked bool) {
		ld := func(m Mem, k OpmaskPhysical, v VecPhysical) {
			if masked {
				VMOVUPS_Z(m, k, v)
			} else {
				VMOVUPS(m, v)
			}
		}
		// Row 0 into Z0 (even), Z1 (odd); row 1 into Z2, Z3.
		ld(Mem{Base: p0}, K2, Z4)
		ld(Mem{Base: p0, Disp: 64}, K3, Z5)
		VMOVDQA32(even, Z0)
		VPERMI2PS(Z5, Z4, Z0)
		VMOVDQA32(odd, Z1)
		VPERMI2PS(Z5, Z4, Z1)
		ld(Mem{Base: p0, Index: wb, Scale: 1}, K2, Z6)
		ld(Mem{Base: p0, Index: wb, Scale: 1, Disp: 64}, K3, Z7)
		VMOVDQA32(even, Z2)
		VPERMI2PS(Z7, Z6, Z2)
		VMOVDQA32(odd, Z3)
		VPERMI2PS(Z7, Z6, Z3)
		VCMPPS(U8(gtOQ), Z0, Z1, K4) // b > a
		VCMPPS(U8(gtOQ), Z2, Z3, K5) // d > c
		VBLENDMPS(Z1, Z0, K4, Z8)    // m0
		VBLENDMPS(Z3, Z2, K5, Z9)    // m1
		VCMPPS(U8(gtOQ), Z8, Z9, K6) // m1 > m0
		VBLENDMPS(Z9, Z8, K6, Z10)   // y
		VMOVDQA32_Z(ones, K4, Z11)   // i0 = b > a
		VPBLENDMD(w1v, wv, K5, Z12)  // i1 = w or w+1
		VPBLENDMD(Z12, Z11, K6, Z13) // chosen offset within the window
		VPADDD(pos, Z13, Z13)
		if masked {
			VMOVUPS(Z10, K1, Mem{Base: yo})
			VMOVDQU32(Z13, K1, Mem{Base: ao})
		} else {
			VMOVUPS(Z10, Mem{Base: yo})
			VMOVDQU32(Z13, Mem{Base: ao})
		}
	}

	Label(name + "_row")
	MOVQ(px, p0)
	MOVQ(py, yo)
	MOVQ(pa, ao)
	VMOVDQA32(rowBase, pos)
	MOVQ(full, cnt)
	TESTQ(cnt, cnt)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_v16")
	chunk(false)
	ADDQ(U8(128), p0)
	ADDQ(U8(64), yo)
	ADDQ(U8(64), ao)
	VPADDD(step32, pos, pos)
	DECQ(cnt)
	JNZ(LabelRef(name + "_v16"))
	Label(name + "_tail")
	TESTQ(tail, tail)
	JZ(LabelRef(name + "_next"))
	chunk(true)
	Label(name + "_next")
	// Next output row: two input rows down, one output row on.
	LEAQ(Mem{Base: px, Index: wb, Scale: 2}, px)
	MOVQ(param("ow"), RAX)
	LEAQ(Mem{Base: py, Index: RAX, Scale: 4}, py)
	LEAQ(Mem{Base: pa, Index: RAX, Scale: 4}, pa)
	VPADDD(rowStep, rowBase, rowBase)
	DECQ(rows)
	JNZ(LabelRef(name + "_row"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

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

	for _, s := range []isa{avx2, avx512} {
		axpy(s, masktab)
		dot(s, masktab)
		scal(s, masktab)
		relu(s, masktab)
		bias(s, masktab, false)
		bias(s, masktab, true)
		reluGrad(s, masktab)
		adam(s, masktab)
	}

	Generate()
}

// gemmKernel emits sgemmKernel<mr>x<nr><ISA>, the register-blocked SGEMM
// micro-kernel. It multiplies a packed mr×k panel of A (stored k-major: mr
// values per step) with a packed k×nr panel of B (nr values per step) and
// writes C = alpha*A*B + beta*C into an mr×nr tile of row-major C with row
// stride ldc elements. beta == 0 (of either sign) stores without reading C.
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
	doc := fmt.Sprintf("%s computes C = alpha*A*B + beta*C for one %d×%d tile from packed panels.", name, mr, nr)
	if stride != mr {
		name = fmt.Sprintf("sgemmKernel%dof%dx%d%s", mr, stride, nr, s.suffix)
		doc = fmt.Sprintf("%s computes C = alpha*A*B + beta*C for a %d×%d tile from the first %d rows of a %d-row A panel.", name, mr, nr, mr, stride)
	}
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, alpha, beta float32)")
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
	JZ(LabelRef(name + "_write"))
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

// stream describes an element-wise kernel over n float32s, emitted as a main
// loop of unroll vectors, a loop of single vectors and one masked tail
// vector. body is called with the vector slot (0..unroll-1), the byte offset
// from the current pointers and load/store emitters; in the tail the
// emitters are masked so that no byte outside the slices is touched.
type stream struct {
	name   string
	sig    string
	doc    string
	unroll int
	ptrs   []string // pointer parameters advanced through the data
	setup  func(s isa)
	body   func(s isa, slot, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem))
	finish func(s isa)
}

// Registers reserved by streamKernel: the AVX2 tail mask and AVX-512 K1.
func tailMaskReg(s isa) VecPhysical { return s.regs[len(s.regs)-1] }

var ptrRegs = []GPPhysical{RSI, RDI, RDX, R8, R9, R10}

func streamKernel(s isa, masktab Mem, k stream) {
	name := k.name + s.suffix
	TEXT(name, NOSPLIT, k.sig)
	Pragma("noescape")
	Doc(name + " " + k.doc)
	ptrs := ptrRegs[:len(k.ptrs)]
	for i, p := range k.ptrs {
		MOVQ(param(p), ptrs[i])
	}
	n := RCX
	MOVQ(param("n"), n)
	k.setup(s)

	plain := func(m Mem, v VecPhysical) { VMOVUPS(m, v) }
	plainSt := func(v VecPhysical, m Mem) { VMOVUPS(v, m) }
	advance := func(elems int) {
		for _, p := range ptrs {
			ADDQ(U32(4*elems), p)
		}
		SUBQ(U32(elems), n)
	}

	block := k.unroll * s.lanes
	Label(name + "_loopU")
	CMPQ(n, U32(block))
	JL(LabelRef(name + "_loop1"))
	for u := 0; u < k.unroll; u++ {
		k.body(s, u, u*s.vbytes(), plain, plainSt)
	}
	advance(block)
	JMP(LabelRef(name + "_loopU"))

	Label(name + "_loop1")
	CMPQ(n, U32(s.lanes))
	JL(LabelRef(name + "_tail"))
	k.body(s, 0, 0, plain, plainSt)
	advance(s.lanes)
	JMP(LabelRef(name + "_loop1"))

	Label(name + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	if s.avx512 {
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
		k.body(s, 0, 0,
			func(m Mem, v VecPhysical) { VMOVUPS_Z(m, K1, v) },
			func(v VecPhysical, m Mem) { VMOVUPS(v, K1, m) })
	} else {
		mask := tailMaskReg(s)
		MOVQ(U32(8), RAX)
		SUBQ(n, RAX)
		LEAQ(masktab, RBX)
		VMOVUPS(Mem{Base: RBX, Index: RAX, Scale: 4}, mask)
		k.body(s, 0, 0,
			func(m Mem, v VecPhysical) { VMASKMOVPS(m, mask, v) },
			func(v VecPhysical, m Mem) { VMASKMOVPS(v, mask, m) })
	}
	Label(name + "_done")
	if k.finish != nil {
		k.finish(s)
	}
	VZEROUPPER()
	RET()
}

func axpy(s isa, masktab Mem) {
	// Registers: 0 = alpha, per slot u: 1+2u (x), 2+2u (y).
	streamKernel(s, masktab, stream{
		name:   "axpy",
		sig:    "func(alpha float32, x, y *float32, n int)",
		doc:    "computes y += alpha*x for n elements.",
		unroll: 4,
		ptrs:   []string{"x", "y"},
		setup:  func(s isa) { VBROADCASTSS(param("alpha"), s.regs[0]) },
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			x, y := s.regs[1+2*u], s.regs[2+2*u]
			ld(Mem{Base: RSI, Disp: off}, x)
			ld(Mem{Base: RDI, Disp: off}, y)
			VFMADD231PS(x, s.regs[0], y)
			st(y, Mem{Base: RDI, Disp: off})
		},
	})
}

func dot(s isa, masktab Mem) {
	// Registers: accumulators 0..3, per slot u: 4+u (x).
	streamKernel(s, masktab, stream{
		name:   "dot",
		sig:    "func(x, y *float32, n int) float32",
		doc:    "returns the sum of x[i]*y[i] over n elements.",
		unroll: 4,
		ptrs:   []string{"x", "y"},
		setup: func(s isa) {
			for i := 0; i < 4; i++ {
				VXORPS(s.regs[i], s.regs[i], s.regs[i])
			}
		},
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			x, y := s.regs[4+u], s.regs[8+u]
			ld(Mem{Base: RSI, Disp: off}, x)
			ld(Mem{Base: RDI, Disp: off}, y)
			VFMADD231PS(x, y, s.regs[u])
		},
		finish: func(s isa) {
			a0, a1, a2, a3 := s.regs[0], s.regs[1], s.regs[2], s.regs[3]
			VADDPS(a1, a0, a0)
			VADDPS(a3, a2, a2)
			VADDPS(a2, a0, a0)
			if s.avx512 {
				VEXTRACTF64X4(U8(1), Z0, Y1)
				VADDPS(Y1, Y0, Y0)
			}
			VEXTRACTF128(U8(1), Y0, X1)
			VADDPS(X1, X0, X0)
			VMOVHLPS(X0, X0, X1)
			VADDPS(X1, X0, X0)
			VMOVSHDUP(X0, X1)
			VADDSS(X1, X0, X0)
			ret, err := ReturnIndex(0).Resolve()
			if err != nil {
				panic(err)
			}
			VMOVSS(X0, ret.Addr)
		},
	})
}

func scal(s isa, masktab Mem) {
	streamKernel(s, masktab, stream{
		name:   "scal",
		sig:    "func(alpha float32, x *float32, n int)",
		doc:    "computes x *= alpha for n elements.",
		unroll: 4,
		ptrs:   []string{"x"},
		setup:  func(s isa) { VBROADCASTSS(param("alpha"), s.regs[0]) },
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			x := s.regs[1+u]
			ld(Mem{Base: RSI, Disp: off}, x)
			VMULPS(s.regs[0], x, x)
			st(x, Mem{Base: RSI, Disp: off})
		},
	})
}

func relu(s isa, masktab Mem) {
	streamKernel(s, masktab, stream{
		name:   "relu",
		sig:    "func(dst, x *float32, n int)",
		doc:    "sets dst[i] = x[i] if x[i] > 0, else 0 (NaN gives 0), for n elements.",
		unroll: 4,
		ptrs:   []string{"dst", "x"},
		setup:  func(s isa) { VXORPS(s.regs[0], s.regs[0], s.regs[0]) },
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			x := s.regs[1+u]
			ld(Mem{Base: RDI, Disp: off}, x)
			// MAXPS returns its second source (zero) unless x > 0.
			VMAXPS(s.regs[0], x, x)
			st(x, Mem{Base: RSI, Disp: off})
		},
	})
}

// bias emits addBias (dst[i] = x[i] + b) or, with relu, biasRelu
// (dst[i] = max(x[i]+b, 0), NaN giving 0): the epilogue of a convolution,
// applied to each output channel's row.
func bias(s isa, masktab Mem, relu bool) {
	k := stream{
		name:   "addBias",
		sig:    "func(dst, x *float32, n int, b float32)",
		doc:    "sets dst[i] = x[i] + b for n elements.",
		unroll: 4,
		ptrs:   []string{"dst", "x"},
		setup: func(s isa) {
			VXORPS(s.regs[0], s.regs[0], s.regs[0])
			VBROADCASTSS(param("b"), s.regs[1])
		},
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			x := s.regs[2+u]
			ld(Mem{Base: RDI, Disp: off}, x)
			VADDPS(s.regs[1], x, x)
			if relu {
				VMAXPS(s.regs[0], x, x)
			}
			st(x, Mem{Base: RSI, Disp: off})
		},
	}
	if relu {
		k.name = "biasRelu"
		k.doc = "sets dst[i] = max(x[i]+b, 0) (NaN gives 0) for n elements."
	}
	streamKernel(s, masktab, k)
}

func reluGrad(s isa, masktab Mem) {
	const gtOQ = 0x1e // ordered greater-than, no signal: NaN compares false
	streamKernel(s, masktab, stream{
		name:   "reluGrad",
		sig:    "func(dst, dy, y *float32, n int)",
		doc:    "sets dst[i] = dy[i] if y[i] > 0, else 0, for n elements.",
		unroll: 4,
		ptrs:   []string{"dst", "dy", "y"},
		setup:  func(s isa) { VXORPS(s.regs[0], s.regs[0], s.regs[0]) },
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			dy, y := s.regs[1+2*u], s.regs[2+2*u]
			ld(Mem{Base: RDI, Disp: off}, dy)
			ld(Mem{Base: RDX, Disp: off}, y)
			if s.avx512 {
				kk := []OpmaskPhysical{K2, K3, K4, K5}[u]
				VCMPPS(U8(gtOQ), s.regs[0], y, kk)
				VMOVUPS_Z(dy, kk, dy)
			} else {
				VCMPPS(U8(gtOQ), s.regs[0], y, y)
				VANDPS(dy, y, dy)
			}
			st(dy, Mem{Base: RSI, Disp: off})
		},
	})
}

func adam(s isa, masktab Mem) {
	// Constants in registers 0..5; per slot u four temporaries from 6+4u.
	// The AVX2 version (16 registers, one taken by the tail mask) runs two
	// slots per iteration, the AVX-512 version four.
	unroll := 2
	if s.avx512 {
		unroll = 4
	}
	lr, b1, c1, b2, c2, eps := s.regs[0], s.regs[1], s.regs[2], s.regs[3], s.regs[4], s.regs[5]
	streamKernel(s, masktab, stream{
		name: "adam",
		sig:  "func(p, grad, m, v *float32, n int, lr, b1, c1, b2, c2, eps float32)",
		doc: "applies m = b1*m + c1*g; v = b2*v + c2*g*g; p -= lr*m/(sqrt(v)+eps) " +
			"for n elements, rounding after every operation (no FMA).",
		unroll: unroll,
		ptrs:   []string{"p", "grad", "m", "v"},
		setup: func(s isa) {
			VBROADCASTSS(param("lr"), lr)
			VBROADCASTSS(param("b1"), b1)
			VBROADCASTSS(param("c1"), c1)
			VBROADCASTSS(param("b2"), b2)
			VBROADCASTSS(param("c2"), c2)
			VBROADCASTSS(param("eps"), eps)
		},
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			g, m, v, t := s.regs[6+4*u], s.regs[7+4*u], s.regs[8+4*u], s.regs[9+4*u]
			pp, pg, pm, pv := RSI, RDI, RDX, R8
			ld(Mem{Base: pg, Disp: off}, g)
			ld(Mem{Base: pm, Disp: off}, m)
			ld(Mem{Base: pv, Disp: off}, v)
			// m = b1*m + c1*g
			VMULPS(b1, m, m)
			VMULPS(c1, g, t)
			VADDPS(t, m, m)
			st(m, Mem{Base: pm, Disp: off})
			// v = b2*v + (c2*g)*g
			VMULPS(c2, g, t)
			VMULPS(g, t, t)
			VMULPS(b2, v, v)
			VADDPS(t, v, v)
			st(v, Mem{Base: pv, Disp: off})
			// p -= (lr*m) / (sqrt(v)+eps)
			VSQRTPS(v, v)
			VADDPS(eps, v, v)
			VMULPS(lr, m, m)
			VDIVPS(v, m, m)
			ld(Mem{Base: pp, Disp: off}, t)
			VSUBPS(m, t, t)
			st(t, Mem{Base: pp, Disp: off})
		},
	})
}

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
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
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

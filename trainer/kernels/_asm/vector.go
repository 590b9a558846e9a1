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
		lowMask(K1)
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

// addScaledSum is one tap pair of a symmetric filter: y += k*(a+b), with the
// sum, the product and the accumulation each rounded to float32 (no FMA), so
// that every kernel set gives the bytes of the Go twin.
func addScaledSum(s isa, masktab Mem) {
	// Registers: 0 = k, per slot u: 1+3u (a), 2+3u (b), 3+3u (y).
	streamKernel(s, masktab, stream{
		name:   "addScaledSum",
		sig:    "func(k float32, a, b, y *float32, n int)",
		doc:    "computes y += k*(a+b) for n elements, rounding each operation.",
		unroll: 4,
		ptrs:   []string{"a", "b", "y"},
		setup:  func(s isa) { VBROADCASTSS(param("k"), s.regs[0]) },
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			a, b, y := s.regs[1+3*u], s.regs[2+3*u], s.regs[3+3*u]
			ld(Mem{Base: RSI, Disp: off}, a)
			ld(Mem{Base: RDI, Disp: off}, b)
			ld(Mem{Base: RDX, Disp: off}, y)
			VADDPS(b, a, a)
			VMULPS(s.regs[0], a, a)
			VADDPS(a, y, y)
			st(y, Mem{Base: RDX, Disp: off})
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

// mxcsrSaved is the frame slot of the caller's MXCSR while a kernel runs
// with flushSubnormals' setting (8 bytes: the saved and the new value).
var mxcsrSaved Mem

// flushSubnormals saves MXCSR and sets its FTZ (bit 15) and DAZ (bit 6)
// bits: subnormal operands read as zero and subnormal results become zero,
// so that no instruction takes the microcode assist Intel cores spend on
// subnormal floats. restoreMXCSR puts the caller's value back; a Go
// assembly function is never preempted asynchronously, so no other code
// runs in between on this thread.
func flushSubnormals() {
	mxcsrSaved = AllocLocal(8)
	STMXCSR(mxcsrSaved)
	MOVL(mxcsrSaved, EAX)
	ORL(U32(0x8040), EAX)
	MOVL(EAX, mxcsrSaved.Offset(4))
	LDMXCSR(mxcsrSaved.Offset(4))
}

func restoreMXCSR() { LDMXCSR(mxcsrSaved) }

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
			flushSubnormals()
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
		finish: func(s isa) { restoreMXCSR() },
	})
}

// lookupU8 emits lookupU8AVX512(dst *float32, src *uint8, table *float32,
// n int): dst[i] = table[src[i]], the loader's normalization of uint8
// pixels through their 256-entry table. Each vector widens 16 bytes to
// dword indices (VPMOVZXBD) and gathers the table's entries (VPGATHERDD,
// which clears its mask, so the mask is set again per vector); two vectors
// per iteration keep two gathers in flight. A masked tail handles n % 16.
func lookupU8() {
	name := "lookupU8AVX512"
	TEXT(name, NOSPLIT, "func(dst *float32, src *uint8, table *float32, n int)")
	Pragma("noescape")
	Doc(name + " sets dst[i] = table[src[i]] for i < n.")
	dst, src, table, n := RDI, RSI, RDX, RCX
	MOVQ(param("dst"), dst)
	MOVQ(param("src"), src)
	MOVQ(param("table"), table)
	MOVQ(param("n"), n)
	Label(name + "_loop2")
	CMPQ(n, U8(32))
	JL(LabelRef(name + "_loop"))
	VPMOVZXBD(Mem{Base: src}, Z0)
	VPMOVZXBD(Mem{Base: src, Disp: 16}, Z1)
	KXNORW(K1, K1, K1)
	KXNORW(K2, K2, K2)
	VPGATHERDD(Mem{Base: table, Index: Z0, Scale: 4}, K1, Z2)
	VPGATHERDD(Mem{Base: table, Index: Z1, Scale: 4}, K2, Z3)
	VMOVUPS(Z2, Mem{Base: dst})
	VMOVUPS(Z3, Mem{Base: dst, Disp: 64})
	ADDQ(U8(32), src)
	ADDQ(U32(128), dst)
	SUBQ(U8(32), n)
	JMP(LabelRef(name + "_loop2"))
	Label(name + "_loop")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_tail"))
	VPMOVZXBD(Mem{Base: src}, Z0)
	KXNORW(K1, K1, K1)
	VPGATHERDD(Mem{Base: table, Index: Z0, Scale: 4}, K1, Z2)
	VMOVUPS(Z2, Mem{Base: dst})
	ADDQ(U8(16), src)
	ADDQ(U8(64), dst)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	// K3: the bytes read and the entries stored; K1 the entries gathered.
	lowMask(K3, K1)
	VPMOVZXBD_Z(Mem{Base: src}, K3, Z0)
	VPXORD(Z2, Z2, Z2)
	VPGATHERDD(Mem{Base: table, Index: Z0, Scale: 4}, K1, Z2)
	VMOVUPS(Z2, K3, Mem{Base: dst})
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

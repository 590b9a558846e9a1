package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The transformer kernels: GELU and its gradient, exp(x−m) for softmax,
// the softmax gradient, LayerNorm's forward pass (layerNormRows) and its
// gradient's element-wise pass. They issue one
// rounded operation at a time in the order of the Go twins in
// transformer_go.go (no FMA), so every kernel set agrees bit for bit; the
// constants below are the same literals, rounded to float32.

var tfConsts = []struct {
	name string
	v    float64
	bits bool // v is an int32 bit pattern, not a float
}{
	{"one", 1, false}, {"half", 0.5, false}, {"mhalf", -0.5, false}, {"zero", 0, false},
	{"absmask", 0x7fffffff, true}, {"bias", 127, true},
	{"expLo", -87.33654, false}, {"expHi", 88.37626, false},
	{"log2e", 1.44269504088896341, false},
	{"ln2Hi", 0.693359375, false}, {"ln2Lo", -2.12194440e-4, false},
	{"expP0", 1.9875691500e-4, false}, {"expP1", 1.3981999507e-3, false},
	{"expP2", 8.3334519073e-3, false}, {"expP3", 4.1665795894e-2, false},
	{"expP4", 1.6666665459e-1, false}, {"expP5", 5.0000001201e-1, false},
	{"invSqrt2", 0.70710678118654752, false},
	{"erfSplit", 0.927734375, false},
	{"erfS0", -5.96761703e-4, false}, {"erfS1", 4.99119423e-3, false},
	{"erfS2", -2.67681349e-2, false}, {"erfS3", 1.12819925e-1, false},
	{"erfS4", -3.76125336e-1, false}, {"erfS5", 1.28379166e-1, false},
	{"erfT0", -1.72853470e-5, false}, {"erfT1", 3.83197126e-4, false},
	{"erfT2", -3.88396438e-3, false}, {"erfT3", 2.42546219e-2, false},
	{"erfT4", -1.06777877e-1, false}, {"erfT5", -6.34846687e-1, false},
	{"erfT6", -1.28717512e-1, false},
	{"invSqrt2Pi", 0.3989422804014327, false},
}

// tfTable holds every constant 16 times over (64 bytes), so that AVX2 and
// AVX-512 instructions can both take it as a full-width memory operand.
var tfTable Mem

var tfIndex = map[string]int{}

func emitTFTable() {
	tfTable = GLOBL("tfconst", RODATA|NOPTR)
	for i, c := range tfConsts {
		tfIndex[c.name] = i
		u := math.Float32bits(float32(c.v))
		if c.bits {
			u = uint32(int32(c.v))
		}
		for l := 0; l < 16; l++ {
			DATA(64*i+4*l, U32(u))
		}
	}
}

func kc(name string) Mem {
	i, ok := tfIndex[name]
	if !ok {
		panic("no constant " + name)
	}
	return tfTable.Offset(64 * i)
}

// vx emits the few operations whose instructions differ between AVX2 and
// AVX-512F, with dst = a op b argument order throughout.
type vx struct {
	s    isa
	mask VecPhysical    // AVX2 comparison result
	k    OpmaskPhysical // AVX-512 comparison result
}

func (e vx) mul(a VecPhysical, b Op, dst VecPhysical) { VMULPS(b, a, dst) }
func (e vx) add(a VecPhysical, b Op, dst VecPhysical) { VADDPS(b, a, dst) }
func (e vx) sub(a VecPhysical, b Op, dst VecPhysical) { VSUBPS(b, a, dst) }

func (e vx) abs(a, dst VecPhysical) {
	if e.s.avx512 {
		VPANDD(kc("absmask"), a, dst)
	} else {
		VANDPS(kc("absmask"), a, dst)
	}
}

// sel sets dst = (a pred b) ? t : f; pred is a VCMPPS predicate.
func (e vx) sel(pred uint8, a VecPhysical, b Op, t, f, dst VecPhysical) {
	if e.s.avx512 {
		VCMPPS(U8(pred), b, a, e.k)
		VBLENDMPS(t, f, e.k, dst)
	} else {
		VCMPPS(U8(pred), b, a, e.mask)
		VBLENDVPS(e.mask, t, f, dst)
	}
}

const (
	ltOQ = 0x11
	gtOQ = 0x1e
)

// exp sets a = e^a (exp32 in transformer_go.go) using n, p and t.
func (e vx) exp(a, n, p, t VecPhysical) {
	VMAXPS(kc("expLo"), a, a)
	VMINPS(kc("expHi"), a, a)
	e.mul(a, kc("log2e"), n)
	if e.s.avx512 {
		VRNDSCALEPS(U8(0), n, n)
	} else {
		VROUNDPS(U8(0), n, n)
	}
	e.mul(n, kc("ln2Hi"), t)
	e.sub(a, t, a)
	e.mul(n, kc("ln2Lo"), t)
	e.sub(a, t, a)
	e.mul(a, kc("expP0"), p)
	e.add(p, kc("expP1"), p)
	for _, c := range []string{"expP2", "expP3", "expP4", "expP5"} {
		e.mul(p, a, p)
		e.add(p, kc(c), p)
	}
	e.mul(p, a, p)
	e.mul(p, a, p)
	e.add(p, a, p)
	e.add(p, kc("one"), p)
	VCVTPS2DQ(n, n)
	VPADDD(kc("bias"), n, n)
	VPSLLD(U8(23), n, n)
	e.mul(p, n, a)
}

// phi sets dst = Φ(x) (phi32) with the temporaries in tmp (eight of them).
func (e vx) phi(x, dst VecPhysical, tmp []VecPhysical) {
	z, t, s, q, u, n, p, w := tmp[0], tmp[1], tmp[2], tmp[3], tmp[4], tmp[5], tmp[6], tmp[7]
	r := dst
	e.mul(x, kc("invSqrt2"), z)
	e.abs(z, t)
	e.mul(z, z, s)
	// Small branch: ½ + ½·(z + z·p(z²)).
	e.mul(s, kc("erfS0"), r)
	e.add(r, kc("erfS1"), r)
	for _, c := range []string{"erfS2", "erfS3", "erfS4", "erfS5"} {
		e.mul(r, s, r)
		e.add(r, kc(c), r)
	}
	e.mul(r, z, r)
	e.add(r, z, r)
	e.mul(r, kc("half"), r)
	e.add(r, kc("half"), r)
	// Tail: h = ½·exp(q(t)), Φ = 1 − h for x >= 0 and h for x < 0.
	e.mul(t, kc("erfT0"), q)
	e.add(q, kc("erfT1"), q)
	e.mul(t, kc("erfT2"), u)
	e.add(u, kc("erfT3"), u)
	e.mul(q, s, q)
	e.add(q, u, q)
	for _, c := range []string{"erfT4", "erfT5", "erfT6"} {
		e.mul(q, t, q)
		e.add(q, kc(c), q)
	}
	e.mul(q, t, q)
	e.sub(q, t, q)
	e.exp(q, n, p, w)
	e.mul(q, kc("half"), q)
	VMOVUPS(kc("one"), u)
	e.sub(u, q, u)
	e.sel(ltOQ, x, kc("zero"), q, u, u)
	e.sel(gtOQ, t, kc("erfSplit"), u, r, r)
}

// tfRegs returns the temporaries of unroll slot u and the registers that
// hold broadcast scalar parameters.
func tfRegs(s isa, u int) (tmp, params []VecPhysical, e vx) {
	if s.avx512 {
		return s.regs[12*u : 12*u+12], s.regs[24:30], vx{s: s, k: []OpmaskPhysical{K2, K3}[u]}
	}
	// Y15 is streamKernel's tail mask.
	return s.regs[0:10], s.regs[11:15], vx{s: s, mask: s.regs[10]}
}

func tfUnroll(s isa) int {
	if s.avx512 {
		return 2
	}
	return 1
}

func broadcast(s isa, names ...string) func(s isa) {
	return func(s isa) {
		_, params, _ := tfRegs(s, 0)
		for i, n := range names {
			VBROADCASTSS(param(n), params[i])
		}
	}
}

func transformerKernels(s isa, masktab Mem) {
	streamKernel(s, masktab, stream{
		name:   "gelu",
		sig:    "func(dst, x *float32, n int)",
		doc:    "sets dst[i] = x[i]·Φ(x[i]) (exact-erf GELU) for n elements.",
		unroll: tfUnroll(s),
		ptrs:   []string{"dst", "x"},
		setup:  func(isa) {},
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			tmp, _, e := tfRegs(s, u)
			x, y := tmp[8], tmp[9]
			ld(Mem{Base: RDI, Disp: off}, x)
			e.phi(x, y, tmp[:8])
			e.mul(x, y, y)
			st(y, Mem{Base: RSI, Disp: off})
		},
	})
	streamKernel(s, masktab, stream{
		name:   "geluGrad",
		sig:    "func(dst, dy, x *float32, n int)",
		doc:    "sets dst[i] = dy[i]·(Φ(x[i]) + x[i]·φ(x[i])) for n elements.",
		unroll: tfUnroll(s),
		ptrs:   []string{"dst", "dy", "x"},
		setup:  func(isa) {},
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			tmp, _, e := tfRegs(s, u)
			x, c := tmp[8], tmp[9]
			ld(Mem{Base: RDX, Disp: off}, x)
			e.phi(x, c, tmp[:8])
			w, n, p, t, dy := tmp[0], tmp[1], tmp[2], tmp[3], tmp[4]
			e.mul(x, x, w)
			e.mul(w, kc("mhalf"), w)
			e.exp(w, n, p, t)
			e.mul(w, kc("invSqrt2Pi"), w)
			e.mul(x, w, w)
			e.add(c, w, c)
			ld(Mem{Base: RDI, Disp: off}, dy)
			e.mul(dy, c, dy)
			st(dy, Mem{Base: RSI, Disp: off})
		},
	})
	streamKernel(s, masktab, stream{
		name:   "expShift",
		sig:    "func(dst, x *float32, n int, m float32)",
		doc:    "sets dst[i] = exp(x[i] - m) for n elements.",
		unroll: tfUnroll(s),
		ptrs:   []string{"dst", "x"},
		setup:  broadcast(s, "m"),
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			tmp, prm, e := tfRegs(s, u)
			a := tmp[0]
			ld(Mem{Base: RDI, Disp: off}, a)
			e.sub(a, prm[0], a)
			e.exp(a, tmp[1], tmp[2], tmp[3])
			st(a, Mem{Base: RSI, Disp: off})
		},
	})
	streamKernel(s, masktab, stream{
		name:   "softmaxGrad",
		sig:    "func(dst, dp, p *float32, n int, d float32)",
		doc:    "sets dst[i] = p[i]·(dp[i] − d) for n elements.",
		unroll: tfUnroll(s),
		ptrs:   []string{"dst", "dp", "p"},
		setup:  broadcast(s, "d"),
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			tmp, prm, e := tfRegs(s, u)
			a, p := tmp[0], tmp[1]
			ld(Mem{Base: RDI, Disp: off}, a)
			e.sub(a, prm[0], a)
			ld(Mem{Base: RDX, Disp: off}, p)
			e.mul(p, a, a)
			st(a, Mem{Base: RSI, Disp: off})
		},
	})
	streamKernel(s, masktab, stream{
		name:   "lnGrad",
		sig:    "func(dx, dy, x, gamma *float32, n int, m, rstd, mg, mgx float32)",
		doc:    "sets dx[i] = (dy[i]·gamma[i] − mg − ((x[i] − m)·rstd)·mgx)·rstd for n elements.",
		unroll: tfUnroll(s),
		ptrs:   []string{"dx", "dy", "x", "gamma"},
		setup:  broadcast(s, "m", "rstd", "mg", "mgx"),
		body: func(s isa, u, off int, ld func(Mem, VecPhysical), st func(VecPhysical, Mem)) {
			tmp, prm, e := tfRegs(s, u)
			a, v, t := tmp[0], tmp[1], tmp[2]
			ld(Mem{Base: RDX, Disp: off}, a)
			e.sub(a, prm[0], a)
			e.mul(a, prm[1], a)
			e.mul(a, prm[3], a)
			ld(Mem{Base: RDI, Disp: off}, v)
			ld(Mem{Base: R8, Disp: off}, t)
			e.mul(v, t, v)
			e.sub(v, prm[2], v)
			e.sub(v, a, v)
			e.mul(v, prm[1], v)
			st(v, Mem{Base: RSI, Disp: off})
		},
	})
}

// layerNormRows emits layerNormAVX2(y, x *float32, d, rows int, eps
// float64, gamma, beta, mean, rstd *float32): LayerNorm's forward pass over
// rows rows of d features, bitwise the Go twin's (layerNormGo). The row
// statistics are lnStatsGo's: μ = sum64(row)/d, σ² = sqdev64(row, μ)/d,
// mean = float32(μ), rstd = float32(1/√(σ²+eps)). sum64 and sqdev64 keep
// four float64 partial sums, element i in sum i mod 4, combined as
// (s0+s1)+(s2+s3): exactly the four lanes of one ymm accumulator of
// VCVTPS2PD'd elements, reduced by VHADDPD. The tail of d mod 4 elements
// is loaded masked; its empty lanes add +0, which changes no partial sum (a
// sum that starts at +0 never becomes −0), and in the squared deviations
// they are masked to +0 after squaring. Division, square root and the
// conversions are IEEE correctly rounded, as in Go. Two rows run at once,
// so that two chains of dependent additions overlap; an odd last row runs
// alone. Each row is then normalised while it is in L1, as lnApplyGo does
// it: y = ((x − m)·r)·γ + β one rounded operation at a time, 8 lanes with a
// masked tail. AVX2 only: the AVX-512 set uses it too.
func layerNormRows(masktab Mem) {
	name := "layerNormAVX2"
	TEXT(name, NOSPLIT, "func(y, x *float32, d, rows int, eps float64, gamma, beta, mean, rstd *float32)")
	Pragma("noescape")
	Doc(name + " normalises rows rows of d float32s at x into y and sets their mean and rstd (see layerNormGo).")
	x, d, rows, pm, pr := RSI, RDX, R8, R9, R10
	py, pg, pb := RDI, RBX, RAX
	MOVQ(param("x"), x)
	MOVQ(param("d"), d)
	MOVQ(param("rows"), rows)
	MOVQ(param("mean"), pm)
	MOVQ(param("rstd"), pr)
	one, eps, dd := X12, X13, X14
	m32, m64 := Y11, Y10 // tail masks: float32 lanes (xmm) and float64 lanes
	MOVQ(U64(math.Float64bits(1)), RAX)
	MOVQ(RAX, one)
	MOVSD(param("eps"), eps)
	VCVTSI2SDQ(d, dd, dd)
	// The tail: d mod 4 elements; masktab + 4*(8-t) holds t ones, then zeros.
	MOVQ(d, RCX)
	ANDQ(U8(3), RCX)
	MOVQ(U32(8), RAX)
	SUBQ(RCX, RAX)
	LEAQ(masktab, RBX)
	VMOVUPS(Mem{Base: RBX, Index: RAX, Scale: 4}, m32.AsX())
	VPMOVSXDQ(m32.AsX(), m64)
	// The apply's tail: d mod 8 float32 lanes.
	m8 := Y9
	MOVQ(d, RCX)
	ANDQ(U8(7), RCX)
	MOVQ(U32(8), RAX)
	SUBQ(RCX, RAX)
	VMOVUPS(Mem{Base: RBX, Index: RAX, Scale: 4}, m8)
	MOVQ(param("y"), py)
	MOVQ(param("gamma"), pg)
	MOVQ(param("beta"), pb)
	MOVQ(d, R11)
	SHLQ(U8(2), R11) // row stride in bytes

	// apply emits y = ((x − m)·r)·γ + β for the row at src into the row at
	// py, with m and r broadcast in vm and vr, and moves py to the next row.
	apply := func(src GPPhysical, vm, vr VecPhysical, lbl string) {
		a := Y6
		XORQ(RCX, RCX)
		MOVQ(d, R13)
		Label(lbl + "_loop")
		CMPQ(R13, U8(8))
		JL(LabelRef(lbl + "_tail"))
		at := func(base GPPhysical) Mem { return Mem{Base: base, Index: RCX, Scale: 4} }
		VMOVUPS(at(src), a)
		VSUBPS(vm, a, a)
		VMULPS(vr, a, a)
		VMULPS(at(pg), a, a)
		VADDPS(at(pb), a, a)
		VMOVUPS(a, at(py))
		ADDQ(U8(8), RCX)
		SUBQ(U8(8), R13)
		JMP(LabelRef(lbl + "_loop"))
		Label(lbl + "_tail")
		TESTQ(R13, R13)
		JZ(LabelRef(lbl + "_done"))
		t := Y7
		VMASKMOVPS(at(src), m8, a)
		VSUBPS(vm, a, a)
		VMULPS(vr, a, a)
		VMASKMOVPS(at(pg), m8, t)
		VMULPS(t, a, a)
		VMASKMOVPS(at(pb), m8, t)
		VADDPS(t, a, a)
		VMASKMOVPS(a, m8, at(py))
		Label(lbl + "_done")
		ADDQ(R11, py)
	}

	// block emits the statistics of k (1 or 2) rows from x, x+stride, …
	block := func(k int, lbl string) {
		acc := []VecPhysical{Y0, Y1}[:k]
		t := []VecPhysical{Y2, Y3}[:k]
		mu := []VecPhysical{Y4, Y5}[:k]
		ptr := []GPPhysical{R12, R13}[:k]
		// pass emits one pass over the rows: sums, or with dev the
		// squared deviations from mu.
		pass := func(dev bool, p string) {
			for i := range acc {
				VXORPD(acc[i], acc[i], acc[i])
			}
			for i := range ptr {
				if i == 0 {
					MOVQ(x, ptr[0])
				} else {
					LEAQ(Mem{Base: x, Index: R11, Scale: 1}, ptr[1])
				}
			}
			MOVQ(d, RCX)
			step := func(masked bool) {
				for i := range acc {
					if masked {
						VMASKMOVPS(Mem{Base: ptr[i]}, m32.AsX(), t[i].AsX())
						VCVTPS2PD(t[i].AsX(), t[i])
					} else {
						VCVTPS2PD(Mem{Base: ptr[i]}, t[i])
					}
					if dev {
						VSUBPD(mu[i], t[i], t[i])
						VMULPD(t[i], t[i], t[i])
						if masked {
							VANDPD(m64, t[i], t[i])
						}
					}
					VADDPD(t[i], acc[i], acc[i])
				}
			}
			Label(lbl + p + "_loop")
			CMPQ(RCX, U8(4))
			JL(LabelRef(lbl + p + "_tail"))
			step(false)
			for i := range ptr {
				ADDQ(U8(16), ptr[i])
			}
			SUBQ(U8(4), RCX)
			JMP(LabelRef(lbl + p + "_loop"))
			Label(lbl + p + "_tail")
			TESTQ(RCX, RCX)
			JZ(LabelRef(lbl + p + "_reduce"))
			step(true)
			Label(lbl + p + "_reduce")
			// (s0+s1)+(s2+s3), then divided by d.
			for i := range acc {
				VEXTRACTF128(U8(1), acc[i], t[i].AsX())
				VHADDPD(t[i].AsX(), acc[i].AsX(), acc[i].AsX())
				VPERMILPD(U8(1), acc[i].AsX(), t[i].AsX())
				VADDSD(t[i].AsX(), acc[i].AsX(), acc[i].AsX())
				VDIVSD(dd, acc[i].AsX(), acc[i].AsX())
			}
		}
		pass(false, "_sum")
		for i := range acc {
			VBROADCASTSD(acc[i].AsX(), mu[i])
		}
		pass(true, "_dev")
		for i := range acc {
			VADDSD(eps, acc[i].AsX(), acc[i].AsX())
			VSQRTSD(acc[i].AsX(), acc[i].AsX(), acc[i].AsX())
			VDIVSD(acc[i].AsX(), one, acc[i].AsX())
			VCVTSD2SS(acc[i].AsX(), acc[i].AsX(), acc[i].AsX())
			VMOVSS(acc[i].AsX(), Mem{Base: pr, Disp: 4 * i})
			VCVTSD2SS(mu[i].AsX(), t[i].AsX(), t[i].AsX())
			VMOVSS(t[i].AsX(), Mem{Base: pm, Disp: 4 * i})
		}
		for i := range acc {
			VBROADCASTSS(t[i].AsX(), mu[i])  // float32(μ)
			VBROADCASTSS(acc[i].AsX(), t[i]) // float32 rstd
			// The row's address in R12 (R13 counts the apply's elements).
			if i == 0 {
				MOVQ(x, R12)
			} else {
				LEAQ(Mem{Base: x, Index: R11, Scale: 1}, R12)
			}
			apply(R12, mu[i], t[i], fmt.Sprintf("%s_apply%d", lbl, i))
		}
		for range k {
			ADDQ(R11, x)
		}
		ADDQ(U8(4*k), pm)
		ADDQ(U8(4*k), pr)
	}
	Label(name + "_pairs")
	CMPQ(rows, U8(2))
	JL(LabelRef(name + "_single"))
	block(2, name+"_2")
	SUBQ(U8(2), rows)
	JMP(LabelRef(name + "_pairs"))
	Label(name + "_single")
	TESTQ(rows, rows)
	JZ(LabelRef(name + "_done"))
	block(1, name+"_1")
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

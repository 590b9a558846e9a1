package kernels

import (
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// # bf16 GEMM
//
// SgemmBF16 is Sgemm with op(A) and op(B) rounded to bfloat16 (8 bits of
// significand, float32's exponent range) and every product summed in
// float32: the mixed-precision product of `trainer --precision bf16`, whose
// weights, gradients and optimizer state stay float32. On a CPU with
// AVX512_BF16 its micro-kernel is VDPBF16PS, which does two multiply-adds per
// float32 lane where VFMADD231PS does one.
//
// Operands are rounded to bf16 while they are packed (round to nearest even
// on the bit pattern; NaN stays NaN). A packed panel stores each pair of
// consecutive steps of k, 2t and 2t+1, of one row of op(A) or one column of
// op(B) as a dword (step 2t in the low half), which is what VDPBF16PS
// multiplies lane by lane; an odd k is padded with a zero step.
//
// Rounding is that of VDPBF16PS, reproduced by the pure-Go twin: per pair,
// acc += a[2t+1]*b[2t+1], then acc += a[2t]*b[2t], each product exact and each
// sum rounded to nearest even, with bf16 subnormal inputs read as zero and
// subnormal sums flushed to zero; depth blocks of at most kcBF16 steps start
// from zero and are added to C in order; the tile is written as
// alpha*acc + beta*C with a separate multiply, multiply and add (no fused
// multiply-add). The depth blocking depends on k alone, so every kernel set
// — the AVX512_BF16 one and the Go twin, for any GOMAXPROCS — gives the same
// bits for the same operands.

// kcBF16 is the most steps of k in one packed depth block of the bf16 GEMM
// (the same bytes per panel as the float32 kc of 256).
const kcBF16 = 512

// bf16GemmKernel is a bf16 micro-kernel (see bf16Kernels.gemm).
type bf16GemmKernel = func(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32, bias *float32)

// bf16Kernels is one implementation of the bf16 GEMM's micro-kernel and
// packing steps.
type bf16Kernels struct {
	name   string
	mr, nr int
	// gemm: C[0:mr][0:nr] = alpha*A*B + beta*C over kp pairs of steps; a is
	// a packed panel of mr dwords per pair, b one of nr dwords per pair; a
	// non-nil bias (nr values) is then added to every row.
	gemm     bf16GemmKernel
	gemmEdge []bf16GemmKernel
	// pairRows sets dst[j] = bf16(r0[j]) | bf16(r1[j])<<16.
	pairRows func(dst []uint32, r0, r1 []float32)
	// cvt sets dst[j] = bf16(src[j]).
	cvt func(dst []uint16, src []float32)
	// transpose8 and transpose4, when set, are the float32 set's 8×8 and
	// 4×8 transposes, applied to dwords.
	transpose8, transpose4 func(dst *float32, ldd int, src *float32, lds int, steps8 int)
	// tiles, when set, makes this an AMX-layout set (bf16_amx.go): mr and nr
	// are 32 and the product runs through runAMX instead of gemm.
	tiles amxTilesFunc
	// macsPerNs is the rate that decides when a product is worth splitting
	// across goroutines.
	macsPerNs float64
}

// bf16Native is the bf16 set of this CPU, nil if it has no AVX512_BF16 (or
// this build has no assembly).
var bf16Native *bf16Kernels

var bf16Go = &bf16Kernels{
	name: "go", mr: 4, nr: 16, macsPerNs: 2 * gemmMACsPerNs,
	gemm:     gemmBF16Go(4, 16),
	pairRows: pairRowsBF16Go,
	cvt:      cvtBF16Go,
}

// HasBF16 reports whether the bf16 GEMM runs on native instructions
// (AVX512_BF16 or AMX-BF16) with the active kernel set; without them
// SgemmBF16 runs the pure-Go twin, far more slowly.
func HasBF16() bool { return bf16Set().name != "go" }

// BF16Impl names the bf16 GEMM in use: "amxbf16" (AMX tiles),
// "avx512bf16" (VDPBF16PS) or "go".
func BF16Impl() string { return bf16Set().name }

// bf16Set is the bf16 implementation of the active kernel set: with the
// avx512 set, the AMX one where the CPU and OS allow it and
// SHARDSMITH_KERNELS does not cap it below "amx", else the VDPBF16PS one;
// the Go twin otherwise.
func bf16Set() *bf16Kernels {
	if active().name != "avx512" {
		return bf16Go
	}
	if bf16AMX != nil && amxOn.Load() {
		return bf16AMX
	}
	if bf16Native != nil {
		return bf16Native
	}
	return bf16Go
}

// BF16 rounds x to bfloat16 and returns its bits: round to nearest even on
// the bit pattern, NaN kept NaN (quieted).
func BF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return uint16((b | 0x00400000) >> 16)
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BF16Float32 widens a bfloat16 to float32 (exactly).
func BF16Float32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// bf16Operand is what VDPBF16PS reads: subnormal bf16 values count as zero.
func bf16Operand(h uint16) float64 {
	if h&0x7f80 == 0 {
		return 0
	}
	return float64(BF16Float32(h))
}

// bf16Acc returns acc + p rounded to float32, a subnormal result flushed to
// a zero of its sign. p is an exact product of two bf16 values; the float64
// sum of a float32 and such a product, rounded to float32, is the correctly
// rounded sum (float64 has more than twice float32's precision plus two bits).
func bf16Acc(acc float32, p float64) float32 {
	r := float32(float64(acc) + p)
	if math.Abs(float64(r)) < 0x1p-126 {
		return float32(math.Copysign(0, float64(r)))
	}
	return r
}

func cvtBF16Go(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for j, v := range src {
		dst[j] = BF16(v)
	}
}

func pairRowsBF16Go(dst []uint32, r0, r1 []float32) {
	dst = dst[:len(r0)]
	r1 = r1[:len(r0)]
	for j := range dst {
		dst[j] = uint32(BF16(r0[j])) | uint32(BF16(r1[j]))<<16
	}
}

// gemmBF16Go returns the Go twin of the bf16 micro-kernel for an mr×nr tile.
func gemmBF16Go(mr, nr int) bf16GemmKernel {
	return func(kp int, ap, bp *uint32, cp *float32, ldc int, alpha, beta float32, bp32 *float32) {
		var bias []float32
		if bp32 != nil {
			bias = unsafe.Slice(bp32, nr)
		}
		a := unsafe.Slice(ap, kp*mr)
		b := unsafe.Slice(bp, kp*nr)
		c := unsafe.Slice(cp, (mr-1)*ldc+nr)
		var accs [64]float32
		acc := accs[:nr]
		for i := 0; i < mr; i++ {
			clear(acc)
			for t := 0; t < kp; t++ {
				x := a[t*mr+i]
				xh, xl := bf16Operand(uint16(x>>16)), bf16Operand(uint16(x))
				row := b[t*nr : t*nr+nr]
				for j, y := range row {
					s := bf16Acc(acc[j], xh*bf16Operand(uint16(y>>16)))
					acc[j] = bf16Acc(s, xl*bf16Operand(uint16(y)))
				}
			}
			out := c[i*ldc : i*ldc+nr]
			for j := range out {
				v := alpha * acc[j]
				if beta != 0 {
					v = v + float32(beta*out[j])
				}
				if bias != nil {
					v += bias[j]
				}
				out[j] = v
			}
		}
	}
}

// SgemmBF16 computes C = alpha*bf16(op(A))*bf16(op(B)) + beta*C with float32
// accumulation; the arguments are those of Sgemm. Large products are split
// across GOMAXPROCS goroutines; the result is bitwise identical to
// SgemmBF16Serial's and to the Go twin's.
func SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ks := bf16Set()
	sgemmBF16(ks, gemmThreads(runtime.GOMAXPROCS(0), m, n, k, ks.macsPerNs), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBF16Serial is SgemmBF16 on the calling goroutine only.
func SgemmBF16Serial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmBF16(bf16Set(), 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemmBF16(ks *bf16Kernels, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmBF16With(ks, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, nil)
}

// SgemmBF16Bias is SgemmBias with SgemmBF16's products: C =
// bf16(op(A))*bf16(op(B)) + bias, bitwise SgemmBF16 with alpha 1 and beta 1
// on a C filled with the bias.
func SgemmBF16Bias(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	ks := bf16Set()
	sgemmBF16Bias(ks, gemmThreads(runtime.GOMAXPROCS(0), m, n, k, ks.macsPerNs), transA, transB, m, n, k, a, lda, b, ldb, bias, c, ldc)
}

// SgemmBF16BiasSerial is SgemmBF16Bias on the calling goroutine only.
func SgemmBF16BiasSerial(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	sgemmBF16Bias(bf16Set(), 1, transA, transB, m, n, k, a, lda, b, ldb, bias, c, ldc)
}

func sgemmBF16Bias(ks *bf16Kernels, threads int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	checkBias(n, bias)
	sgemmBF16With(ks, threads, transA, transB, m, n, k, 1, a, lda, b, ldb, 1, c, ldc, nil, bias[:n:n])
}

// sgemmBF16With is sgemmBF16 that, given packed (op(B) packed for ks by
// PackBF16), multiplies by its panels instead of packing b, and, given a
// bias (non-nil), adds it as SgemmBias does (alpha and beta are then 1).
func sgemmBF16With(ks *bf16Kernels, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, packed *PackedBF16, bias []float32) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if noProducts(m, n, k, alpha, beta, c, ldc, bias) {
		return
	}
	g := &gemmArgs{transA: transA, transB: transB, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, packed: packed, bias: bias}
	if threads > 1 {
		pm, pn := splitGrid(threads, ceilDiv(m, ks.mr), ceilDiv(n, ks.nr), ks.mr, ks.nr)
		if pm*pn > 1 {
			runGrid(m, n, ks.mr, ks.nr, pm, pn, func(i0, i1, j0, j1 int) {
				ws := bf16Workspaces.Get().(*bf16Workspace)
				g.runBF16Range(ks, ws, i0, i1, j0, j1)
				bf16Workspaces.Put(ws)
			})
			return
		}
	}
	ws := bf16Workspaces.Get().(*bf16Workspace)
	g.runBF16Range(ks, ws, 0, m, 0, n)
	bf16Workspaces.Put(ws)
}

// runBF16Range computes rows [i0, i1) and columns [j0, j1) of C with the
// set's layout.
func (g *gemmArgs) runBF16Range(ks *bf16Kernels, ws *bf16Workspace, i0, i1, j0, j1 int) {
	if ks.tiles != nil {
		g.runAMX(ks, ws, i0, i1, j0, j1)
		return
	}
	g.runBF16(ks, ws, i0, i1, j0, j1)
}

// bf16Workspace holds one goroutine's packed bf16 panels and conversion
// scratch.
type bf16Workspace struct {
	a, b    []uint32
	scratch []uint32
	stage   []uint32 // the AMX A packing's staging panel
	tile    []float32
}

var bf16Workspaces = sync.Pool{New: func() any { return new(bf16Workspace) }}

func growU32(x []uint32, n int) []uint32 {
	if len(x) < n {
		return make([]uint32, n)
	}
	return x
}

// mcBF16 and ncBF16 bound the rows of op(A) and columns of op(B) packed at
// once.
const mcBF16, ncBF16 = 960, 512

func (g *gemmArgs) runBF16(ks *bf16Kernels, ws *bf16Workspace, i0, i1, j0, j1 int) {
	mr, nr := ks.mr, ks.nr
	kc := depthBlock(g.k, kcBF16)
	mc := blockSize(i1-i0, mcBF16, mr)
	nc := blockSize(j1-j0, ncBF16, nr)
	kp := ceilDiv(kc, 2)
	ws.a = growU32(ws.a, mc*kp)
	ws.b = growU32(ws.b, kp*nc)
	ws.scratch = growU32(ws.scratch, 8*roundUp(kp, 8))
	if len(ws.tile) < mr*nr {
		ws.tile = make([]float32, mr*nr)
	}
	for ic := i0; ic < i1; ic += mc {
		ib := min(mc, i1-ic)
		for pc := 0; pc < g.k; pc += kc {
			pb := min(kc, g.k-pc)
			pairs := ceilDiv(pb, 2)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			packBF16(ks, ws, ws.a, !g.transA, g.a, g.lda, ic, ib, pc, pb, mr, pairs)
			for jc := j0; jc < j1; jc += nc {
				jb := min(nc, j1-jc)
				bp := ws.b
				if g.packed != nil {
					bp = g.packed.blocks[pc/kc][jc*pairs:]
				} else {
					packBF16(ks, ws, bp, g.transB, g.b, g.ldb, jc, jb, pc, pb, nr, pairs)
				}
				var bias []float32
				if pc == 0 && g.bias != nil {
					bias, beta = g.bias, 0 // added in the epilogue
				}
				g.macroBF16(ks, ws, bp, ic, ib, jc, jb, pairs, beta, bias)
			}
		}
	}
}

// macroBF16 multiplies the packed row block in ws.a by the packed column
// block b (panels of nr columns, pairs dwords per column). A non-nil bias
// (C's n columns) is added in the micro-kernels' epilogue.
func (g *gemmArgs) macroBF16(ks *bf16Kernels, ws *bf16Workspace, b []uint32, ic, ib, jc, jb, pairs int, beta float32, bias []float32) {
	runTiles(ks.gemm, ks.gemmEdge, ks.mr, ks.nr, pairs, ws.a, b, ws.tile, g, ic, ib, jc, jb, beta, bias)
}

// packBF16 packs lines [l0, l0+lines) and depth [p0, p0+pb) of an operand
// into panels of w lines and stride pairs of steps each (at least
// ceil(pb/2)), each pair of steps of a line as one dword. With
// stepsContiguous the steps of a line lie next to each other in x (element
// (line l, step p) at x[l*ld+p]: op(A) untransposed, op(B) transposed);
// otherwise the lines of a step do (x[p*ld+l]). Lines past the end of the
// last panel, the pad step of an odd pb and the pairs from ceil(pb/2) to
// stride are zero.
func packBF16(ks *bf16Kernels, ws *bf16Workspace, dst []uint32, stepsContiguous bool, x []float32, ld, l0, lines, p0, pb, w, stride int) {
	pairs := ceilDiv(pb, 2)
	for q := 0; q < lines; q += w {
		panel := dst[q*stride : (q+w)*stride]
		clear(panel[pairs*w:])
		n := min(w, lines-q)
		if stepsContiguous {
			packPairsAdjacent(ks, ws, panel, w, x, (l0+q)*ld+p0, ld, n, pb)
		} else {
			for t := 0; t < pairs; t++ {
				r0 := x[(p0+2*t)*ld+l0+q:][:n]
				out := panel[t*w : t*w+n]
				if 2*t+1 < pb {
					ks.pairRows(out, r0, x[(p0+2*t+1)*ld+l0+q:][:n])
				} else {
					for j, v := range r0 {
						out[j] = uint32(BF16(v))
					}
				}
			}
		}
		if n < w {
			for t := 0; t < pairs; t++ {
				clear(panel[t*w+n : t*w+w])
			}
		}
	}
}

// packPairsAdjacent sets panel[t*w+r] = bf16(x[off+r*ld+2t]) |
// bf16(x[off+r*ld+2t+1])<<16 for r < lines and t < ceil(steps/2), the pad
// step of an odd count being zero. Each line is converted into a row of
// scratch; with a transpose kernel, blocks of 8 lines are then transposed
// into the panel 8 pairs at a time.
func packPairsAdjacent(ks *bf16Kernels, ws *bf16Workspace, panel []uint32, w int, x []float32, off, ld, lines, steps int) {
	pairs := ceilDiv(steps, 2)
	stride := roundUp(pairs, 8)
	r := 0
	if ks.transpose8 != nil && pairs >= 8 {
		sc := ws.scratch[:8*stride]
		words := unsafe.Slice((*uint16)(unsafe.Pointer(&sc[0])), 2*len(sc))
		// Blocks of 8 lines, then of 4 (a 12-row A panel is one of each).
		for _, nl := range [2]int{8, 4} {
			tr := ks.transpose8
			if nl == 4 {
				tr = ks.transpose4
			}
			for ; r+nl <= lines; r += nl {
				for i := 0; i < nl; i++ {
					row := words[2*i*stride : 2*i*stride+2*pairs]
					ks.cvt(row[:steps], x[off+(r+i)*ld:][:steps])
					if steps%2 == 1 {
						row[steps] = 0
					}
				}
				s8 := pairs / 8
				tr((*float32)(unsafe.Pointer(&panel[r])), w, (*float32)(unsafe.Pointer(&sc[0])), stride, s8)
				for t := 8 * s8; t < pairs; t++ {
					for i := 0; i < nl; i++ {
						panel[t*w+r+i] = sc[i*stride+t]
					}
				}
			}
		}
	}
	for ; r < lines; r++ {
		src := x[off+r*ld:][:steps]
		for t := 0; t < pairs; t++ {
			v := uint32(BF16(src[2*t]))
			if 2*t+1 < steps {
				v |= uint32(BF16(src[2*t+1])) << 16
			}
			panel[t*w+r] = v
		}
	}
}

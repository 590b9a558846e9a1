package kernels

import (
	"fmt"
	"runtime"
	"sync"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X, or Xᵀ when transX is set. op(A) is m×k, op(B) is k×n
// and C is m×n; lda, ldb and ldc are the row strides of A, B and C as
// stored (A is m×k, or k×m when transposed). When beta is 0, C is only
// written, so it may hold NaNs or garbage.
//
// Large products are split across GOMAXPROCS goroutines; the result is
// bitwise identical to SgemmSerial's. Inconsistent dimensions, strides or
// slice lengths panic, as they do in BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(gemmThreads(runtime.GOMAXPROCS(0), m, n, k, gemmMACsPerNs), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm on the calling goroutine only.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBias computes C = op(A)*op(B) + bias, bias[j] added to every row
// of column j (a dense layer's forward product); the other arguments are
// Sgemm's and bias holds at least n values. C is only written. The bias is
// copied into each block of C by the goroutine that computes the block,
// just before the block's first depth step, which then runs with beta 1:
// the micro-kernels see the values they see when C is filled with the
// bias beforehand and Sgemm runs with alpha 1 and beta 1, so C is bitwise
// that call's, without a separate pass over C on one goroutine.
func SgemmBias(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	sgemmBias(gemmThreads(runtime.GOMAXPROCS(0), m, n, k, gemmMACsPerNs), transA, transB, m, n, k, a, lda, b, ldb, bias, c, ldc)
}

// SgemmBiasSerial is SgemmBias on the calling goroutine only.
func SgemmBiasSerial(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	sgemmBias(1, transA, transB, m, n, k, a, lda, b, ldb, bias, c, ldc)
}

// checkBias panics unless bias holds a value for each of C's n columns.
func checkBias(n int, bias []float32) {
	if len(bias) < n {
		panic(fmt.Sprintf("kernels: Sgemm: len(bias)=%d < n=%d", len(bias), n))
	}
}

// fillBias sets rows [i0,i0+rows) and columns [j0,j0+cols) of C to the
// bias of their columns.
func fillBias(c []float32, ldc int, bias []float32, i0, rows, j0, cols int) {
	src := bias[j0 : j0+cols]
	for i := i0; i < i0+rows; i++ {
		copy(c[i*ldc+j0:i*ldc+j0+cols], src)
	}
}

// tileBias returns the address of the bias of the nr columns from j of a
// full tile, or nil without a bias.
func tileBias(bias []float32, j, nr int) *float32 {
	if bias == nil {
		return nil
	}
	_ = bias[j+nr-1]
	return &bias[j]
}

// edgeTileInit prepares the padded copy t (row stride nr) of a rows×cols
// edge tile of C at ci for a micro-kernel call and returns the beta to call
// it with. A bias cannot go to the kernel (it reads nr values, and fewer
// lie past j), so the tile starts as the bias and the kernel adds it with
// beta 1: bitwise the epilogue's one rounded add. Otherwise, for a nonzero
// beta, the tile starts as C.
func edgeTileInit(t []float32, nr int, c []float32, ci, ldc, rows, cols int, beta float32, bias []float32, j int) float32 {
	if bias != nil {
		for r := 0; r < rows; r++ {
			copy(t[r*nr:r*nr+cols], bias[j:j+cols])
		}
		return 1
	}
	if beta != 0 {
		for r := 0; r < rows; r++ {
			copy(t[r*nr:r*nr+cols], c[ci+r*ldc:ci+r*ldc+cols])
		}
	}
	return beta
}

// PackB fills dst with depth [p0,p0+pb) and columns [j0,j0+cols) of a
// product's op(B), packed as Sgemm packs it: ceil(cols/nr) micro-panels of
// nr columns, panel q at dst[q*pb*nr:], each stored step by step
// (dst[q*pb*nr+p*nr+j] = op(B)[p0+p][j0+q*nr+j]), lanes past cols zero.
// A caller that builds op(B) on the fly (a convolution's im2col) writes
// it straight into the panels instead of into a matrix that is then
// copied into them.
type PackB func(dst []float32, nr, p0, pb, j0, cols int)

// SgemmSerialPackB is SgemmSerial with op(B), k×n, supplied by pack. The
// blocking, and so every element's summation order, is SgemmSerial's:
// when pack writes the panels SgemmSerial would, C is bitwise the same.
func SgemmSerialPackB(transA bool, m, n, k int, alpha float32, a []float32, lda int, pack PackB, beta float32, c []float32, ldc int) {
	checkGemmAC(transA, m, n, k, a, lda, c, ldc)
	if noProducts(m, n, k, alpha, beta, c, ldc, nil) {
		return
	}
	ks := active()
	g := &gemmArgs{transA: transA, k: k, alpha: alpha, beta: beta, a: a, lda: lda, c: c, ldc: ldc, pack: pack}
	ws := getWorkspace()
	g.run(ks, ws, 0, m, 0, n)
	putWorkspace(ws)
}

// noProducts handles the products with nothing to multiply: an empty C,
// or k or alpha zero, where C is only scaled by beta, or, for a product
// with a bias (non-nil), set to it. It reports whether the call is done.
func noProducts(m, n, k int, alpha, beta float32, c []float32, ldc int, bias []float32) bool {
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 || alpha == 0 {
		if bias != nil {
			fillBias(c, ldc, bias, 0, m, 0, n)
		} else {
			scaleMatrix(beta, c, m, n, ldc)
		}
		return true
	}
	return false
}

// gemmMACsPerNs is the rate, in multiply-adds per nanosecond on one core
// with packing, by which a product's work is estimated for the split: a
// product gets one task per minTaskNs of work (at most one per thread), so
// one under 2·minTaskNs runs on the caller alone — handing out the tasks and
// packing B twice would cost more than they save. BenchmarkSgemmViT
// measures the rate on the ViT's products, the smallest the trainer splits.
const gemmMACsPerNs = 40

// gemmThreads is how many of threads a product of m*n*k multiply-adds at
// macsPerNs is split across. It depends on the sizes alone.
func gemmThreads(threads, m, n, k int, macsPerNs float64) int {
	return min(threads, max(1, int(float64(m)*float64(n)*float64(k)/macsPerNs/minTaskNs)))
}

// gemmArgs carries one call's operands through the blocked loops.
type gemmArgs struct {
	transA, transB bool
	k              int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	pack           PackB       // when set, it packs op(B) in place of packB
	packed         *PackedBF16 // when set, op(B) of a bf16 product, packed already
	// bias, when set, is copied into each block of C before its first
	// depth step (SgemmBias); beta is then 1.
	bias []float32
}

// sgemm splits the product across up to threads goroutines (Sgemm has
// sized threads to the work already).
func sgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// sgemmBias is sgemm for SgemmBias.
func sgemmBias(threads int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	checkBias(n, bias)
	sgemmWith(threads, transA, transB, m, n, k, 1, a, lda, b, ldb, 1, c, ldc, bias[:n:n])
}

// sgemmWith is sgemm that, given a bias (non-nil), computes op(A)*op(B)
// plus the bias instead (alpha and beta are then 1).
func sgemmWith(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if noProducts(m, n, k, alpha, beta, c, ldc, bias) {
		return
	}
	ks := active()
	g := &gemmArgs{transA: transA, transB: transB, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, bias: bias}

	if threads > 1 {
		pm, pn := splitGrid(threads, ceilDiv(m, ks.mr), ceilDiv(n, ks.nr), ks.mr, ks.nr)
		if pm*pn > 1 {
			runGrid(m, n, ks.mr, ks.nr, pm, pn, func(i0, i1, j0, j1 int) {
				ws := getWorkspace()
				g.run(ks, ws, i0, i1, j0, j1)
				putWorkspace(ws)
			})
			return
		}
	}
	ws := getWorkspace()
	g.run(ks, ws, 0, m, 0, n)
	putWorkspace(ws)
}

// checkGemm panics with a specific message if the operands are
// inconsistent.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	checkGemmAC(transA, m, n, k, a, lda, c, ldc)
	if transB {
		checkOperand("b", b, ldb, n, k)
	} else {
		checkOperand("b", b, ldb, k, n)
	}
}

// checkGemmAC checks the dimensions and the A and C operands.
func checkGemmAC(transA bool, m, n, k int, a []float32, lda int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if transA {
		checkOperand("a", a, lda, k, m)
	} else {
		checkOperand("a", a, lda, m, k)
	}
	checkOperand("c", c, ldc, m, n)
}

// checkOperand panics unless x holds a rows×cols matrix with row stride ld.
func checkOperand(name string, x []float32, ld, rows, cols int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("kernels: Sgemm: ld%s=%d < %d columns", name, ld, cols))
	}
	if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels: Sgemm: len(%s)=%d < %d needed for %d×%d with ld%s=%d",
			name, len(x), (rows-1)*ld+cols, rows, cols, name, ld))
	}
}

// scaleMatrix computes C = beta*C; beta == 0 clears C without reading it.
func scaleMatrix(beta float32, c []float32, m, n, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			Scal(beta, row)
		}
	}
}

// splitGrid picks a pm×pn grid of workers (pm*pn <= threads) over a C of
// tm×tn tiles of mr×nr, minimising the per-worker cost: its share of the
// multiply-adds plus a term for packing its rows of A and columns of B.
func splitGrid(threads, tm, tn, mr, nr int) (pm, pn int) {
	best := -1
	pm, pn = 1, 1
	for p := 1; p <= threads; p++ {
		if p > tm {
			break
		}
		q := threads / p
		if q > tn {
			q = tn
		}
		rows := ceilDiv(tm, p) * mr
		cols := ceilDiv(tn, q) * nr
		cost := rows*cols + 32*(rows+cols)
		if best < 0 || cost < best {
			best, pm, pn = cost, p, q
		}
	}
	return pm, pn
}

// runGrid splits an m×n C into pm×pn rectangles on the boundaries of its
// mr×nr tiles and runs fn on each, one task each on the pool, skipping the
// empty ones: the one split of every GEMM driver, so the rectangles depend
// only on the sizes.
func runGrid(m, n, mr, nr, pm, pn int, fn func(i0, i1, j0, j1 int)) {
	tm, tn := ceilDiv(m, mr), ceilDiv(n, nr)
	runTasks(pm*pn, func(w int) {
		bi, bj := w/pn, w%pn
		i0, i1 := min(m, bi*tm/pm*mr), min(m, (bi+1)*tm/pm*mr)
		j0, j1 := min(n, bj*tn/pn*nr), min(n, (bj+1)*tn/pn*nr)
		if i0 < i1 && j0 < j1 {
			fn(i0, i1, j0, j1)
		}
	})
}

// run computes rows [i0,i1) and columns [j0,j1) of C. i0 and j0 are
// multiples of mr and nr, so the tile grid is the same for every split.
func (g *gemmArgs) run(ks *kernelSet, ws *workspace, i0, i1, j0, j1 int) {
	mr, nr := ks.mr, ks.nr
	kc := depthBlock(g.k, ks.kc)
	mc := blockSize(i1-i0, ks.mc, mr)
	nc := blockSize(j1-j0, ks.nc, nr)
	ws.ensure(mc*kc, kc*nc, mr*nr)
	for ic := i0; ic < i1; ic += mc {
		ib := min(mc, i1-ic)
		for pc := 0; pc < g.k; pc += kc {
			pb := min(kc, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			packA(ks, ws.a, g.transA, g.a, g.lda, ic, ib, pc, pb, mr)
			for jc := j0; jc < j1; jc += nc {
				jb := min(nc, j1-jc)
				if g.pack != nil {
					g.pack(ws.b[:roundUp(jb, nr)*pb], nr, pc, pb, jc, jb)
				} else {
					packB(ks, ws.b, g.transB, g.b, g.ldb, pc, pb, jc, jb, nr)
				}
				var bias []float32
				if pc == 0 && g.bias != nil {
					bias, beta = g.bias, 0 // added in the epilogue
				}
				g.macro(ks, ws, ic, ib, jc, jb, pb, beta, bias)
			}
		}
	}
}

// macro runs the micro-kernel over one packed ib×pb block of A and pb×jb
// block of B, updating C[ic:ic+ib, jc:jc+jb]. A non-nil bias (C's n
// columns) is added in the micro-kernels' epilogue.
func (g *gemmArgs) macro(ks *kernelSet, ws *workspace, ic, ib, jc, jb, pb int, beta float32, bias []float32) {
	runTiles(ks.gemm, ks.gemmEdge, ks.mr, ks.nr, pb, ws.a, ws.b, ws.tile, g, ic, ib, jc, jb, beta, bias)
}

// runTiles is the macro-kernel of the fp32 and bf16 GEMMs: it runs kern,
// a micro-kernel on panels of E (float32s, or dwords of bf16 pairs) of
// depth elements per row or column, over the mr×nr tiles of the packed
// ib-row block a and jb-column block b, updating C[ic:ic+ib, jc:jc+jb].
// Full tiles are computed in place; tiles of fewer rows use edge[rows]
// where the set has one; any other edge tile runs the same kernel on a
// padded copy (tile, mr×nr) so that its elements are rounded exactly like
// the others. A non-nil bias (C's n columns) is added in the epilogue.
func runTiles[E any](kern func(k int, a, b *E, c *float32, ldc int, alpha, beta float32, bias *float32),
	edge []func(k int, a, b *E, c *float32, ldc int, alpha, beta float32, bias *float32),
	mr, nr, depth int, a, b []E, tile []float32, g *gemmArgs, ic, ib, jc, jb int, beta float32, bias []float32) {
	c, ldc := g.c, g.ldc
	for ir := 0; ir < ib; ir += mr {
		ap := a[ir*depth : (ir+mr)*depth]
		rows := min(mr, ib-ir)
		for jr := 0; jr < jb; jr += nr {
			bp := b[jr*depth : (jr+nr)*depth]
			cols := min(nr, jb-jr)
			ci := (ic+ir)*ldc + jc + jr
			if cols == nr {
				bias := tileBias(bias, jc+jr, nr)
				if rows == mr {
					_ = c[ci+(mr-1)*ldc+nr-1]
					kern(depth, &ap[0], &bp[0], &c[ci], ldc, g.alpha, beta, bias)
					continue
				}
				if rows < len(edge) && edge[rows] != nil {
					_ = c[ci+(rows-1)*ldc+nr-1]
					edge[rows](depth, &ap[0], &bp[0], &c[ci], ldc, g.alpha, beta, bias)
					continue
				}
			}
			t := tile[:mr*nr]
			tbeta := edgeTileInit(t, nr, c, ci, ldc, rows, cols, beta, bias, jc+jr)
			kern(depth, &ap[0], &bp[0], &t[0], nr, g.alpha, tbeta, nil)
			for r := 0; r < rows; r++ {
				copy(c[ci+r*ldc:ci+r*ldc+cols], t[r*nr:r*nr+cols])
			}
		}
	}
}

// depthBlock splits k into the fewest blocks of at most max, of equal
// depth rounded up to a multiple of 4 (the micro-kernels' unrolling). It
// depends on k alone, which keeps the summation order of every element
// independent of how C is split between goroutines.
func depthBlock(k, max int) int {
	return min(max, roundUp(ceilDiv(k, ceilDiv(k, max)), 4))
}

// blockSize splits n into the fewest blocks of at most max (a multiple of
// unit), of near-equal size rounded up to unit.
func blockSize(n, max, unit int) int {
	if n <= max {
		return roundUp(n, unit)
	}
	blocks := ceilDiv(n, max)
	return roundUp(ceilDiv(n, blocks), unit)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// workspace holds one goroutine's packing buffers.
type workspace struct {
	a, b, tile []float32
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

func getWorkspace() *workspace   { return workspaces.Get().(*workspace) }
func putWorkspace(ws *workspace) { workspaces.Put(ws) }

func (ws *workspace) ensure(na, nb, nt int) {
	if len(ws.a) < na {
		ws.a = make([]float32, na)
	}
	if len(ws.b) < nb {
		ws.b = make([]float32, nb)
	}
	if len(ws.tile) < nt {
		ws.tile = make([]float32, nt)
	}
}

// packA packs rows [i0,i0+rows) and depth [p0,p0+pb) of op(A) into dst as
// micro-panels of mr rows, each stored step by step (mr values per step of
// k). Rows past the end of the last panel are zero.
func packA(ks *kernelSet, dst []float32, trans bool, a []float32, lda, i0, rows, p0, pb, mr int) {
	for q := 0; q < rows; q += mr {
		panel := dst[q*pb : (q+mr)*pb]
		nrows := min(mr, rows-q)
		if trans {
			// op(A)[i][p] = a[p*lda+i]: each step is a contiguous run.
			copyPanel(ks, panel, a, (p0)*lda+i0+q, lda, pb, nrows, mr)
		} else {
			transposePanel(ks, panel, a, (i0+q)*lda+p0, lda, nrows, pb, mr)
		}
	}
}

// packB packs depth [p0,p0+pb) and columns [j0,j0+cols) of op(B) into dst
// as micro-panels of nr columns, each stored step by step (nr values per
// step). Columns past the end of the last panel are zero.
func packB(ks *kernelSet, dst []float32, trans bool, b []float32, ldb, p0, pb, j0, cols, nr int) {
	for q := 0; q < cols; q += nr {
		panel := dst[q*pb : (q+nr)*pb]
		ncols := min(nr, cols-q)
		if trans {
			// op(B)[p][j] = b[j*ldb+p]: each column is a contiguous run.
			transposePanel(ks, panel, b, (j0+q)*ldb+p0, ldb, ncols, pb, nr)
		} else {
			copyPanel(ks, panel, b, p0*ldb+j0+q, ldb, pb, ncols, nr)
		}
	}
}

// copyPanel fills panel (steps×w) with steps rows of width cols read from
// src at off, off+ld, ...; lanes cols..w-1 are zeroed.
func copyPanel(ks *kernelSet, panel, src []float32, off, ld, steps, cols, w int) {
	if steps > 0 {
		_ = src[off+(steps-1)*ld+cols-1]
		_ = panel[(steps-1)*w+cols-1]
		copyRows(ks, panel, w, src[off:], ld, steps, cols)
	}
	if cols < w {
		for p := 0; p < steps; p++ {
			clear(panel[p*w+cols : p*w+w])
		}
	}
}

// transposePanel fills panel (steps×w) with the transpose of the lines×steps
// block of src at off with stride ld: panel[p*w+r] = src[off+r*ld+p].
// Lanes lines..w-1 are zeroed. Whole 8×8 and 4×8 blocks go to the kernel
// set's transpose kernels when it has them.
func transposePanel(ks *kernelSet, panel, src []float32, off, ld, lines, steps, w int) {
	transposeBlock(ks, panel, src, off, ld, lines, steps, w)
	if lines < w {
		for p := 0; p < steps; p++ {
			clear(panel[p*w+lines : p*w+w])
		}
	}
}

// Transpose sets dst[j*ldd+i] = src[i*lds+j] for i < rows and j < cols,
// with the kernel set's 8×8 and 4×8 transposes where it has them.
func Transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("kernels: Transpose: negative size %d×%d", rows, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ldd < rows || lds < cols || len(dst) < (cols-1)*ldd+rows || len(src) < (rows-1)*lds+cols {
		panic(fmt.Sprintf("kernels: Transpose: %d×%d block with ldd=%d lds=%d does not fit len(dst)=%d len(src)=%d",
			rows, cols, ldd, lds, len(dst), len(src)))
	}
	transposeBlock(active(), dst, src, 0, lds, rows, cols, ldd)
}

// transposeBlock sets panel[p*w+r] = src[off+r*ld+p] for r < lines and
// p < steps.
func transposeBlock(ks *kernelSet, panel, src []float32, off, ld, lines, steps, w int) {
	r := 0
	if s8 := steps / 8; s8 > 0 && ks.transpose8 != nil {
		for ; r+8 <= lines; r += 8 {
			_ = src[off+(r+7)*ld+8*s8-1]
			ks.transpose8(&panel[r], w, &src[off+r*ld], ld, s8)
		}
		for ; r+4 <= lines; r += 4 {
			_ = src[off+(r+3)*ld+8*s8-1]
			ks.transpose4(&panel[r], w, &src[off+r*ld], ld, s8)
		}
		if p0 := 8 * s8; p0 < steps {
			transposeGo(panel[p0*w:], src, off+p0, ld, 0, r, steps-p0, w)
		}
	}
	transposeGo(panel, src, off, ld, r, lines, steps, w)
}

// transposeGo sets panel[p*w+r] = src[off+r*ld+p] for r0 <= r < r1 and
// p < steps.
func transposeGo(panel, src []float32, off, ld, r0, r1, steps, w int) {
	r := r0
	for ; r+4 <= r1; r += 4 {
		s0 := src[off+r*ld : off+r*ld+steps]
		s1 := src[off+(r+1)*ld:][:len(s0)]
		s2 := src[off+(r+2)*ld:][:len(s0)]
		s3 := src[off+(r+3)*ld:][:len(s0)]
		for p := range s0 {
			d := panel[p*w+r : p*w+r+4 : p*w+r+4]
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < r1; r++ {
		s := src[off+r*ld : off+r*ld+steps]
		for p, v := range s {
			panel[p*w+r] = v
		}
	}
}

package kernels

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// # int8 GEMM
//
// GemmU8S8 is the first product of an MLP evaluated on raw uint8 images:
// the pixels, unsigned bytes, times the first layer's weights quantized to
// signed bytes with one scale per output, summed exactly in int32. On a CPU
// with AVX512_VNNI its micro-kernel is VPDPBUSD, which multiplies 4
// unsigned by 4 signed bytes and adds the four products into each of 16
// int32 lanes: 64 multiply-adds per instruction where VFMADD231PS does 16,
// and the pixels need neither conversion nor normalization (the caller
// folds the normalization into the weights before quantizing them).
//
// The weights are quantized and packed once, by QuantizeS8. A panel holds
// s8Cols = 32 output columns (two zmm registers of 16 int32 lanes); for
// each quad of steps of k, 4t..4t+3, it stores 32 dwords, each the 4 int8
// weights of one column at those steps (step 4t in the low byte), which is
// what VPDPBUSD multiplies by the dword of 4 pixels it broadcasts from a row
// of A. k is padded with zero steps to a multiple of 4 and n with zero
// columns to whole panels (their scale and bias padded with zeros too).
//
// A is not packed: the micro-kernel broadcasts 4 bytes at a time straight
// from the caller's rows. The last k%4 steps would read past a row, and past
// the slice on its last row, so the driver copies them into a zero-padded
// quad per row (s8Workspace.tail) that the kernel reads last.
//
// Integer sums are exact, so their order does not matter: the result is
// c = float32(acc)*scale + bias with the multiply and the add rounded
// separately (no fused multiply-add), the same bits from the VNNI kernel and
// the Go twin, for any split of the work across goroutines.

// MaxS8Depth is the largest k whose int32 sums cannot overflow: a sum of k
// products of a uint8 and an int8 in [-127, 127] is at most 255*127*k in
// magnitude, below 2^31.
const MaxS8Depth = (1<<31 - 1) / (255 * 127)

// s8Rows and s8Cols are the micro-kernel's tile: 12 rows of A by one panel
// of 32 columns, 24 zmm accumulators.
const s8Rows, s8Cols = 12, 32

// s8PanelBudget is the most bytes of packed B one pass over a row tile of A
// walks: B then stays in L2 while the row tiles stream past it, and a tile
// of A (12 rows) stays in L1 while the panels of the pass stream past it.
const s8PanelBudget = 512 << 10

// PackedS8 is a weight matrix quantized to int8, one scale per output row,
// packed for GemmU8S8.
type PackedS8 struct {
	n, k int
	// quads is ceil(k/4), the dwords per column of a panel.
	quads int
	// b holds ceil(n/32) panels of quads*128 bytes: panel p, quad t,
	// column c at b[(p*quads+t)*128+4*c:], one byte per step.
	b []int8
	// scale and bias are padded with zeros to whole panels, so that the
	// kernel can load 32 of each for any panel.
	scale, bias []float32
}

// s8Kernel computes rows (the kernel's own count) × 32 entries of C:
// c[r*ldc+j] = float32(acc)*scale[j] + bias[j], acc the exact sum over kq
// quads of the dword of a[r*lda+4t:] by quad t of the panel b, plus, when
// tail is not nil, the dword at tail[4r:] by quad kq.
type s8Kernel func(kq int, a *uint8, lda int, tail *uint8, b *int8, c *float32, ldc int, scale, bias *float32)

// s8RowsKernel is s8Kernel with one more scale per row of the tile:
// c[r*ldc+j] = (float32(acc)*scale[j])*rowScale[r] + bias[j]. It is a
// kernel of its own, not s8Kernel with a multiply by ones, so that
// GemmU8S8's epilogue keeps its two instructions per vector.
type s8RowsKernel func(kq int, a *uint8, lda int, tail *uint8, b *int8, c *float32, ldc int, scale, bias, rowScale *float32)

// s8QuantizeRows is QuantizeRowsU8 for m >= 1 rows of k >= 1 values whose
// sizes the caller has checked.
type s8QuantizeRows func(m, k int, x *float32, ldx int, dst *uint8, ldd int, scale *float32)

// s8Kernels is one implementation of the int8 GEMM's micro-kernel.
type s8Kernels struct {
	name string
	// gemm[r] is the kernel for r rows, 1 <= r <= s8Rows.
	gemm [s8Rows + 1]s8Kernel
	// gemmRows[r] is the row-scaled kernel for r rows.
	gemmRows [s8Rows + 1]s8RowsKernel
	// quantizeRows quantizes the activations that gemmRows multiplies.
	quantizeRows s8QuantizeRows
	// macsPerNs is the rate that decides when a product is worth splitting
	// across goroutines.
	macsPerNs float64
}

// s8Native is the VNNI set of this CPU, nil if it has no AVX512_VNNI (or
// this build has no assembly).
var s8Native *s8Kernels

var s8Go = func() *s8Kernels {
	ks := &s8Kernels{name: "go", macsPerNs: 2, quantizeRows: quantizeRowsU8Go}
	for r := 1; r <= s8Rows; r++ {
		ks.gemm[r] = gemmU8S8Go(r)
		ks.gemmRows[r] = gemmU8S8RowsGo(r)
	}
	return ks
}()

// s8Set is the int8 implementation of the active kernel set: the VNNI one
// with the avx512 set where the CPU has it, the Go twin otherwise (so that
// SHARDSMITH_KERNELS=go or avx2 selects the twin, as it does for bf16).
func s8Set() *s8Kernels {
	if active().name != "avx512" || s8Native == nil {
		return s8Go
	}
	return s8Native
}

// S8Impl names the implementation in use: "avx512vnni" or "go".
func S8Impl() string { return s8Set().name }

// QuantizeS8 quantizes w (n×k, row j at w[j*ldw:j*ldw+k]) symmetrically per
// row: scale[j] = max_t |w[j][t]| / 127 (a row of zeros gets scale 1),
// q[j][t] = round-half-to-even(w[j][t]/scale[j]) clamped to [-127, 127],
// the quotient rounded to float32 first. bias (len n, or nil for zeros) is
// kept for the epilogue. Panics with a clear message on bad sizes,
// non-finite weights, or k > MaxS8Depth. A scale that would underflow to
// zero (a row whose largest weight is below 127 times the smallest
// subnormal) is the smallest subnormal instead, its quotients clamped.
func QuantizeS8(n, k int, w []float32, ldw int, bias []float32) *PackedS8 {
	if n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: QuantizeS8: negative size n=%d k=%d", n, k))
	}
	if k > MaxS8Depth {
		panic(fmt.Sprintf("kernels: QuantizeS8: k=%d > MaxS8Depth=%d, int32 sums could overflow", k, MaxS8Depth))
	}
	if ldw < max(1, k) {
		panic(fmt.Sprintf("kernels: QuantizeS8: ldw=%d < k=%d", ldw, k))
	}
	if n > 0 && k > 0 && len(w) < (n-1)*ldw+k {
		panic(fmt.Sprintf("kernels: QuantizeS8: len(w)=%d < %d needed for %d×%d with ldw=%d", len(w), (n-1)*ldw+k, n, k, ldw))
	}
	if bias != nil && len(bias) != n {
		panic(fmt.Sprintf("kernels: QuantizeS8: len(bias)=%d, want n=%d", len(bias), n))
	}
	panels := ceilDiv(n, s8Cols)
	p := &PackedS8{n: n, k: k, quads: ceilDiv(k, 4),
		scale: make([]float32, panels*s8Cols), bias: make([]float32, panels*s8Cols)}
	p.b = make([]int8, panels*p.quads*4*s8Cols)
	copy(p.bias, bias)
	if k == 0 {
		for j := range n {
			p.scale[j] = 1
		}
		return p
	}
	for j := 0; j < n; j++ {
		for t, v := range w[j*ldw : j*ldw+k] {
			if v-v != 0 { // NaN or ±Inf
				panic(fmt.Sprintf("kernels: QuantizeS8: non-finite weight w[%d][%d] = %v", j, t, v))
			}
		}
	}
	// Panels are independent: split them across the pool (a dense layer's
	// weights are quantized once per evaluation pass, which they would
	// otherwise lengthen by a tenth on the MLP).
	ParallelForWork(panels, 1, float64(s8Cols*k)*quantizeNsPerWeight, func(lo, hi int) {
		for j := lo * s8Cols; j < min(hi*s8Cols, n); j++ {
			p.quantizeRow(j, w[j*ldw:j*ldw+k])
		}
	})
	return p
}

// quantizeNsPerWeight is about what quantizeRow costs per weight on one
// core, for the pool's split.
const quantizeNsPerWeight = 2

// quantizeRow sets output j's scale and packs its quantized weights, four
// steps of k per dword of its column.
func (p *PackedS8) quantizeRow(j int, row []float32) {
	// The weights are finite, so their magnitudes order as their bits do:
	// an integer maximum, cheaper than float32's NaN-aware max.
	var mb uint32
	for _, v := range row {
		mb = max(mb, math.Float32bits(v)&0x7fffffff)
	}
	m := math.Float32frombits(mb)
	s := float32(1)
	if m > 0 {
		s = m / 127
		if s == 0 {
			// m/127 underflowed (m below 64 times the smallest subnormal):
			// that subnormal is the scale, and |v/s| stays below 64.
			s = math.SmallestNonzeroFloat32
		}
	}
	p.scale[j] = s
	// Adding and taking away 1.5·2²³ rounds a float32 of magnitude below
	// 2²² to an integer, half to even: math.RoundToEven, without leaving
	// float32. Here |v/s| is at most 127 and a little.
	const round = 0x1.8p23
	panel := p.b[(j/s8Cols)*p.quads*4*s8Cols:]
	col := 4 * (j % s8Cols)
	for t, v := range row {
		q := int32((v/s + round) - round)
		panel[(t/4)*4*s8Cols+col+t%4] = int8(max(-127, min(127, q)))
	}
}

// N reports the number of output columns (rows of the weight matrix).
func (p *PackedS8) N() int { return p.n }

// K reports the depth (weights per output).
func (p *PackedS8) K() int { return p.k }

// Scale returns the scale of output j.
func (p *PackedS8) Scale(j int) float32 {
	if j < 0 || j >= p.n {
		panic(fmt.Sprintf("kernels: PackedS8.Scale: j=%d out of range [0, %d)", j, p.n))
	}
	return p.scale[j]
}

// Quantized returns q[j][t], the int8 weight of output j at step t.
func (p *PackedS8) Quantized(j, t int) int8 {
	if j < 0 || j >= p.n || t < 0 || t >= p.k {
		panic(fmt.Sprintf("kernels: PackedS8.Quantized: (%d, %d) out of range %d×%d", j, t, p.n, p.k))
	}
	return p.b[((j/s8Cols)*p.quads+t/4)*4*s8Cols+4*(j%s8Cols)+t%4]
}

// GemmU8S8 sets c[i*ldc+j] = float32(acc)*scale[j] + bias[j] for i < m,
// j < n, where acc = Σ_t int32(a[i*lda+t]) * int32(q[j][t]) is exact in
// int32. The multiply and the add are each rounded (no fused multiply-add),
// so every kernel set and every GOMAXPROCS gives the same bits. Large
// products are split across GOMAXPROCS goroutines.
func GemmU8S8(m int, a []uint8, lda int, p *PackedS8, c []float32, ldc int) {
	if p == nil {
		panic("kernels: GemmU8S8: nil PackedS8")
	}
	ks := s8Set()
	gemmU8S8(ks, gemmThreads(runtime.GOMAXPROCS(0), m, p.n, p.k, ks.macsPerNs), m, a, lda, p, c, ldc)
}

func gemmU8S8(ks *s8Kernels, threads, m int, a []uint8, lda int, p *PackedS8, c []float32, ldc int) {
	gemmU8S8Split(ks, "GemmU8S8", threads, m, a, lda, nil, p, c, ldc)
}

// gemmU8S8Split checks the operands, in messages that start with name, and
// runs the product across threads goroutines: with GemmU8S8's kernels when
// rowScale is nil, with the row-scaled ones otherwise.
func gemmU8S8Split(ks *s8Kernels, name string, threads, m int, a []uint8, lda int, rowScale []float32, p *PackedS8, c []float32, ldc int) {
	if p == nil {
		panic("kernels: " + name + ": nil PackedS8")
	}
	n, k := p.n, p.k
	if m < 0 {
		panic(fmt.Sprintf("kernels: %s: negative m=%d", name, m))
	}
	if lda < max(1, k) || (m > 0 && k > 0 && len(a) < (m-1)*lda+k) {
		panic(fmt.Sprintf("kernels: %s: a (%d×%d, lda=%d) does not fit len(a)=%d", name, m, k, lda, len(a)))
	}
	if ldc < max(1, n) || (m > 0 && n > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("kernels: %s: c (%d×%d, ldc=%d) does not fit len(c)=%d", name, m, n, ldc, len(c)))
	}
	if m == 0 || n == 0 {
		return
	}
	tm, tn := ceilDiv(m, s8Rows), ceilDiv(n, s8Cols)
	if threads > 1 {
		pm, pn := splitGrid(threads, tm, tn, s8Rows, s8Cols)
		if pm*pn > 1 {
			runGrid(m, n, s8Rows, s8Cols, pm, pn, func(i0, i1, j0, j1 int) {
				p.run(ks, a, lda, rowScale, c, ldc, i0, i1, j0/s8Cols, ceilDiv(j1, s8Cols))
			})
			return
		}
	}
	p.run(ks, a, lda, rowScale, c, ldc, 0, m, 0, tn)
}

// s8Workspace holds one goroutine's k-tail quads and the scratch tile of
// a partial last panel.
type s8Workspace struct {
	tail [4 * s8Rows]uint8
	tile [s8Rows * s8Cols]float32
}

var s8Workspaces = sync.Pool{New: func() any { return new(s8Workspace) }}

// run computes rows [i0, i1) of C for panels [q0, q1), in passes of at
// most s8PanelBudget bytes of B, each row scaled by rowScale[i] unless
// rowScale is nil.
func (p *PackedS8) run(ks *s8Kernels, a []uint8, lda int, rowScale []float32, c []float32, ldc int, i0, i1, q0, q1 int) {
	ws := s8Workspaces.Get().(*s8Workspace)
	defer s8Workspaces.Put(ws)
	kfull, rem := p.k/4, p.k%4
	panelBytes := p.quads * 4 * s8Cols
	pass := max(1, s8PanelBudget/max(1, panelBytes))
	for qc := q0; qc < q1; qc += pass {
		qe := min(q1, qc+pass)
		for i := i0; i < i1; i += s8Rows {
			rows := min(s8Rows, i1-i)
			var ap, tp *uint8
			if kfull > 0 {
				ap = &a[i*lda]
			}
			if rem > 0 {
				for r := 0; r < rows; r++ {
					src := a[(i+r)*lda+4*kfull : (i+r)*lda+p.k]
					dst := ws.tail[4*r : 4*r+4]
					clear(dst)
					copy(dst, src)
				}
				tp = &ws.tail[0]
			}
			kern, kernRows := ks.gemm[rows], ks.gemmRows[rows]
			var rs *float32
			if rowScale != nil {
				rs = &rowScale[i]
			}
			for q := qc; q < qe; q++ {
				var bp *int8
				if panelBytes > 0 {
					bp = &p.b[q*panelBytes]
				}
				j := q * s8Cols
				cols := min(s8Cols, p.n-j)
				// A whole panel is written in place, a partial one into
				// the scratch tile and copied.
				cp, cld := &ws.tile[0], s8Cols
				if cols == s8Cols {
					_ = c[(i+rows-1)*ldc+j+s8Cols-1]
					cp, cld = &c[i*ldc+j], ldc
				}
				if rs == nil {
					kern(kfull, ap, lda, tp, bp, cp, cld, &p.scale[j], &p.bias[j])
				} else {
					kernRows(kfull, ap, lda, tp, bp, cp, cld, &p.scale[j], &p.bias[j], rs)
				}
				if cols < s8Cols {
					t := ws.tile[:]
					for r := 0; r < rows; r++ {
						copy(c[(i+r)*ldc+j:(i+r)*ldc+j+cols], t[r*s8Cols:r*s8Cols+cols])
					}
				}
			}
		}
	}
}

// gemmU8S8Go returns the Go twin of the int8 micro-kernel for rows rows.
func gemmU8S8Go(rows int) s8Kernel {
	return func(kq int, ap *uint8, lda int, tp *uint8, bp *int8, cp *float32, ldc int, sp, bip *float32) {
		s8TileGo(rows, kq, ap, lda, tp, bp, cp, ldc, sp, bip, nil)
	}
}

// gemmU8S8RowsGo returns the Go twin of the row-scaled micro-kernel for
// rows rows.
func gemmU8S8RowsGo(rows int) s8RowsKernel {
	return func(kq int, ap *uint8, lda int, tp *uint8, bp *int8, cp *float32, ldc int, sp, bip, rsp *float32) {
		s8TileGo(rows, kq, ap, lda, tp, bp, cp, ldc, sp, bip, rsp)
	}
}

// s8TileGo is the Go twin of both micro-kernels: the row-scaled one when
// rsp is not nil.
func s8TileGo(rows, kq int, ap *uint8, lda int, tp *uint8, bp *int8, cp *float32, ldc int, sp, bip, rsp *float32) {
	quads := kq
	if tp != nil {
		quads++
	}
	var a, tail []uint8
	var b []int8
	if kq > 0 {
		a = unsafe.Slice(ap, (rows-1)*lda+4*kq)
	}
	if tp != nil {
		tail = unsafe.Slice(tp, 4*rows)
	}
	if quads > 0 {
		b = unsafe.Slice(bp, quads*4*s8Cols)
	}
	c := unsafe.Slice(cp, (rows-1)*ldc+s8Cols)
	scale := unsafe.Slice(sp, s8Cols)
	bias := unsafe.Slice(bip, s8Cols)
	var rowScale []float32
	if rsp != nil {
		rowScale = unsafe.Slice(rsp, rows)
	}
	var acc [s8Cols]int32
	for r := 0; r < rows; r++ {
		clear(acc[:])
		for t := 0; t < kq; t++ {
			dotQuadS8(&acc, a[r*lda+4*t:r*lda+4*t+4], b[t*4*s8Cols:(t+1)*4*s8Cols])
		}
		if tail != nil {
			dotQuadS8(&acc, tail[4*r:4*r+4], b[kq*4*s8Cols:(kq+1)*4*s8Cols])
		}
		out := c[r*ldc : r*ldc+s8Cols]
		if rowScale != nil {
			rs := rowScale[r]
			for j := range out {
				out[j] = float32(float32(float32(acc[j])*scale[j])*rs) + bias[j]
			}
			continue
		}
		for j := range out {
			// The conversions keep the compiler from fusing the
			// multiply and the add.
			out[j] = float32(float32(acc[j])*scale[j]) + bias[j]
		}
	}
}

// dotQuadS8 adds to acc[j] the products of the 4 bytes x by column j's 4
// weights in the panel quad b (128 bytes), as one VPDPBUSD does.
func dotQuadS8(acc *[s8Cols]int32, x []uint8, b []int8) {
	x0, x1, x2, x3 := int32(x[0]), int32(x[1]), int32(x[2]), int32(x[3])
	b = b[:4*s8Cols]
	for j := range acc {
		w := b[4*j : 4*j+4]
		acc[j] += x0*int32(w[0]) + x1*int32(w[1]) + x2*int32(w[2]) + x3*int32(w[3])
	}
}

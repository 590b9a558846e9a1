package kernels

import (
	"fmt"
	"runtime"
)

// # A bf16 operand packed once
//
// SgemmBF16 rounds and packs op(B) on every call. In an evaluation pass B
// is a layer's weights, the same for every batch: converting them again is
// most of the pass's conversion work on the MLP. PackBF16 packs op(B) once,
// in exactly the panels SgemmBF16 would build (for every depth block, all
// of B's columns), and SgemmBF16Packed multiplies by them; the result is
// bitwise SgemmBF16's with the same kernel set, for any GOMAXPROCS, since
// the same panels meet the same micro-kernel in the same order.

// PackedBF16 is op(B), k×n, of a bf16 product, packed for the kernel set
// that was active when it was packed. It holds a reference to B as well,
// for SgemmBF16Packed to fall back on if the set has changed since.
type PackedBF16 struct {
	set    *bf16Kernels
	transB bool
	n, k   int
	b      []float32
	ldb    int
	// blocks[d] holds depth block d (kc steps, the last one shorter): on an
	// AMX-layout set one panel of width dwords per pair of steps, the pairs
	// padded to whole tiles; otherwise panels of nr columns, nr dwords per
	// pair.
	blocks [][]uint32
	width  int
}

// PackBF16 packs op(B), k×n (B is n×k with row stride ldb if transB, else
// k×n), for SgemmBF16Packed. B may change afterwards only if it is packed
// again: the packed copy does not follow it.
func PackBF16(transB bool, n, k int, b []float32, ldb int) *PackedBF16 {
	return packBF16For(bf16Set(), transB, n, k, b, ldb)
}

// packBF16For is PackBF16 for the kernel set ks.
func packBF16For(ks *bf16Kernels, transB bool, n, k int, b []float32, ldb int) *PackedBF16 {
	rows, cols := k, n
	if transB {
		rows, cols = n, k
	}
	if n < 0 || k < 0 || ldb < max(1, cols) || (rows > 0 && cols > 0 && len(b) < (rows-1)*ldb+cols) {
		panic(fmt.Sprintf("kernels: PackBF16: op(B) %d×%d (transB %v) with ldb %d does not fit %d values", k, n, transB, ldb, len(b)))
	}
	p := &PackedBF16{set: ks, transB: transB, n: n, k: k, b: b, ldb: ldb}
	if n == 0 || k == 0 {
		return p
	}
	ws := bf16Workspaces.Get().(*bf16Workspace)
	defer bf16Workspaces.Put(ws)
	kc := depthBlock(k, kcBF16)
	for pc := 0; pc < k; pc += kc {
		pb := min(kc, k-pc)
		pairs := ceilDiv(pb, 2)
		var blk []uint32
		if ks.tiles != nil {
			pp := roundUp(pairs, amxBlockPairs)
			p.width = roundUp(n, amxTile)
			ws.scratch = growU32(ws.scratch, 8*roundUp(pp, 8))
			blk = make([]uint32, pp*p.width)
			packBF16(ks, ws, blk, transB, b, ldb, 0, n, pc, pb, p.width, pp)
		} else {
			ws.scratch = growU32(ws.scratch, 8*roundUp(pairs, 8))
			blk = make([]uint32, roundUp(n, ks.nr)*pairs)
			packBF16(ks, ws, blk, transB, b, ldb, 0, n, pc, pb, ks.nr, pairs)
		}
		p.blocks = append(p.blocks, blk)
	}
	return p
}

// SgemmBF16Packed is SgemmBF16 with op(B) packed by PackBF16:
// C = alpha*op(A)*op(B) + beta*C, m×n, bitwise SgemmBF16's with the B that
// was packed. If the active kernel set changed since the packing, it runs
// SgemmBF16 on that B.
func SgemmBF16Packed(transA bool, m int, alpha float32, a []float32, lda int, p *PackedBF16, beta float32, c []float32, ldc int) {
	ks := bf16Set()
	threads := gemmThreads(runtime.GOMAXPROCS(0), m, p.n, p.k, ks.macsPerNs)
	sgemmBF16Packed(ks, threads, transA, m, alpha, a, lda, p, beta, c, ldc)
}

func sgemmBF16Packed(ks *bf16Kernels, threads int, transA bool, m int, alpha float32, a []float32, lda int, p *PackedBF16, beta float32, c []float32, ldc int) {
	sgemmBF16PackedWith(ks, threads, transA, m, alpha, a, lda, p, beta, c, ldc, nil)
}

// SgemmBF16PackedBias is SgemmBF16Bias with op(B) packed by PackBF16:
// C = op(A)*op(B) + bias, bitwise SgemmBF16Packed with alpha 1 and beta 1
// on a C filled with the bias.
func SgemmBF16PackedBias(transA bool, m int, a []float32, lda int, p *PackedBF16, bias []float32, c []float32, ldc int) {
	ks := bf16Set()
	threads := gemmThreads(runtime.GOMAXPROCS(0), m, p.n, p.k, ks.macsPerNs)
	checkBias(p.n, bias)
	sgemmBF16PackedWith(ks, threads, transA, m, 1, a, lda, p, 1, c, ldc, bias[:p.n:p.n])
}

// sgemmBF16PackedWith is sgemmBF16Packed with sgemmBF16With's bias.
func sgemmBF16PackedWith(ks *bf16Kernels, threads int, transA bool, m int, alpha float32, a []float32, lda int, p *PackedBF16, beta float32, c []float32, ldc int, bias []float32) {
	packed := p
	if ks != p.set {
		packed = nil // packed in another layout: pack b as usual
	}
	sgemmBF16With(ks, threads, transA, p.transB, m, p.n, p.k, alpha, a, lda, p.b, p.ldb, beta, c, ldc, packed, bias)
}

package kernels

import (
	"os"
	"sync/atomic"
	"unsafe"
)

// # bf16 GEMM on AMX tiles
//
// On a CPU with AMX-BF16 (and an OS that grants the tile state, see
// amx_linux_amd64.go) SgemmBF16 runs on the tile registers: TDPBF16PS
// multiplies a 16-row × 16-pair bf16 tile of A by a 16-pair × 16-column
// tile of B into a 16×16 float32 tile, 8,192 multiply-adds per instruction.
// The micro-kernel (amxBF16Tiles) computes 32×32 tiles of C from four
// accumulator tiles, walking k in blocks of 16 pairs.
//
// The operands are the same bf16 values as on the VDPBF16PS path (rounded
// to nearest even while packed), in different panels:
//   - A panels of 32 rows, in blocks of 16 pairs: row r's pair t of block s
//     at panel[s*512+r*16+t], i.e. each block is the 32×16-dword tile pair
//     TILELOADD reads with a 64-byte row stride;
//   - one B block of pairs by columns, pair-major like a VDPBF16PS panel but
//     as wide as the column block (rounded up to 32): block[t*w+j], read as
//     16-column tiles with a row stride of w dwords, so that packing runs
//     over whole rows.
//
// Each depth block is padded with zero pairs to a multiple of 16.
//
// Rounding. The products and sums are those of the bf16 contract (products
// of bf16 values, float32 sums, depth blocks from zero added to C in order,
// the same epilogue without FMA), but the order and rounding of the sums
// inside one TDPBF16PS are not those of VDPBF16PS, and Intel does not
// specify them exactly: on the CPUs measured, about 15 % of the outputs of a
// depth-32 tile differ from the in-order, per-product-rounded sum by an ulp
// or two. So the AMX set has its own bits, within float32 summation error
// of the contract (TestSgemmBF16AMXAgainstContract bounds it). They depend
// on the operands alone: every element is computed by the same instruction
// sequence whatever tile, thread split or GOMAXPROCS it lands in, so AMX
// runs are bitwise reproducible on the same CPU model.
//
// amxTilesGo is the pure-Go twin of the micro-kernel, rounding as the bf16
// contract does; with it, the AMX driver (packing, edges, threading) gives
// the contract's bits exactly, which is how the driver is tested on machines
// without AMX.

// amxTilesFunc is the AMX micro-kernel's contract: for t < tiles,
// C[0:32][32t:32t+32] = alpha*A*B[:, 32t:32t+32] + beta*C over steps blocks
// of 16 pairs, B's rows of pairs ldb dwords apart; acc is a 32×32 float32
// scratch tile. beta == 0 must not read C.
type amxTilesFunc func(steps, tiles int, a, b *uint32, ldb int, c *float32, ldc int, alpha, beta float32, acc *float32)

// The AMX C tile is amxTile×amxTile; k advances in blocks of amxBlockPairs
// pairs; one block of an A or B panel is amxTile*amxBlockPairs dwords.
const (
	amxTile       = 32
	amxBlockPairs = 16
	amxBlock      = amxTile * amxBlockPairs
)

// bf16AMX is the AMX set of this CPU, nil without AMX-BF16 or the OS's
// permission to use it.
var bf16AMX *bf16Kernels

// amxOn is whether bf16Set may pick bf16AMX: true unless SHARDSMITH_KERNELS
// caps the kernel sets below "amx"; tests switch it with setAMX.
var amxOn atomic.Bool

func init() { amxOn.Store(amxAllowedBy(os.Getenv(EnvVar))) }

// amxAllowedBy reports whether a SHARDSMITH_KERNELS value lets the bf16
// GEMM use AMX tiles: unset, unknown and "amx" do; a cap below it does not.
func amxAllowedBy(env string) bool {
	limit, ok := rank[env]
	return !ok || limit >= rank["amx"]
}

// setAMX switches the AMX bf16 set on or off and returns the previous
// setting, for tests and benchmarks that compare it with VDPBF16PS.
func setAMX(on bool) bool { return amxOn.Swap(on) }

// amxSet returns an AMX-layout set named name that packs with base's
// conversion and transpose kernels and multiplies with tiles.
func amxSet(base *bf16Kernels, name string, tiles amxTilesFunc, macsPerNs float64) *bf16Kernels {
	s := *base
	s.name, s.mr, s.nr = name, amxTile, amxTile
	s.gemm, s.gemmEdge = nil, nil
	s.tiles, s.macsPerNs = tiles, macsPerNs
	return &s
}

// amxTilesGo is the Go twin of amxBF16Tiles, with the contract's rounding:
// per pair, the high step's product then the low step's, each sum rounded.
func amxTilesGo(steps, tiles int, ap, bp *uint32, ldb int, cp *float32, ldc int, alpha, beta float32, _ *float32) {
	kp := steps * amxBlockPairs
	a := unsafe.Slice(ap, steps*amxBlock)
	b := unsafe.Slice(bp, (kp-1)*ldb+tiles*amxTile)
	c := unsafe.Slice(cp, (amxTile-1)*ldc+tiles*amxTile)
	for t := 0; t < tiles; t++ {
		bt := b[t*amxTile:]
		for i := 0; i < amxTile; i++ {
			for j := 0; j < amxTile; j++ {
				var s float32
				for p := 0; p < kp; p++ {
					x := a[(p/amxBlockPairs)*amxBlock+i*amxBlockPairs+p%amxBlockPairs]
					y := bt[p*ldb+j]
					s = bf16Acc(s, bf16Operand(uint16(x>>16))*bf16Operand(uint16(y>>16)))
					s = bf16Acc(s, bf16Operand(uint16(x))*bf16Operand(uint16(y)))
				}
				out := &c[i*ldc+t*amxTile+j]
				v := alpha * s
				if beta != 0 {
					v = v + float32(beta**out)
				}
				*out = v
			}
		}
	}
}

// runAMX computes rows [i0, i1) and columns [j0, j1) of C on an AMX-layout
// set: the loops of runBF16 with 32×32 tiles and depth blocks padded to
// whole tiles of k.
func (g *gemmArgs) runAMX(ks *bf16Kernels, ws *bf16Workspace, i0, i1, j0, j1 int) {
	kc := depthBlock(g.k, kcBF16)
	mc := blockSize(i1-i0, mcBF16, amxTile)
	nc := blockSize(j1-j0, ncBF16, amxTile)
	maxPairs := roundUp(ceilDiv(kc, 2), amxBlockPairs)
	ws.a = growU32(ws.a, mc*maxPairs)
	ws.b = growU32(ws.b, maxPairs*nc)
	ws.scratch = growU32(ws.scratch, 8*roundUp(maxPairs, 8))
	ws.stage = growU32(ws.stage, amxTile*maxPairs)
	if len(ws.tile) < 2*amxTile*amxTile {
		ws.tile = make([]float32, 2*amxTile*amxTile)
	}
	for ic := i0; ic < i1; ic += mc {
		ib := min(mc, i1-ic)
		for pc := 0; pc < g.k; pc += kc {
			pb := min(kc, g.k-pc)
			pp := roundUp(ceilDiv(pb, 2), amxBlockPairs)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			packAMXA(ks, ws, ws.a, !g.transA, g.a, g.lda, ic, ib, pc, pb, pp)
			for jc := j0; jc < j1; jc += nc {
				jb := min(nc, j1-jc)
				// One panel as wide as the block: the tiles read it
				// with a stride of w. A prepacked B is one panel as wide
				// as all of B, read from column jc on.
				w, bp := roundUp(jb, amxTile), ws.b
				if g.packed != nil {
					w, bp = g.packed.width, g.packed.blocks[pc/kc][jc:]
				} else {
					packBF16(ks, ws, bp, g.transB, g.b, g.ldb, jc, jb, pc, pb, w, pp)
				}
				if pc == 0 && g.bias != nil {
					fillBias(g.c, g.ldc, g.bias, ic, ib, jc, jb)
				}
				g.macroAMX(ks, ws, bp, ic, ib, jc, jb, w, pp, beta)
			}
		}
	}
}

// macroAMX multiplies the packed row block (ib rows) by the packed column
// block b (jb columns, w dwords per row of pairs): whole 32×32 tiles straight
// into C, one kernel call per row panel, and the edge tiles through a
// scratch tile.
func (g *gemmArgs) macroAMX(ks *bf16Kernels, ws *bf16Workspace, b []uint32, ic, ib, jc, jb, w, pp int, beta float32) {
	steps := pp / amxBlockPairs
	c, ldc := g.c, g.ldc
	acc, tmp := ws.tile[:amxTile*amxTile], ws.tile[amxTile*amxTile:2*amxTile*amxTile]
	full := jb / amxTile
	for ir := 0; ir < ib; ir += amxTile {
		ap := ws.a[ir*pp : (ir+amxTile)*pp]
		rows := min(amxTile, ib-ir)
		ci := (ic+ir)*ldc + jc
		j := 0
		if rows == amxTile && full > 0 {
			_ = c[ci+(amxTile-1)*ldc+full*amxTile-1]
			ks.tiles(steps, full, &ap[0], &b[0], w, &c[ci], ldc, g.alpha, beta, &acc[0])
			j = full * amxTile
		}
		for ; j < jb; j += amxTile {
			cols := min(amxTile, jb-j)
			if beta != 0 {
				for r := 0; r < rows; r++ {
					copy(tmp[r*amxTile:r*amxTile+cols], c[ci+r*ldc+j:ci+r*ldc+j+cols])
				}
			}
			ks.tiles(steps, 1, &ap[0], &b[j], w, &tmp[0], amxTile, g.alpha, beta, &acc[0])
			for r := 0; r < rows; r++ {
				copy(c[ci+r*ldc+j:ci+r*ldc+j+cols], tmp[r*amxTile:r*amxTile+cols])
			}
		}
	}
}

// packAMXA packs rows [l0, l0+lines) and depth [p0, p0+pb) of op(A) into
// AMX A panels of 32 rows and pp pairs (a multiple of 16): panel q at
// dst[q*32*pp:], its block s at +s*512, row r's pair t of the block at
// +r*16+t. Rows past the end and pairs past ceil(pb/2) are zero.
// stepsContiguous is packBF16's.
func packAMXA(ks *bf16Kernels, ws *bf16Workspace, dst []uint32, stepsContiguous bool, x []float32, ld, l0, lines, p0, pb, pp int) {
	blocks := pp / amxBlockPairs
	for q := 0; q < lines; q += amxTile {
		panel := dst[q*pp : (q+amxTile)*pp]
		n := min(amxTile, lines-q)
		if stepsContiguous {
			// Each row's steps convert straight into pairs; its 16-pair
			// runs go to the blocks.
			row := ws.stage[:pp]
			words := unsafe.Slice((*uint16)(unsafe.Pointer(&row[0])), 2*pp)
			for r := 0; r < amxTile; r++ {
				if r < n {
					ks.cvt(words[:pb], x[(l0+q+r)*ld+p0:][:pb])
					clear(words[pb:])
				} else {
					clear(row)
				}
				for s := 0; s < blocks; s++ {
					copy(panel[s*amxBlock+r*amxBlockPairs:][:amxBlockPairs], row[s*amxBlockPairs:])
				}
			}
			continue
		}
		// The pair-major panel of the VDPBF16PS layout, then each block
		// transposed to rows of pairs.
		stage := ws.stage[:amxTile*pp]
		packBF16(ks, ws, stage, false, x, ld, l0+q, n, p0, pb, amxTile, pp)
		f := active()
		src := unsafe.Slice((*float32)(unsafe.Pointer(&stage[0])), len(stage))
		out := unsafe.Slice((*float32)(unsafe.Pointer(&panel[0])), len(panel))
		for s := 0; s < blocks; s++ {
			transposeBlock(f, out[s*amxBlock:(s+1)*amxBlock], src, s*amxBlock, amxTile, amxBlockPairs, amxTile, amxBlockPairs)
		}
	}
}

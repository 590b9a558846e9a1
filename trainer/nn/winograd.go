package nn

import (
	"fmt"
	"runtime"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// ConvAlgo is how the 3×3, stride-1 convolutions are computed.
//
//   - Direct: im2col and one GEMM per group of images (every convolution).
//   - Winograd: Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
//     Algorithms for Convolutional Neural Networks", 2015) for the 3×3,
//     stride-1 layers with at least winoMinIn input channels; other layers
//     stay direct. Each 2×2 block of output is computed from a 4×4 block of
//     input with 16 element-wise products instead of 36 multiply-adds, the
//     products batched over channels as 16 GEMMs on the same kernels. Both
//     backward passes are the exact adjoints of that forward pass (GEMMs in
//     the transformed domain, then the transposed transforms), so the
//     gradient is that of the function computed. Products stay float32; a
//     layer in bf16 (SetPrecision) runs direct.
//
// Weights stay [out, in, 3, 3]: the transformed filters are recomputed from
// them at every forward pass, so checkpoints are the same for both.
type ConvAlgo string

const (
	ConvDirect   ConvAlgo = "direct"
	ConvWinograd ConvAlgo = "winograd"
)

// String returns the name, "direct" for the zero value.
func (a ConvAlgo) String() string {
	if a == "" {
		return string(ConvDirect)
	}
	return string(a)
}

// Set parses an algorithm name (flag.Value).
func (a *ConvAlgo) Set(s string) error {
	switch ConvAlgo(s) {
	case ConvDirect, ConvWinograd:
		*a = ConvAlgo(s)
		return nil
	}
	return fmt.Errorf("want direct or winograd, got %q", s)
}

// SetConvAlgo switches the eligible convolutions of m to algorithm a.
func (m *Sequential) SetConvAlgo(a ConvAlgo) error {
	switch a {
	case "", ConvDirect, ConvWinograd:
	default:
		return fmt.Errorf("nn: conv algorithm %q: want direct or winograd", string(a))
	}
	for _, l := range m.layers {
		if c, ok := l.(*Conv2D); ok {
			c.wino = a == ConvWinograd
		}
	}
	return nil
}

// winoBudget bounds each worker's transformed input and output buffers, in
// float32s, as colBudget does the im2col buffer.
var winoBudget = 1 << 18

// winoMinIn is the fewest input channels for which a layer runs Winograd:
// with fewer, the 16 products have a depth too small for the GEMM to pay
// for the transforms (the CNN's first layer, one channel, is faster direct).
var winoMinIn = 4

// winoState is a convolution's Winograd scratch and geometry.
type winoState struct {
	th, tw int         // tiles down and across an image
	hp, wp int         // padded plane: 2·th+2 by 2·tw+2
	u      []float32   // transformed filters [16][out][in]
	du     []float32   // their gradient, summed over groups
	partU  []float32   // per-group gradient of u
	v, m   [][]float32 // per worker: transformed input [16][in][P], products [16][out][P]
	pad    [][]float32 // per worker: one zero-padded plane, as even and odd columns
	tmp    [][]float32 // per worker: one transformed array [in][P]
	// kept holds a training forward pass's transformed input, group after
	// group, for the weight gradient; valid until a backward pass uses it.
	kept     []float32
	valid    bool
	fwd, bwd func(part, lo, hi int)
	sumU     func(lo, hi int)
}

// winoOn reports whether the current call runs Winograd.
func (c *Conv2D) winoOn() bool {
	return c.wino && c.k == 3 && c.stride == 1 && !c.bf16 && c.inC >= winoMinIn
}

// winoSetup sets the geometry and buffers of a Winograd call. Images are
// grouped as in setup (the grouping depends on the shapes alone).
func (c *Conv2D) winoSetup(x *Tensor) {
	s := &c.ws
	c.x = x
	c.n, c.h, c.w = x.Shape[0], x.Shape[2], x.Shape[3]
	c.oh, c.ow = c.h+2*c.pad-2, c.w+2*c.pad-2
	s.th, s.tw = ceilDiv(c.oh, 2), ceilDiv(c.ow, 2)
	s.hp, s.wp = 2*s.th+2, 2*s.tw+2
	tiles := s.th * s.tw
	per := 16 * (c.inC + c.outC) * tiles
	most := max(1, winoBudget/per)
	groups := min(c.n, groupMultiple*ceilDiv(c.n, groupMultiple*most))
	c.group = ceilDiv(c.n, groups)
	c.groups = ceilDiv(c.n, c.group)
	workers := min(runtime.GOMAXPROCS(0), c.groups)
	for len(s.v) < workers {
		s.v, s.m, s.pad, s.tmp = append(s.v, nil), append(s.m, nil), append(s.pad, nil), append(s.tmp, nil)
	}
	P := c.group * tiles
	for i := range workers {
		s.v[i] = growF32(s.v[i], 16*c.inC*P)
		s.m[i] = growF32(s.m[i], 16*c.outC*P)
		s.pad[i] = growF32(s.pad[i], s.hp*s.wp)
		s.tmp[i] = growF32(s.tmp[i], c.inC*P)
	}
	if s.fwd == nil {
		s.fwd, s.bwd, s.sumU = c.winoForwardGroups, c.winoBackwardGroups, c.winoSumU
	}
}

func (c *Conv2D) winoForward(train bool) {
	s := &c.ws
	s.valid = train
	if train {
		s.kept = growF32(s.kept, c.groups*16*c.inC*c.group*s.th*s.tw)
	}
	s.u = growF32(s.u, 16*c.outC*c.inC)
	winoFilters(s.u, c.W.Data, c.outC, c.inC)
	parallelParts(c.groups, s.fwd)
}

func (c *Conv2D) winoForwardGroups(part, lo, hi int) {
	s := &c.ws
	tiles := s.th * s.tw
	oi := c.outC * c.inC
	_, mm := products(false)
	for g := lo; g < hi; g++ {
		n0 := g * c.group
		gc := min(c.group, c.n-n0)
		P := gc * tiles
		v, m := c.winoV(part, g, P), s.m[part][:16*c.outC*P]
		c.winoInput(v, s.pad[part], s.tmp[part], n0, gc)
		for e := range 16 {
			mm(false, false, c.outC, P, c.inC, 1, s.u[e*oi:], c.inC, v[e*c.inC*P:], P, 0, m[e*c.outC*P:], P)
		}
		c.winoOutput(m, n0, gc)
	}
}

func (c *Conv2D) winoBackward() {
	s := &c.ws
	nu := 16 * c.outC * c.inC
	if !c.W.Frozen {
		s.partU = growF32(s.partU, c.groups*nu)
	}
	parallelParts(c.groups, s.bwd)
	s.valid = false // the input-gradient products overwrite it
	if !c.W.Frozen {
		s.du = growF32(s.du, nu)
		parallelFor(nu, 1024, s.sumU)
		winoFilterGrads(c.W.Grad, s.du, c.outC, c.inC)
	}
}

func (c *Conv2D) winoBackwardGroups(part, lo, hi int) {
	s := &c.ws
	tiles := s.th * s.tw
	oi := c.outC * c.inC
	_, mm := products(false)
	for g := lo; g < hi; g++ {
		n0 := g * c.group
		gc := min(c.group, c.n-n0)
		P := gc * tiles
		v, m := c.winoV(part, g, P), s.m[part][:16*c.outC*P]
		c.biasAndMask(n0, gc)
		c.winoOutputAdjoint(m, n0, gc)
		if !c.W.Frozen {
			if !s.valid {
				c.winoInput(v, s.pad[part], s.tmp[part], n0, gc)
			}
			du := s.partU[g*16*oi : (g+1)*16*oi]
			for e := range 16 {
				mm(false, true, c.outC, c.inC, P, 1, m[e*c.outC*P:], P, v[e*c.inC*P:], P, 0, du[e*oi:], c.inC)
			}
		}
		if c.needDX {
			for e := range 16 {
				mm(true, false, c.inC, P, c.outC, 1, s.u[e*oi:], c.inC, m[e*c.outC*P:], P, 0, v[e*c.inC*P:], P)
			}
			c.winoInputAdjoint(v, s.pad[part], s.tmp[part], n0, gc)
		}
	}
}

// winoV is the transformed input of group g (P tiles): the kept one, or
// worker part's buffer.
func (c *Conv2D) winoV(part, g, P int) []float32 {
	s := &c.ws
	if !s.valid {
		return s.v[part][:16*c.inC*P]
	}
	per := 16 * c.inC * c.group * s.th * s.tw
	return s.kept[g*per : g*per+16*c.inC*P]
}

// winoSumU adds the per-group filter gradients in group order.
func (c *Conv2D) winoSumU(lo, hi int) {
	s := &c.ws
	nu := 16 * c.outC * c.inC
	dst := s.du[lo:hi]
	copy(dst, s.partU[lo:hi])
	for g := 1; g < c.groups; g++ {
		src := s.partU[g*nu+lo : g*nu+hi]
		src = src[:len(dst)]
		for i, v := range src {
			dst[i] += v
		}
	}
}

// The transforms run on whole arrays: the 16 elements of every tile of a
// group are first gathered into 16 arrays (element e = 4r+c of tile t of
// image gi of channel ci at [e][ci][gi·tiles + t]), then each transform is
// a few dozen vector passes (kernels.Axpy, Scal, copy) over those arrays,
// row by row and column by column as Bᵀ·d·B is, and the gathers and
// scatters are strided block copies (kernels.CopyRows, AddRows). The
// padded input plane is kept as its even and its odd columns, so that
// the columns 2tx+c of every tile are a contiguous run.

// winoInput writes the transformed input tiles Bᵀ·d·B of images [n0,
// n0+gc) to v.
func (c *Conv2D) winoInput(v, pd, tmp []float32, n0, gc int) {
	s := &c.ws
	tiles := s.th * s.tw
	P := gc * tiles
	sv := c.inC * P
	tw1 := s.tw + 1
	pe, po := pd[:s.hp*tw1], pd[s.hp*tw1:2*s.hp*tw1]
	for ci := range c.inC {
		for gi := range gc {
			off := planeOffset(c.x, n0+gi, ci)
			c.splitColumns(pe, po, c.x.Data[off:off+c.h*c.w])
			base := ci*P + gi*tiles
			for e := range 16 {
				r, cc := e>>2, e&3
				src := pe
				if cc&1 == 1 {
					src = po
				}
				kernels.CopyRows(v[e*sv+base:], s.tw, src[r*tw1+cc>>1:], 2*tw1, s.th, s.tw)
			}
		}
	}
	for r := range 4 {
		winoBT(winoRow(v, sv, 4*r, 1), tmp[:sv])
	}
	for cc := range 4 {
		winoBT(winoRow(v, sv, cc, 4), tmp[:sv])
	}
}

// winoInputAdjoint is the transpose of winoInput: B·dv·Bᵀ of every tile,
// added into the padded plane (taps in a fixed order) whose interior is
// the input gradient. It overwrites v.
func (c *Conv2D) winoInputAdjoint(v, pd, tmp []float32, n0, gc int) {
	s := &c.ws
	tiles := s.th * s.tw
	P := gc * tiles
	sv := c.inC * P
	tw1 := s.tw + 1
	pe, po := pd[:s.hp*tw1], pd[s.hp*tw1:2*s.hp*tw1]
	for cc := range 4 {
		winoB(winoRow(v, sv, cc, 4), tmp[:sv])
	}
	for r := range 4 {
		winoB(winoRow(v, sv, 4*r, 1), tmp[:sv])
	}
	for ci := range c.inC {
		for gi := range gc {
			clear(pe)
			clear(po)
			base := ci*P + gi*tiles
			for e := range 16 {
				r, cc := e>>2, e&3
				dst := pe
				if cc&1 == 1 {
					dst = po
				}
				kernels.AddRows(dst[r*tw1+cc>>1:], 2*tw1, v[e*sv+base:], s.tw, s.th, s.tw)
			}
			off := planeOffset(&c.dx, n0+gi, ci)
			c.joinColumns(c.dx.Data[off:off+c.h*c.w], pe, po)
		}
	}
}

// splitColumns writes the zero-padded plane x into its even columns pe and
// odd columns po (hp rows of tw+1 each).
func (c *Conv2D) splitColumns(pe, po, x []float32) {
	clear(pe)
	clear(po)
	tw1, p, w := c.ws.tw+1, c.pad, c.w
	for iy := range c.h {
		row := x[iy*w : (iy+1)*w]
		y := (iy + p) * tw1
		// Column ix of x is column ix+p of the padded plane.
		ev, od := pe[y+p>>1:y+tw1], po[y+p>>1:y+tw1]
		if p&1 == 1 {
			od[0] = row[0]
			row, ev, od = row[1:], ev[1:], od[1:]
		}
		n := len(row) >> 1
		ev, od = ev[:n], od[:n]
		for k := range ev {
			pr := row[2*k : 2*k+2]
			ev[k], od[k] = pr[0], pr[1]
		}
		if len(row)&1 == 1 {
			pe[y+(w-1+p)>>1] = row[len(row)-1]
		}
	}
}

// joinColumns is the inverse of splitColumns on the interior.
func (c *Conv2D) joinColumns(x, pe, po []float32) {
	tw1, p, w := c.ws.tw+1, c.pad, c.w
	for iy := range c.h {
		row := x[iy*w : (iy+1)*w]
		y := (iy + p) * tw1
		ev, od := pe[y+p>>1:y+tw1], po[y+p>>1:y+tw1]
		if p&1 == 1 {
			row[0] = od[0]
			row, ev, od = row[1:], ev[1:], od[1:]
		}
		n := len(row) >> 1
		ev, od = ev[:n], od[:n]
		for k := range ev {
			pr := row[2*k : 2*k+2]
			pr[0], pr[1] = ev[k], od[k]
		}
		if len(row)&1 == 1 {
			row[len(row)-1] = pe[y+(w-1+p)>>1]
		}
	}
}

// winoRow returns the four arrays e0, e0+step, e0+2·step, e0+3·step of
// length n of a transformed buffer.
func winoRow(v []float32, n, e0, step int) [4][]float32 {
	var x [4][]float32
	for i := range x {
		e := e0 + i*step
		x[i] = v[e*n : (e+1)*n]
	}
	return x
}

// winoBT applies Bᵀ to four arrays in place: (x0−x2, x1+x2, x2−x1, x1−x3).
func winoBT(x [4][]float32, tmp []float32) {
	kernels.Axpy(-1, x[2], x[0])
	kernels.Scal(-1, x[3])
	kernels.Axpy(1, x[1], x[3])
	copy(tmp, x[1])
	kernels.Axpy(1, x[2], x[1])
	kernels.Axpy(-1, tmp, x[2])
}

// winoB applies B, the transpose of winoBT: (x0, x1−x2+x3, x1+x2−x0, −x3).
func winoB(x [4][]float32, tmp []float32) {
	copy(tmp, x[1])
	kernels.Axpy(-1, x[2], x[1])
	kernels.Axpy(1, x[3], x[1])
	kernels.Axpy(1, tmp, x[2])
	kernels.Axpy(-1, x[0], x[2])
	kernels.Scal(-1, x[3])
}

// winoAT applies Aᵀ to four arrays, leaving x0+x1+x2 in x0 and x1−x2−x3
// in x3.
func winoAT(x [4][]float32) {
	kernels.Axpy(1, x[1], x[0])
	kernels.Axpy(1, x[2], x[0])
	kernels.Scal(-1, x[3])
	kernels.Axpy(1, x[1], x[3])
	kernels.Axpy(-1, x[2], x[3])
}

// winoA applies A, the transpose of winoAT, to (a, ·, ·, b) in x0 and x3:
// (a, a+b, a−b, −b).
func winoA(x [4][]float32) {
	copy(x[1], x[0])
	kernels.Axpy(1, x[3], x[1])
	copy(x[2], x[0])
	kernels.Axpy(-1, x[3], x[2])
	kernels.Scal(-1, x[3])
}

// winoCorners are the elements of a transformed output tile that hold the
// 2×2 block after Aᵀ·m·A: y00, y01, y10, y11.
var winoCorners = [4]int{0, 3, 12, 15}

// winoOutput turns the products into output blocks Aᵀ·m·A (overwriting m),
// stores the pixels inside the output and adds the bias (and the fused
// ReLU).
func (c *Conv2D) winoOutput(m []float32, n0, gc int) {
	s := &c.ws
	tiles := s.th * s.tw
	P := gc * tiles
	sm := c.outC * P
	for r := range 4 {
		winoAT(winoRow(m, sm, 4*r, 1))
	}
	winoAT(winoRow(m, sm, 0, 4))
	winoAT(winoRow(m, sm, 3, 4))
	OH, OW := c.oh, c.ow
	ohw := OH * OW
	span := c.n * ohw
	for oc := range c.outC {
		for gi := range gc {
			base := oc*P + gi*tiles
			plane := c.y.Data[oc*span+(n0+gi)*ohw : oc*span+(n0+gi+1)*ohw]
			for a := range 2 {
				// corners (a, 0) and (a, 1) go to the even and odd columns
				// of output rows a, a+2, ...
				ev := m[winoCorners[2*a]*sm+base:][:tiles]
				od := m[winoCorners[2*a+1]*sm+base:][:tiles]
				for ty := range s.th {
					oy := 2*ty + a
					if oy >= OH {
						break
					}
					row := plane[oy*OW : (oy+1)*OW]
					e, o := ev[ty*s.tw:(ty+1)*s.tw], od[ty*s.tw:(ty+1)*s.tw]
					n := OW >> 1
					e, o = e[:n], o[:n]
					for tx := range e {
						pr := row[2*tx : 2*tx+2]
						pr[0], pr[1] = e[tx], o[tx]
					}
					if OW&1 == 1 {
						row[OW-1] = ev[ty*s.tw+n]
					}
				}
			}
		}
		ys := c.y.Data[oc*span+n0*ohw : oc*span+(n0+gc)*ohw]
		if c.relu {
			kernels.BiasRelu(ys, ys, c.B.Data[oc])
		} else {
			kernels.AddBias(ys, ys, c.B.Data[oc])
		}
	}
}

// winoOutputAdjoint writes A·dy·Aᵀ of every output block of the gradient
// the GEMMs use to m (pixels outside the output count as zero).
func (c *Conv2D) winoOutputAdjoint(m []float32, n0, gc int) {
	s := &c.ws
	tiles := s.th * s.tw
	P := gc * tiles
	sm := c.outC * P
	OH, OW := c.oh, c.ow
	ohw := OH * OW
	span := c.n * ohw
	for oc := range c.outC {
		for gi := range gc {
			base := oc*P + gi*tiles
			plane := c.g.Data[oc*span+(n0+gi)*ohw : oc*span+(n0+gi+1)*ohw]
			for a := range 2 {
				ev := m[winoCorners[2*a]*sm+base:][:tiles]
				od := m[winoCorners[2*a+1]*sm+base:][:tiles]
				for ty := range s.th {
					e, o := ev[ty*s.tw:(ty+1)*s.tw], od[ty*s.tw:(ty+1)*s.tw]
					oy := 2*ty + a
					if oy >= OH {
						clear(e)
						clear(o)
						continue
					}
					row := plane[oy*OW : (oy+1)*OW]
					n := OW >> 1
					e2, o2 := e[:n], o[:n]
					for tx := range e2 {
						pr := row[2*tx : 2*tx+2]
						e2[tx], o2[tx] = pr[0], pr[1]
					}
					if OW&1 == 1 {
						e[n], o[n] = row[OW-1], 0
					}
				}
			}
		}
	}
	winoA(winoRow(m, sm, 0, 4))
	winoA(winoRow(m, sm, 3, 4))
	for r := range 4 {
		winoA(winoRow(m, sm, 4*r, 1))
	}
}

// winoFilters writes the transformed filters G·g·Gᵀ of w [out][in][3][3]
// to u [16][out][in].
func winoFilters(u, w []float32, outC, inC int) {
	oi := outC * inC
	var g [9]float32
	var t [16]float32
	for f := range oi {
		copy(g[:], w[f*9:f*9+9])
		winoFilterTile(&t, &g)
		for e := range t {
			u[e*oi+f] = t[e]
		}
	}
}

// winoFilterGrads writes the filter gradient Gᵀ·du·G to dw [out][in][3][3].
func winoFilterGrads(dw, du []float32, outC, inC int) {
	oi := outC * inC
	var g [9]float32
	var t [16]float32
	for f := range oi {
		for e := range t {
			t[e] = du[e*oi+f]
		}
		winoFilterTileT(&g, &t)
		copy(dw[f*9:f*9+9], g[:])
	}
}

// The tile transforms of F(2×2, 3×3), row-major 4×4 (or 3×3, 2×2) blocks:
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// and y = Aᵀ·((G·g·Gᵀ) ⊙ (Bᵀ·d·B))·A is the 2×2 correlation of the 4×4
// block d with the 3×3 filter g. Each ...T function is the transpose
// (adjoint) of the one without.

// winoFilterTile sets u = G·g·Gᵀ.
func winoFilterTile(u *[16]float32, g *[9]float32) {
	var t [12]float32 // G·g, 4×3
	for b := range 3 {
		g0, g1, g2 := g[b], g[3+b], g[6+b]
		t[b], t[3+b], t[6+b], t[9+b] = g0, 0.5*(g0+g1+g2), 0.5*(g0-g1+g2), g2
	}
	for i := range 4 {
		t0, t1, t2 := t[3*i], t[3*i+1], t[3*i+2]
		u[4*i], u[4*i+1], u[4*i+2], u[4*i+3] = t0, 0.5*(t0+t1+t2), 0.5*(t0-t1+t2), t2
	}
}

// winoFilterTileT sets g = Gᵀ·u·G.
func winoFilterTileT(g *[9]float32, u *[16]float32) {
	var w [12]float32 // u·G, 4×3
	for i := range 4 {
		u0, u1, u2, u3 := u[4*i], u[4*i+1], u[4*i+2], u[4*i+3]
		w[3*i], w[3*i+1], w[3*i+2] = u0+0.5*(u1+u2), 0.5*(u1-u2), 0.5*(u1+u2)+u3
	}
	for b := range 3 {
		w0, w1, w2, w3 := w[b], w[3+b], w[6+b], w[9+b]
		g[b], g[3+b], g[6+b] = w0+0.5*(w1+w2), 0.5*(w1-w2), 0.5*(w1+w2)+w3
	}
}

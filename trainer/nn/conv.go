package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// colBudget bounds the im2col buffer of each worker of a convolution, in
// float32s. The batch is cut into groups of as many images as fit; larger
// groups give the GEMM a wider N dimension and fewer calls, smaller ones keep
// the buffer in the core's cache between im2col and the GEMM that reads it.
var colBudget = 1 << 18

// groupMultiple is what the number of groups is rounded up to.
const groupMultiple = 8

// Conv2D is a 2-D convolution (cross-correlation, as in PyTorch) with square
// kernels, zero padding and a stride, computed as im2col followed by a GEMM
// per group of images.
//
// Groups are spread over the workers, each running im2col, a single-threaded
// GEMM, and the bias (and fused ReLU) for its own groups. On a few cores this
// beats alternating parallel im2col with a multi-threaded GEMM: no fork/join
// per product, and one worker's copying overlaps another's arithmetic.
//
// The output is in CNHW layout: with the output as the C operand, row oc of
// W·col is channel oc of every image in the group, which CNHW stores
// contiguously — so the GEMM writes the result in place (row stride N·OH·OW)
// and the backward GEMMs read dy in place too. The input may be either
// layout.
//
// Gradients are reduced deterministically: the weight gradient of each group
// goes to its own slot and slots are added in group order; the bias gradient
// sums per-image partial sums in image order. Neither depends on the number
// of workers.
//
// Weights are [out, in, k, k] as in torch.nn.Conv2d.
type Conv2D struct {
	params               []*Param
	name                 string
	inC, outC, k, stride int
	pad                  int
	W, B                 *Param

	// per-call geometry
	x               *Tensor
	n, h, w, oh, ow int
	group, groups   int
	y, dx           Tensor
	dy, g           *Tensor // incoming gradient, and the one the GEMMs use
	dz              Tensor  // dy masked by the fused ReLU
	relu            bool    // ReLU fused into the output (set by Sequential's plan)
	bf16            bool    // products in bf16 (SetPrecision)
	wino            bool    // Winograd where eligible (SetConvAlgo)
	ws              winoState
	needDX          bool
	cols            [][]float32     // one im2col buffer per worker
	cl              []*channelsLast // per worker, for the weight gradient (see channelsLast)
	clOn            bool            // this backward pass packs from channelsLast
	clDX            bool            // and sums the input gradient channels-last
	clW             []float32       // W in channelsLast's column order, for clDX
	clSrc           []int32         // W.Grad index → index in a channels-last partW slot
	partW           []float32       // weight gradient per group
	partB           []float64       // bias gradient per (channel, image)
	fwdFn, bwdFn    func(part, lo, hi int)
	sumWFn          func(lo, hi int)
}

// NewConv2D returns a convolution initialised like torch.nn.Conv2d from rng.
func NewConv2D(name string, inC, outC, kernel, stride, padding int, rng *rand.Rand) (*Conv2D, error) {
	if inC <= 0 || outC <= 0 || kernel <= 0 || stride <= 0 || padding < 0 {
		return nil, fmt.Errorf("nn: %s: invalid conv2d in=%d out=%d kernel=%d stride=%d padding=%d", name, inC, outC, kernel, stride, padding)
	}
	c := &Conv2D{name: name, inC: inC, outC: outC, k: kernel, stride: stride, pad: padding,
		W: newParam(name+".weight", outC, inC, kernel, kernel),
		B: newParam(name+".bias", outC),
	}
	c.params = []*Param{c.W, c.B}
	fanIn := inC * kernel * kernel
	kaimingUniform(rng, c.W.Data, fanIn)
	uniform(rng, c.B.Data, 1/math.Sqrt(float64(fanIn)))
	c.fwdFn = c.forwardGroups
	c.bwdFn = c.backwardGroups
	c.sumWFn = c.sumWeightGrad
	return c, nil
}

func (c *Conv2D) Name() string     { return c.name }
func (c *Conv2D) Params() []*Param { return c.params }
func (c *Conv2D) Spec() LayerSpec {
	return LayerSpec{Type: "conv2d", Name: c.name, In: c.inC, Out: c.outC, Kernel: c.k, Stride: c.stride, Padding: c.pad}
}

// Fuse applies a following ReLU in the bias pass (see Fuser).
func (c *Conv2D) Fuse(next Layer) bool {
	_, c.relu = next.(*ReLU)
	return c.relu
}

func (c *Conv2D) OutShape(in []int) ([]int, error) {
	if len(in) != 3 || in[0] != c.inC {
		return nil, fmt.Errorf("nn: %s: conv2d expects input [%d H W], got %v", c.name, c.inC, in)
	}
	oh := (in[1]+2*c.pad-c.k)/c.stride + 1
	ow := (in[2]+2*c.pad-c.k)/c.stride + 1
	if in[1]+2*c.pad < c.k || in[2]+2*c.pad < c.k {
		return nil, fmt.Errorf("nn: %s: input %dx%d is smaller than the %dx%d kernel", c.name, in[1], in[2], c.k, c.k)
	}
	return []int{c.outC, oh, ow}, nil
}

func (c *Conv2D) kdim() int { return c.inC * c.k * c.k }

func (c *Conv2D) setup(x *Tensor) {
	c.x = x
	c.n, c.h, c.w = x.Shape[0], x.Shape[2], x.Shape[3]
	c.oh = (c.h+2*c.pad-c.k)/c.stride + 1
	c.ow = (c.w+2*c.pad-c.k)/c.stride + 1
	per := c.kdim() * c.oh * c.ow
	// As many images per group as the budget allows, but a multiple of
	// groupMultiple groups so that common worker counts get equal shares.
	// The grouping does not depend on the worker count, which keeps the
	// gradients identical for any GOMAXPROCS.
	most := max(1, colBudget/per)
	groups := min(c.n, groupMultiple*ceilDiv(c.n, groupMultiple*most))
	c.group = ceilDiv(c.n, groups)
	c.groups = ceilDiv(c.n, c.group)
	workers := min(runtime.GOMAXPROCS(0), c.groups)
	for len(c.cols) < workers {
		c.cols = append(c.cols, nil)
	}
	for i := range workers {
		c.cols[i] = growF32(c.cols[i], per*c.group)
	}
	for len(c.cl) < workers {
		c.cl = append(c.cl, newChannelsLast(c))
	}
}

func (c *Conv2D) Forward(x *Tensor, train bool) *Tensor {
	if c.winoOn() {
		c.winoSetup(x)
	} else {
		c.setup(x)
	}
	c.y.resize(c.n, c.outC, c.oh, c.ow)
	c.y.Layout = CNHW
	if c.winoOn() {
		c.winoForward(train)
	} else {
		parallelParts(c.groups, c.fwdFn)
	}
	return &c.y
}

// forwardGroups computes groups [lo, hi) with worker buffer part.
func (c *Conv2D) forwardGroups(part, lo, hi int) {
	N, ohw, K := c.n, c.oh*c.ow, c.kdim()
	col := c.cols[part]
	span := N * ohw
	_, mm := products(c.bf16)
	for g := lo; g < hi; g++ {
		n0 := g * c.group
		gc := min(c.group, N-n0)
		ld := gc * ohw
		c.im2col(col, n0, gc)
		mm(false, false, c.outC, ld, K, 1, c.W.Data, K, col[:K*ld], ld, 0, c.y.Data[n0*ohw:], span)
		for oc := 0; oc < c.outC; oc++ {
			ys := c.y.Data[oc*span+n0*ohw : oc*span+n0*ohw+ld]
			if c.relu {
				kernels.BiasRelu(ys, ys, c.B.Data[oc])
			} else {
				kernels.AddBias(ys, ys, c.B.Data[oc])
			}
		}
	}
}

func (c *Conv2D) Backward(dy *Tensor, needDX bool) *Tensor {
	c.dy, c.g, c.needDX = dy, dy, needDX
	if c.relu {
		c.dz.resize(dy.Shape...)
		c.dz.Layout = CNHW
		c.g = &c.dz
	}
	if needDX {
		c.dx.resize(c.x.Shape...)
		c.dx.Layout = c.x.Layout
	}
	if !c.B.Frozen || c.relu {
		c.partB = growF64(c.partB, c.outC*c.n)
	}
	if c.winoOn() {
		c.winoBackward()
	} else {
		cl := c.channelsLastGrad()
		c.clOn = !c.W.Frozen && cl
		c.clDX = needDX && cl
		if !c.W.Frozen {
			c.partW = growF32(c.partW, c.groups*len(c.W.Data))
		}
		if (c.clOn || c.clDX) && c.clSrc == nil {
			c.clSrc = channelsLastIndex(c.outC, c.inC, c.k)
		}
		if c.clDX {
			c.clW = growF32(c.clW, len(c.W.Data))
			for i, s := range c.clSrc {
				c.clW[s] = c.W.Data[i]
			}
		}
		parallelParts(c.groups, c.bwdFn)
		if !c.W.Frozen {
			parallelFor(len(c.W.Grad), 1024, c.sumWFn)
		}
	}
	if !c.B.Frozen {
		for oc := range c.outC {
			var s float64
			for _, v := range c.partB[oc*c.n : (oc+1)*c.n] {
				s += v
			}
			c.B.Grad[oc] = float32(s)
		}
	}
	if !needDX {
		return nil
	}
	return &c.dx
}

// backwardGroups handles groups [lo, hi): the ReLU mask, per-image bias
// sums, the group's weight gradient and its input gradient.
func (c *Conv2D) backwardGroups(part, lo, hi int) {
	N, ohw, K := c.n, c.oh*c.ow, c.kdim()
	col := c.cols[part]
	span := N * ohw
	_, mm := products(c.bf16)
	for g := lo; g < hi; g++ {
		n0 := g * c.group
		gc := min(c.group, N-n0)
		ld := gc * ohw
		c.biasAndMask(n0, gc)
		gy := c.g.Data[n0*ohw:]
		if nw := len(c.W.Grad); c.clOn {
			cl := c.cl[part]
			cl.fill(n0, gc)
			gemmSerialPackB(false, c.outC, K, ld, 1, gy, span, cl.pack, 0, c.partW[g*nw:(g+1)*nw], K)
		} else if !c.W.Frozen {
			c.im2col(col, n0, gc)
			mm(false, true, c.outC, K, ld, 1, gy, span, col[:K*ld], ld, 0, c.partW[g*nw:(g+1)*nw], K)
		}
		if c.clDX {
			mm(true, false, ld, K, c.outC, 1, gy, span, c.clW, K, 0, col[:ld*K], K)
			c.cl[part].col2im(col[:ld*K], n0, gc)
		} else if c.needDX {
			mm(true, false, K, ld, c.outC, 1, c.W.Data, K, gy, span, 0, col[:K*ld], ld)
			c.col2im(col, n0, gc)
		}
	}
}

// biasAndMask applies the fused ReLU's mask to dy and stores the per-image
// bias-gradient sums, for images [n0, n0+gc).
func (c *Conv2D) biasAndMask(n0, gc int) {
	if !c.relu && c.B.Frozen {
		return
	}
	N, ohw := c.n, c.oh*c.ow
	span := N * ohw
	for oc := 0; oc < c.outC; oc++ {
		for n := n0; n < n0+gc; n++ {
			at := oc*span + n*ohw
			grad := c.dy.Data[at : at+ohw]
			if c.relu {
				z := c.dz.Data[at : at+ohw]
				reluMask(z, grad, c.y.Data[at:at+ohw])
				grad = z
			}
			c.partB[oc*N+n] = float64(kernels.Sum(grad))
		}
	}
}

// sumWeightGrad adds the per-group weight gradients in group order.
func (c *Conv2D) sumWeightGrad(lo, hi int) {
	if c.clOn {
		c.sumWeightGradChannelsLast(lo, hi)
		return
	}
	nw := len(c.W.Grad)
	dst := c.W.Grad[lo:hi]
	copy(dst, c.partW[lo:hi])
	for g := 1; g < c.groups; g++ {
		src := c.partW[g*nw+lo : g*nw+hi]
		src = src[:len(dst)]
		for i, v := range src {
			dst[i] += v
		}
	}
}

// reluMask sets dst = g where y > 0 and 0 elsewhere.
func reluMask(dst, g, y []float32) { kernels.ReluGrad(dst, g[:len(dst)], y) }

// im2col fills col for images [n0, n0+gc): row (ci·k+kh)·k+kw holds, for
// every output pixel of every image of the group, the input value under
// kernel tap (kh, kw) of channel ci. With stride 1 each tap's rows are one
// strided block copy; zero padding is written around it.
func (c *Conv2D) im2col(col []float32, n0, gc int) {
	k, s, p := c.k, c.stride, c.pad
	H, W, OH, OW := c.h, c.w, c.oh, c.ow
	ohw := OH * OW
	ld := gc * ohw
	for ci := 0; ci < c.inC; ci++ {
		for gi := 0; gi < gc; gi++ {
			off := planeOffset(c.x, n0+gi, ci)
			xp := c.x.Data[off : off+H*W]
			for kh := 0; kh < k; kh++ {
				ohLo, ohHi := validRange(kh, p, s, H, OH)
				for kw := 0; kw < k; kw++ {
					r := (ci*k+kh)*k + kw
					row := col[r*ld+gi*ohw : r*ld+(gi+1)*ohw]
					owLo, owHi := validRange(kw, p, s, W, OW)
					if ohLo >= ohHi || owLo >= owHi {
						clear(row)
						continue
					}
					clear(row[:ohLo*OW])
					clear(row[ohHi*OW:])
					if owLo > 0 || owHi < OW {
						for oh := ohLo; oh < ohHi; oh++ {
							clear(row[oh*OW : oh*OW+owLo])
							clear(row[oh*OW+owHi : (oh+1)*OW])
						}
					}
					ih0, iw0 := ohLo*s+kh-p, owLo*s+kw-p
					if s == 1 {
						kernels.CopyRows(row[ohLo*OW+owLo:], OW, xp[ih0*W+iw0:], W, ohHi-ohLo, owHi-owLo)
						continue
					}
					for oh := ohLo; oh < ohHi; oh++ {
						out := row[oh*OW : (oh+1)*OW]
						src := xp[(ih0+(oh-ohLo)*s)*W:]
						for ow := owLo; ow < owHi; ow++ {
							out[ow] = src[iw0+(ow-owLo)*s]
						}
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it sums the column-buffer gradient back
// into the input planes of images [n0, n0+gc), taps in a fixed order.
func (c *Conv2D) col2im(col []float32, n0, gc int) {
	k, s, p := c.k, c.stride, c.pad
	H, W, OH, OW := c.h, c.w, c.oh, c.ow
	ohw := OH * OW
	ld := gc * ohw
	for ci := 0; ci < c.inC; ci++ {
		for gi := 0; gi < gc; gi++ {
			off := planeOffset(&c.dx, n0+gi, ci)
			dp := c.dx.Data[off : off+H*W]
			clear(dp)
			// kw outermost: consecutive taps then add into rows W apart in
			// the same columns. With kh outermost they would add into the
			// same rows one float apart, re-reading data just stored at a
			// different offset, which store-to-load forwarding cannot serve.
			for kw := 0; kw < k; kw++ {
				for kh := 0; kh < k; kh++ {
					ohLo, ohHi := validRange(kh, p, s, H, OH)
					r := (ci*k+kh)*k + kw
					row := col[r*ld+gi*ohw : r*ld+(gi+1)*ohw]
					owLo, owHi := validRange(kw, p, s, W, OW)
					if ohLo >= ohHi || owLo >= owHi {
						continue
					}
					ih0, iw0 := ohLo*s+kh-p, owLo*s+kw-p
					if s == 1 {
						kernels.AddRows(dp[ih0*W+iw0:], W, row[ohLo*OW+owLo:], OW, ohHi-ohLo, owHi-owLo)
						continue
					}
					for oh := ohLo; oh < ohHi; oh++ {
						src := row[oh*OW+owLo : oh*OW+owHi]
						drow := dp[(ih0+(oh-ohLo)*s)*W:]
						for i, v := range src {
							drow[iw0+i*s] += v
						}
					}
				}
			}
		}
	}
}

// validRange returns the output columns [lo, hi) whose input column
// ow·s+kw-p lies inside [0, W).
func validRange(kw, p, s, W, OW int) (lo, hi int) {
	lo = 0
	if d := p - kw; d > 0 {
		lo = (d + s - 1) / s
	}
	hi = OW
	// need ow*s + kw - p <= W-1  ⇔  ow <= (W-1+p-kw)/s
	if m := W - 1 + p - kw; m < 0 {
		hi = 0
	} else if m/s+1 < hi {
		hi = m/s + 1
	}
	if lo > OW {
		lo = OW
	}
	return lo, hi
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

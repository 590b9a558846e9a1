package nn

import "github.com/shardsmith/shardsmith/trainer/kernels"

// The weight gradient of a convolution is dW = dy·colᵀ, a product whose
// depth is the output pixels. Its B operand, colᵀ, must be packed pixel by
// pixel, 32 (the micro-kernel's width) columns of col per pixel; col holds
// a pixel's values one row apart, so packing it from im2col's buffer is a
// transpose of the whole buffer (k² times the input). Taken instead from a
// channels-last copy of the input, with the columns ordered (kh, kw, ci),
// the inC values of one pixel and tap are adjacent and a pixel row of them
// is one contiguous run: the panels are block copies, and the transpose is
// of the input alone. Each element of dW is the same sum in the same order
// (the depth and its blocking do not change, only where the columns come
// from), so the gradient is bitwise the same; the partial gradients are in
// (oc, kh, kw, ci) order and sumWeightGrad reorders them while it adds.
//
// The input gradient takes the same route back: the column gradient is
// computed transposed, dcolᵀ = dyᵀ·W (W's columns in (kh, kw, ci) order),
// which holds the same sums as dcol = Wᵀ·dy (each is the products of one
// row of W and one pixel of dy, in oc order); col2im then adds a tap's
// pixel row of all channels as one contiguous block into a channels-last
// gradient, taps in col2im's order, which is transposed back once.

// channelsLastMin is the fewest input channels for which the weight
// gradient packs from the channels-last copy: with fewer, the runs it
// copies are too short to beat the transpose.
var channelsLastMin = 8

// channelsLastGrad reports whether this layer's weight gradient packs its
// B operand from a channels-last copy of the input.
func (c *Conv2D) channelsLastGrad() bool {
	return c.stride == 1 && !c.bf16 && c.inC >= channelsLastMin
}

// channelsLast is one worker's channels-last copy of its group's images,
// zero-padded: image gi, padded row r, padded column q, channel ci at
// x[((gi·hp+r)·wp+q)·inC+ci].
type channelsLast struct {
	c      *Conv2D
	x      []float32
	dx     []float32 // the input gradient of the group, channels-last, padded
	hp, wp int
	pack   kernels.PackB // bound once, so that a step does not allocate
}

func newChannelsLast(c *Conv2D) *channelsLast {
	cl := &channelsLast{c: c}
	cl.pack = cl.packB
	return cl
}

// fill copies images [n0, n0+gc) of the layer's input channels-last.
func (cl *channelsLast) fill(n0, gc int) {
	c := cl.c
	C, H, W, p := c.inC, c.h, c.w, c.pad
	cl.hp, cl.wp = H+2*p, W+2*p
	img := cl.hp * cl.wp * C
	cl.x = growF32(cl.x, gc*img)
	if p > 0 {
		clear(cl.x)
	}
	stride := channelStride(c.x, n0, C, H*W)
	for gi := range gc {
		src := c.x.Data[planeOffset(c.x, n0+gi, 0):]
		dst := cl.x[gi*img:]
		if p == 0 {
			kernels.Transpose(dst, C, src, stride, C, H*W)
			continue
		}
		for h := range H {
			kernels.Transpose(dst[((h+p)*cl.wp+p)*C:], C, src[h*W:], stride, C, W)
		}
	}
}

// channelStride is the distance in t between the planes of one image's
// channels (image n0's, the same for every image of t's layout); with one
// channel there is none to step over and it is the plane's size hw.
func channelStride(t *Tensor, n0, C, hw int) int {
	if C > 1 {
		return planeOffset(t, n0, 1) - planeOffset(t, n0, 0)
	}
	return hw
}

// col2im adds the transposed column gradient dcolT (pixels of the group ×
// taps (kh, kw, ci)) into the input gradient of images [n0, n0+gc), taps
// in col2im's order (kw outer, kh inner), so that each element is the same
// sum as col2im's.
func (cl *channelsLast) col2im(dcolT []float32, n0, gc int) {
	c := cl.c
	C, H, W, p, k := c.inC, c.h, c.w, c.pad, c.k
	OH, OW, K := c.oh, c.ow, c.kdim()
	hp, wp := H+2*p, W+2*p
	img := hp * wp * C
	cl.dx = growF32(cl.dx, gc*img)
	clear(cl.dx)
	stride := channelStride(&c.dx, n0, C, H*W)
	for gi := range gc {
		d := cl.dx[gi*img : (gi+1)*img]
		for kw := range k {
			for kh := range k {
				src := dcolT[gi*OH*OW*K+(kh*k+kw)*C:]
				for oh := range OH {
					kernels.AddRows(d[((oh+kh)*wp+kw)*C:], C, src[oh*OW*K:], K, OW, C)
				}
			}
		}
		dst := c.dx.Data[planeOffset(&c.dx, n0+gi, 0):]
		if p == 0 {
			kernels.Transpose(dst, stride, d, C, H*W, C)
			continue
		}
		for h := range H {
			kernels.Transpose(dst[h*W:], stride, d[((h+p)*wp+p)*C:], C, W, C)
		}
	}
}

// packB packs depth [p0, p0+pb) (pixels of the group, image-major) and
// columns [j0, j0+cols) (taps (kh, kw, ci)) of colᵀ: for each panel, each
// run of columns within one tap and each run of pixels within one output
// row is one block copy from the channels-last input.
func (cl *channelsLast) packB(dst []float32, nr, p0, pb, j0, cols int) {
	c := cl.c
	C, OW, ohw := c.inC, c.ow, c.oh*c.ow
	img := cl.hp * cl.wp * C
	for q := 0; q*nr < cols; q++ {
		panel := dst[q*pb*nr : (q+1)*pb*nr]
		jq, width := j0+q*nr, min(nr, cols-q*nr)
		if width < nr {
			clear(panel)
		}
		for j := jq; j < jq+width; {
			tap, c0 := j/C, j%C
			run := min(C-c0, jq+width-j)
			kh, kw := tap/c.k, tap%c.k
			for px := p0; px < p0+pb; {
				gi, rem := px/ohw, px%ohw
				oh, ow := rem/OW, rem%OW
				n := min(OW-ow, p0+pb-px)
				src := cl.x[gi*img+((oh+kh)*cl.wp+ow+kw)*C+c0:]
				kernels.CopyRows(panel[(px-p0)*nr+j-jq:], nr, src, C, n, run)
				px += n
			}
			j += run
		}
	}
}

// channelsLastIndex maps each index of a [out, in, k, k] weight to its
// index in the (out, kh, kw, in) order of channelsLast's columns.
func channelsLastIndex(outC, inC, k int) []int32 {
	src := make([]int32, outC*inC*k*k)
	K := inC * k * k
	for oc := range outC {
		for ci := range inC {
			for t := range k * k {
				src[oc*K+ci*k*k+t] = int32(oc*K + t*inC + ci)
			}
		}
	}
	return src
}

// sumWeightGradChannelsLast is sumWeightGrad for partial gradients in
// channelsLast's order: the same additions, in group order, reordered.
func (c *Conv2D) sumWeightGradChannelsLast(lo, hi int) {
	nw := len(c.W.Grad)
	dst := c.W.Grad[lo:hi]
	idx := c.clSrc[lo:hi]
	idx = idx[:len(dst)]
	part := c.partW[:nw]
	for i, s := range idx {
		dst[i] = part[s]
	}
	for g := 1; g < c.groups; g++ {
		part = c.partW[g*nw : (g+1)*nw]
		for i, s := range idx {
			dst[i] += part[s]
		}
	}
}

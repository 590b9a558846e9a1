package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// The F(2×2, 3×3) matrices, for the float64 reference of the tile
// transforms.
var (
	matBT = [][]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	matG  = [][]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	matAT = [][]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}
)

func matMul(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = make([]float64, len(b[0]))
		for j := range b[0] {
			for k := range b {
				out[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return out
}

func transpose(a [][]float64) [][]float64 {
	out := make([][]float64, len(a[0]))
	for j := range out {
		out[j] = make([]float64, len(a))
		for i := range a {
			out[j][i] = a[i][j]
		}
	}
	return out
}

func toMat(v []float32, rows, cols int) [][]float64 {
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
		for j := range out[i] {
			out[i][j] = float64(v[i*cols+j])
		}
	}
	return out
}

func sameMat(t *testing.T, what string, got []float32, want [][]float64) {
	t.Helper()
	cols := len(want[0])
	for i := range want {
		for j := range want[i] {
			if g := float64(got[i*cols+j]); math.Abs(g-want[i][j]) > 1e-6 {
				t.Fatalf("%s[%d][%d] = %g, want %g", what, i, j, g, want[i][j])
			}
		}
	}
}

// The pure-Go tile transforms that the whole-array ones are checked
// against.

// winoInputTile sets v = Bᵀ·d·B.
func winoInputTile(v, d *[16]float32) {
	var t [16]float32
	for r := range 4 { // t = d·B, row by row
		d0, d1, d2, d3 := d[4*r], d[4*r+1], d[4*r+2], d[4*r+3]
		t[4*r], t[4*r+1], t[4*r+2], t[4*r+3] = d0-d2, d1+d2, d2-d1, d1-d3
	}
	for j := range 4 { // v = Bᵀ·t, column by column
		t0, t1, t2, t3 := t[j], t[4+j], t[8+j], t[12+j]
		v[j], v[4+j], v[8+j], v[12+j] = t0-t2, t1+t2, t2-t1, t1-t3
	}
}

// winoInputTileT sets d = B·v·Bᵀ.
func winoInputTileT(d, v *[16]float32) {
	var q [16]float32
	for i := range 4 { // q = v·Bᵀ
		v0, v1, v2, v3 := v[4*i], v[4*i+1], v[4*i+2], v[4*i+3]
		q[4*i], q[4*i+1], q[4*i+2], q[4*i+3] = v0, v1-v2+v3, v1+v2-v0, -v3
	}
	for c := range 4 { // d = B·q
		q0, q1, q2, q3 := q[c], q[4+c], q[8+c], q[12+c]
		d[c], d[4+c], d[8+c], d[12+c] = q0, q1-q2+q3, q1+q2-q0, -q3
	}
}

// winoOutputTile sets y = Aᵀ·m·A (2×2).
func winoOutputTile(y *[4]float32, m *[16]float32) {
	var s [8]float32 // m·A, 4×2
	for r := range 4 {
		m0, m1, m2, m3 := m[4*r], m[4*r+1], m[4*r+2], m[4*r+3]
		s[2*r], s[2*r+1] = m0+m1+m2, m1-m2-m3
	}
	for j := range 2 {
		s0, s1, s2, s3 := s[j], s[2+j], s[4+j], s[6+j]
		y[j], y[2+j] = s0+s1+s2, s1-s2-s3
	}
}

// winoOutputTileT sets m = A·y·Aᵀ.
func winoOutputTileT(m *[16]float32, y *[4]float32) {
	var r [8]float32 // y·Aᵀ, 2×4
	for a := range 2 {
		y0, y1 := y[2*a], y[2*a+1]
		r[4*a], r[4*a+1], r[4*a+2], r[4*a+3] = y0, y0+y1, y0-y1, -y1
	}
	for j := range 4 {
		r0, r1 := r[j], r[4+j]
		m[j], m[4+j], m[8+j], m[12+j] = r0, r0+r1, r0-r1, -r1
	}
}

// Each tile transform against its matrix definition; each adjoint against
// the transpose of that matrix.
func TestWinogradTileTransforms(t *testing.T) {
	rng := testRNG(40)
	r := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.IntN(17) - 8) // small integers: every result exact
		}
		return v
	}
	B, G, A := transpose(matBT), matG, transpose(matAT)
	for range 20 {
		var d, v, u [16]float32
		var g [9]float32
		var y [4]float32
		copy(d[:], r(16))
		winoInputTile(&v, &d)
		sameMat(t, "Bᵀ·d·B", v[:], matMul(matMul(matBT, toMat(d[:], 4, 4)), B))
		winoInputTileT(&u, &d)
		sameMat(t, "B·d·Bᵀ", u[:], matMul(matMul(B, toMat(d[:], 4, 4)), matBT))

		copy(g[:], r(9))
		winoFilterTile(&u, &g)
		sameMat(t, "G·g·Gᵀ", u[:], matMul(matMul(G, toMat(g[:], 3, 3)), transpose(G)))
		var dg [9]float32
		winoFilterTileT(&dg, &d)
		sameMat(t, "Gᵀ·u·G", dg[:], matMul(matMul(transpose(G), toMat(d[:], 4, 4)), G))

		winoOutputTile(&y, &d)
		sameMat(t, "Aᵀ·m·A", y[:], matMul(matMul(matAT, toMat(d[:], 4, 4)), A))
		copy(y[:], r(4))
		winoOutputTileT(&u, &y)
		sameMat(t, "A·y·Aᵀ", u[:], matMul(matMul(A, toMat(y[:], 2, 2)), matAT))

		// The three together are the 2×2 correlation.
		var m [16]float32
		winoInputTile(&v, &d)
		winoFilterTile(&u, &g)
		for i := range m {
			m[i] = u[i] * v[i]
		}
		winoOutputTile(&y, &m)
		for a := range 2 {
			for b := range 2 {
				var want float32
				for kh := range 3 {
					for kw := range 3 {
						want += d[(a+kh)*4+b+kw] * g[kh*3+kw]
					}
				}
				if y[2*a+b] != want {
					t.Fatalf("y[%d][%d] = %g, want %g", a, b, y[2*a+b], want)
				}
			}
		}
	}
}

// convScale is, per output of refConv's layout, Σ|x·w| + |b|: the size of
// the terms summed, against which float32 rounding is measured.
func convScale(x *Tensor, c *Conv2D) []float64 {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	OH, OW := H+2*c.pad-2, W+2*c.pad-2
	out := make([]float64, N*c.outC*OH*OW)
	for n := range N {
		for o := range c.outC {
			for oh := range OH {
				for ow := range OW {
					s := math.Abs(float64(c.B.Data[o]))
					for ci := range C {
						for kh := range 3 {
							for kw := range 3 {
								ih, iw := oh+kh-c.pad, ow+kw-c.pad
								if ih < 0 || iw < 0 || ih >= H || iw >= W {
									continue
								}
								s += math.Abs(float64(x.At(n, ci, ih, iw)) * float64(c.W.Data[((o*C+ci)*3+kh)*3+kw]))
							}
						}
					}
					out[((n*c.outC+o)*OH+oh)*OW+ow] = s
				}
			}
		}
	}
	return out
}

// convError returns the largest absolute error of y against the float64
// reference and the largest error relative to the scale of its terms.
func convError(y *Tensor, want, scale []float64) (abs, rel float64) {
	nchw := y.ToNCHW(nil)
	for i, w := range want {
		e := math.Abs(float64(nchw.Data[i]) - w)
		abs = max(abs, e)
		rel = max(rel, e/scale[i])
	}
	return abs, rel
}

// winoRelBound bounds the error relative to Σ|terms| (Σ|x·w| forward). The transforms
// of F(2×2, 3×3) have entries 0, ±½, ±1: the input and output transforms
// add at most 4 and 9 terms and the filter transform 9 halved ones, so
// each transformed value carries a few roundings (ε = 2⁻²⁴) on terms no
// larger than 4× those of the direct sum, and the GEMM then sums inC of
// them. A bound of 2⁻¹⁴ ≈ 6e-5 is about 1,000 ε: generous against the
// measured 7e-8 to 1.1e-7 for both paths (see TestWinogradError), and 30× below what a
// wrong tap or a lost tile would give (an error of the order of a single
// term, ≥ 1/(9·inC) of the scale).
const winoRelBound = 1.0 / (1 << 14)

func winoLayer(t testing.TB, rng *rand.Rand, in, out, pad int) *Conv2D {
	t.Helper()
	c, err := NewConv2D("conv", in, out, 3, 1, pad, rng)
	if err != nil {
		t.Fatal(err)
	}
	c.wino = true
	return c
}

func TestWinogradMatchesDirectConvolution(t *testing.T) {
	defer func(b, m int) { winoBudget, winoMinIn = b, m }(winoBudget, winoMinIn)
	winoMinIn = 1
	for _, tc := range []struct {
		in, out, n, h, w, pad, budget int
	}{
		{1, 4, 3, 5, 5, 0, 1 << 18},
		{3, 4, 19, 9, 8, 0, 1 << 18}, // several images per group
		{3, 4, 19, 9, 8, 1, 1},       // one image per group
		{2, 3, 5, 7, 6, 2, 1 << 18},
		{5, 2, 4, 3, 3, 0, 1 << 18}, // one pixel of output
		{4, 6, 9, 11, 13, 1, 1 << 12},
		{2, 2, 1, 4, 10, 0, 1 << 18},
	} {
		for _, layout := range []Layout{NCHW, CNHW} {
			for _, relu := range []bool{false, true} {
				name := fmt.Sprintf("in%d_out%d_n%d_%dx%d_p%d_budget%d_%v_relu%v", tc.in, tc.out, tc.n, tc.h, tc.w, tc.pad, tc.budget, layout, relu)
				winoBudget = tc.budget
				rng := testRNG(41)
				c := winoLayer(t, rng, tc.in, tc.out, tc.pad)
				c.relu = relu
				x := withLayout(randTensor(rng, false, tc.n, tc.in, tc.h, tc.w), layout)
				if !c.winoOn() {
					t.Fatalf("%s: not on the Winograd path", name)
				}
				want, scale := refConv(x, c), convScale(x, c)
				if relu {
					for i, w := range want {
						want[i] = max(w, 0)
					}
				}
				y := c.Forward(x, false)
				if y.Layout != CNHW || !slices.Equal(y.Shape, []int{tc.n, tc.out, tc.h + 2*tc.pad - 2, tc.w + 2*tc.pad - 2}) {
					t.Fatalf("%s: output %v %v", name, y.Shape, y.Layout)
				}
				if _, rel := convError(y, want, scale); rel > winoRelBound {
					t.Errorf("%s: relative error %.3g > %.3g", name, rel, winoRelBound)
				}
			}
		}
	}
}

// refConvGrads returns the float64 input and weight gradients of a 3×3,
// stride-1 convolution for output gradient dy (NCHW), and for each the
// scale Σ|terms| its rounding is measured against.
func refConvGrads(x, dy *Tensor, c *Conv2D) (dx, dxScale, dw, dwScale []float64) {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	OH, OW := H+2*c.pad-2, W+2*c.pad-2
	dx, dxScale = make([]float64, len(x.Data)), make([]float64, len(x.Data))
	dw, dwScale = make([]float64, len(c.W.Data)), make([]float64, len(c.W.Data))
	for n := range N {
		for o := range c.outC {
			for oh := range OH {
				for ow := range OW {
					g := float64(dy.Data[((n*c.outC+o)*OH+oh)*OW+ow])
					for ci := range C {
						for kh := range 3 {
							for kw := range 3 {
								ih, iw := oh+kh-c.pad, ow+kw-c.pad
								if ih < 0 || iw < 0 || ih >= H || iw >= W {
									continue
								}
								wi := ((o*C+ci)*3+kh)*3 + kw
								xi := ((n*C+ci)*H+ih)*W + iw
								xv, wv := float64(x.Data[xi]), float64(c.W.Data[wi])
								dx[xi] += g * wv
								dxScale[xi] += math.Abs(g * wv)
								dw[wi] += g * xv
								dwScale[wi] += math.Abs(g * xv)
							}
						}
					}
				}
			}
		}
	}
	return dx, dxScale, dw, dwScale
}

func maxErr(got []float32, want, scale []float64) (abs, rel float64) {
	for i, w := range want {
		e := math.Abs(float64(got[i]) - w)
		abs = max(abs, e)
		if scale[i] > 0 {
			rel = max(rel, e/scale[i])
		}
	}
	return abs, rel
}

// TestWinogradError measures both paths against the float64 reference on
// the CNN's second layer, forward (2 images) and both gradients (1 image),
// and logs the figures BENCHMARKS.md quotes.
func TestWinogradError(t *testing.T) {
	if testing.Short() {
		t.Skip("a float64 reference convolution of 32×64 channels")
	}
	rng := testRNG(42)
	c := winoLayer(t, rng, 32, 64, 0)
	x := randTensor(rng, false, 2, 32, 26, 26)
	// Activations after the first layer's ReLU: non-negative.
	for i, v := range x.Data {
		x.Data[i] = float32(math.Abs(float64(v)))
	}
	want, scale := refConv(x, c), convScale(x, c)
	wa, wr := convError(c.Forward(x, false), want, scale)
	c.wino = false
	da, dr := convError(c.Forward(x, false), want, scale)
	t.Logf("forward: winograd max abs %.3g, max rel to Σ|x·w| %.3g; direct %.3g, %.3g", wa, wr, da, dr)
	if wr > winoRelBound {
		t.Errorf("winograd forward: relative error %.3g > %.3g", wr, winoRelBound)
	}

	x1 := &Tensor{Shape: []int{1, 32, 26, 26}, Data: x.Data[:32*26*26]}
	dy := randTensor(rng, false, 1, 64, 24, 24)
	dxRef, dxScale, dwRef, dwScale := refConvGrads(x1, dy, c)
	for _, wino := range []bool{true, false} {
		c.wino = wino
		c.Forward(x1, true)
		dx := c.Backward(withLayout(dy, CNHW), true).ToNCHW(nil)
		xa, xr := maxErr(dx.Data, dxRef, dxScale)
		ga, gr := maxErr(c.W.Grad, dwRef, dwScale)
		t.Logf("backward, winograd %v: dx max abs %.3g, rel %.3g; dW max abs %.3g, rel %.3g", wino, xa, xr, ga, gr)
		if xr > winoRelBound || gr > winoRelBound {
			t.Errorf("backward, winograd %v: relative errors dx %.3g, dW %.3g > %.3g", wino, xr, gr, winoRelBound)
		}
	}
}

func TestWinogradGradients(t *testing.T) {
	defer func(b, m int) { winoBudget, winoMinIn = b, m }(winoBudget, winoMinIn)
	winoMinIn = 1
	for _, tc := range []struct {
		in, n, h, w, pad int
		layout           Layout
		budget           int
	}{
		{2, 3, 6, 7, 0, NCHW, 1 << 18},
		{2, 3, 6, 7, 1, CNHW, 1 << 18},
		{2, 3, 5, 5, 1, NCHW, 1}, // one image per group
		{1, 17, 5, 6, 2, CNHW, 1 << 18},
		{3, 17, 4, 5, 0, NCHW, 1 << 11}, // several groups of several images
	} {
		name := fmt.Sprintf("in%d_n%d_%dx%d_p%d_%v_budget%d", tc.in, tc.n, tc.h, tc.w, tc.pad, tc.layout, tc.budget)
		t.Run(name, func(t *testing.T) {
			winoBudget = tc.budget
			rng := testRNG(43)
			c := winoLayer(t, rng, tc.in, 3, tc.pad)
			x := withLayout(randTensor(rng, false, tc.n, tc.in, tc.h, tc.w), tc.layout)
			checkGradients(t, gradCase{layer: c, x: x, train: true})
			if !c.winoOn() {
				t.Fatal("not on the Winograd path")
			}
			if tc.budget == 1<<11 && (c.group < 2 || c.groups < 2) {
				t.Errorf("%d groups of %d images; the case is meant to cover several of several", c.groups, c.group)
			}
		})
	}
}

// convGrads runs one forward and backward pass (with fused ReLU) and
// returns y, dx, dW and dB.
func convGrads(c *Conv2D, x *Tensor, dy *Tensor) (y, dx, dw, db []float32) {
	y = slices.Clone(c.Forward(x, true).Data)
	d := c.Backward(dy, true)
	return y, slices.Clone(d.Data), slices.Clone(c.W.Grad), slices.Clone(c.B.Grad)
}

// The backward passes against the direct path's, on a layer of the CNN's
// shape with the fused ReLU, relative to the largest gradient.
func TestWinogradBackwardMatchesDirect(t *testing.T) {
	rng := testRNG(44)
	c := winoLayer(t, rng, 8, 16, 1)
	c.relu = true
	x := withLayout(randTensor(rng, false, 10, 8, 13, 12), CNHW)
	dy := withLayout(randTensor(rng, false, 10, 16, 13, 12), CNHW)
	_, dxW, dwW, dbW := convGrads(c, x, dy)
	c.wino = false
	_, dxD, dwD, dbD := convGrads(c, x, dy)
	for _, g := range []struct {
		what       string
		wino, dire []float32
	}{{"dx", dxW, dxD}, {"dW", dwW, dwD}, {"dB", dbW, dbD}} {
		var big, diff float64
		for i := range g.dire {
			big = max(big, math.Abs(float64(g.dire[i])))
			diff = max(diff, math.Abs(float64(g.wino[i]-g.dire[i])))
		}
		t.Logf("%s: max |winograd − direct| %.3g, max |direct| %.3g", g.what, diff, big)
		if diff > winoRelBound*big {
			t.Errorf("%s: winograd and direct differ by %.3g (largest value %.3g)", g.what, diff, big)
		}
	}
}

// Results are bitwise the same across runs and for any GOMAXPROCS.
func TestWinogradDeterministic(t *testing.T) {
	defer func(b int) { winoBudget = b }(winoBudget)
	winoBudget = 1 << 12 // many groups
	rng := testRNG(45)
	x := withLayout(randTensor(rng, false, 23, 6, 9, 10), CNHW)
	dy := withLayout(randTensor(rng, false, 23, 5, 9, 10), CNHW)
	var first [4][]float32
	for i, procs := range []int{1, 2, 3, 4, 2} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			c := winoLayer(t, testRNG(46), 6, 5, 1)
			y, dx, dw, db := convGrads(c, x, dy)
			got := [4][]float32{y, dx, dw, db}
			if i == 0 {
				first = got
				if c.groups < 4 {
					t.Fatalf("%d groups; the case needs several per worker", c.groups)
				}
				return
			}
			for k, name := range []string{"y", "dx", "dW", "dB"} {
				if !slices.Equal(got[k], first[k]) {
					t.Errorf("GOMAXPROCS=%d: %s differs from the first run", procs, name)
				}
			}
		}()
	}
}

func TestSetConvAlgo(t *testing.T) {
	build := func() (*Sequential, []*Conv2D) {
		m, err := CNN([]int{1, 28, 28}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var cs []*Conv2D
		for _, l := range m.layers {
			if c, ok := l.(*Conv2D); ok {
				cs = append(cs, c)
			}
		}
		return m, cs
	}
	x, labels := batch(1, 4, 1, 28, 28)
	var ce SoftmaxCrossEntropy
	md, csd := build()
	if err := md.SetConvAlgo("fft"); err == nil {
		t.Fatal(`SetConvAlgo("fft") accepted`)
	}
	trainStep(t, md, &ce, x, labels)
	direct := csd[1].W.Grad
	mw, cs := build()
	if err := mw.SetConvAlgo(ConvWinograd); err != nil {
		t.Fatal(err)
	}
	if cs[0].winoOn() || !cs[1].winoOn() {
		t.Fatalf("winograd on conv1 %v (1 input channel: want direct), conv2 %v (want winograd)", cs[0].winoOn(), cs[1].winoOn())
	}
	trainStep(t, mw, &ce, x, labels)
	wino := cs[1].W.Grad
	if slices.Equal(direct, wino) {
		t.Error("conv2's gradient is bitwise the direct one: the Winograd path did not run")
	}
	var big, diff float64
	for i := range direct {
		big = max(big, math.Abs(float64(direct[i])))
		diff = max(diff, math.Abs(float64(wino[i]-direct[i])))
	}
	if diff > winoRelBound*big {
		t.Errorf("conv2's weight gradient: winograd and direct differ by %.3g (largest %.3g)", diff, big)
	}
	if err := mw.SetPrecision(BF16); err != nil {
		t.Fatal(err)
	}
	if cs[1].winoOn() {
		t.Error("bf16 layer on the Winograd path")
	}
	if err := mw.SetConvAlgo(ConvDirect); err != nil {
		t.Fatal(err)
	}
	if cs[1].wino {
		t.Error("SetConvAlgo(direct) left conv2 on Winograd")
	}
}

// A backward pass after an inference forward pass (nothing kept)
// recomputes the transformed input and gives the same bits as one after a
// training forward pass.
func TestWinogradBackwardWithoutKeptInput(t *testing.T) {
	rng := testRNG(47)
	c := winoLayer(t, rng, 5, 4, 1)
	x := withLayout(randTensor(rng, false, 11, 5, 7, 9), CNHW)
	dy := withLayout(randTensor(rng, false, 11, 4, 7, 9), CNHW)
	_, dx1, dw1, _ := convGrads(c, x, dy)
	c.Forward(x, false)
	if c.ws.valid {
		t.Fatal("an inference pass kept its transformed input")
	}
	dx2 := slices.Clone(c.Backward(dy, true).Data)
	if !slices.Equal(dx1, dx2) || !slices.Equal(dw1, c.W.Grad) {
		t.Error("gradients differ between a kept and a recomputed transformed input")
	}
	// A second backward pass of the same forward pass: the kept input was
	// overwritten by the first and must be recomputed.
	convGrads(c, x, dy)
	dx3 := slices.Clone(c.Backward(dy, true).Data)
	if !slices.Equal(dx1, dx3) || !slices.Equal(dw1, c.W.Grad) {
		t.Error("a second backward pass of one forward pass gives other gradients")
	}
}

package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Finite-difference checks of every layer's backward pass. The loss is a
// fixed random projection L = Σ r·y, accumulated in float64; central
// differences with a step that is large against float32 rounding and small
// against curvature keep the comparison tight. Inputs avoid the kinks of
// ReLU and max-pooling so that the function is smooth at the probe points.

const (
	fdEps = 1e-2
	fdAbs = 3e-3
	fdRel = 1e-2
)

func testRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// randTensor fills a tensor with values in ±[0.1, 1] (never near zero) or,
// when distinct is set, a shuffled ladder of values 0.05 apart, so that no
// two elements are within 2·fdEps of each other.
func randTensor(rng *rand.Rand, distinct bool, shape ...int) *Tensor {
	t := NewTensor(shape...)
	if distinct {
		perm := rng.Perm(len(t.Data))
		for i, p := range perm {
			t.Data[i] = float32(p)*0.05 - float32(len(t.Data))*0.025
		}
		return t
	}
	for i := range t.Data {
		v := 0.1 + 0.9*rng.Float32()
		if rng.IntN(2) == 0 {
			v = -v
		}
		t.Data[i] = v
	}
	return t
}

// withLayout returns t reordered to layout l.
func withLayout(t *Tensor, l Layout) *Tensor {
	if l == NCHW || len(t.Shape) != 4 {
		return t
	}
	out := NewTensor(t.Shape...)
	out.Layout = CNHW
	N, C, plane := t.Shape[0], t.Shape[1], t.Shape[2]*t.Shape[3]
	for n := 0; n < N; n++ {
		for c := 0; c < C; c++ {
			copy(out.Data[(c*N+n)*plane:], t.Data[(n*C+c)*plane:(n*C+c+1)*plane])
		}
	}
	return out
}

func project(y *Tensor, r []float64) float64 {
	var s float64
	for i, v := range y.Data {
		s += float64(v) * r[i]
	}
	return s
}

type gradCase struct {
	layer Layer
	x     *Tensor
	train bool
	// before runs ahead of every forward pass (to replay random streams).
	before func()
}

func checkGradients(t *testing.T, c gradCase) {
	t.Helper()
	rng := testRNG(99)
	before := func() {
		if c.before != nil {
			c.before()
		}
	}
	before()
	y := c.layer.Forward(c.x, c.train)
	r := make([]float64, len(y.Data))
	dy := &Tensor{Shape: append([]int(nil), y.Shape...), Data: make([]float32, len(y.Data)), Layout: y.Layout}
	for i := range r {
		r[i] = rng.Float64()*2 - 1
		dy.Data[i] = float32(r[i])
	}
	dx := c.layer.Backward(dy, true)
	if dx == nil {
		t.Fatal("Backward returned nil with needDX")
	}
	if len(dx.Data) != len(c.x.Data) || dx.Layout != c.x.Layout && len(dx.Shape) == 4 {
		t.Fatalf("dx has %d values in %v, x has %d in %v", len(dx.Data), dx.Layout, len(c.x.Data), c.x.Layout)
	}
	gotDX := append([]float32(nil), dx.Data...)
	var gotP [][]float32
	for _, p := range c.layer.Params() {
		gotP = append(gotP, append([]float32(nil), p.Grad...))
	}
	loss := func() float64 {
		before()
		return project(c.layer.Forward(c.x, c.train), r)
	}
	probe := func(what string, v []float32, i int, analytic float32) {
		old := v[i]
		v[i] = old + fdEps
		up := loss()
		v[i] = old - fdEps
		down := loss()
		v[i] = old
		num := (up - down) / (2 * fdEps)
		a := float64(analytic)
		if math.Abs(a-num) > fdAbs+fdRel*math.Max(math.Abs(a), math.Abs(num)) {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", what, i, a, num)
		}
	}
	// Probe every input of small cases and an evenly spread subset of big ones.
	step := max(1, len(c.x.Data)/300)
	for i := 0; i < len(c.x.Data); i += step {
		probe("dx", c.x.Data, i, gotDX[i])
	}
	for k, p := range c.layer.Params() {
		for i := range p.Data {
			probe(p.Name, p.Data, i, gotP[k][i])
		}
	}
}

func TestDenseGradients(t *testing.T) {
	rng := testRNG(1)
	d := NewDense("fc", 5, 4, rng)
	checkGradients(t, gradCase{layer: d, x: randTensor(rng, false, 3, 5), train: true})
}

func TestConv2DGradients(t *testing.T) {
	defer func(b int) { colBudget = b }(colBudget)
	for _, tc := range []struct {
		k, stride, pad int
		layout         Layout
		budget         int
		batch          int
	}{
		{3, 1, 0, NCHW, 1 << 20, 3},
		{3, 1, 1, CNHW, 1 << 20, 3},
		{3, 1, 1, NCHW, 1, 3}, // one image per GEMM
		{5, 1, 2, CNHW, 1, 3},
		{5, 1, 0, NCHW, 1 << 20, 3},
		{3, 2, 1, NCHW, 1 << 20, 3},
		{3, 2, 0, CNHW, 1, 3},
		{3, 1, 1, CNHW, 1 << 20, 17}, // 6 groups of up to 3 images
		{5, 1, 2, NCHW, 1 << 20, 17},
	} {
		name := fmt.Sprintf("k%d_s%d_p%d_%v_budget%d_n%d", tc.k, tc.stride, tc.pad, tc.layout, tc.budget, tc.batch)
		t.Run(name, func(t *testing.T) {
			colBudget = tc.budget
			rng := testRNG(2)
			c, err := NewConv2D("conv", 2, 3, tc.k, tc.stride, tc.pad, rng)
			if err != nil {
				t.Fatal(err)
			}
			x := withLayout(randTensor(rng, false, tc.batch, 2, 6, 7), tc.layout)
			checkGradients(t, gradCase{layer: c, x: x, train: true})
			if tc.batch > groupMultiple && c.group < 2 {
				t.Errorf("batch %d ran in groups of %d; the case is meant to cover multi-image groups", tc.batch, c.group)
			}
		})
	}
}

func TestMaxPool2DGradients(t *testing.T) {
	for _, tc := range []struct{ k, s int }{{2, 2}, {3, 2}, {2, 1}} {
		for _, layout := range []Layout{NCHW, CNHW} {
			t.Run(fmt.Sprintf("k%d_s%d_%v", tc.k, tc.s, layout), func(t *testing.T) {
				rng := testRNG(3)
				m, err := NewMaxPool2D("pool", tc.k, tc.s)
				if err != nil {
					t.Fatal(err)
				}
				x := withLayout(randTensor(rng, true, 2, 3, 6, 5), layout)
				checkGradients(t, gradCase{layer: m, x: x})
			})
		}
	}
}

func TestReLUGradients(t *testing.T) {
	rng := testRNG(4)
	checkGradients(t, gradCase{layer: NewReLU("relu"), x: randTensor(rng, false, 3, 7)})
}

func TestDropoutGradients(t *testing.T) {
	rng := testRNG(5)
	d, err := NewDropout("drop", 0.4, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	state, err := d.RNGState()
	if err != nil {
		t.Fatal(err)
	}
	replay := func() {
		if err := d.SetRNGState(state); err != nil {
			t.Fatal(err)
		}
	}
	checkGradients(t, gradCase{layer: d, x: randTensor(rng, false, 2, 5000), train: true, before: replay})
	checkGradients(t, gradCase{layer: d, x: randTensor(rng, false, 4, 5), train: false})
}

func TestBatchNormGradients(t *testing.T) {
	for _, train := range []bool{true, false} {
		t.Run(fmt.Sprintf("1d_train=%v", train), func(t *testing.T) {
			rng := testRNG(6)
			b, _ := NewBatchNorm1D("bn", 4, 0, 0)
			perturbAffine(rng, b)
			checkGradients(t, gradCase{layer: b, x: randTensor(rng, false, 5, 4), train: train})
		})
		for _, layout := range []Layout{NCHW, CNHW} {
			t.Run(fmt.Sprintf("2d_%v_train=%v", layout, train), func(t *testing.T) {
				rng := testRNG(7)
				b, _ := NewBatchNorm2D("bn", 3, 0, 0)
				perturbAffine(rng, b)
				x := withLayout(randTensor(rng, false, 2, 3, 3, 2), layout)
				checkGradients(t, gradCase{layer: b, x: x, train: train})
			})
		}
	}
}

// perturbAffine moves batch norm away from its identity initialisation so the
// check exercises γ, β and the running statistics.
func perturbAffine(rng *rand.Rand, b *BatchNorm) {
	for i := range b.Gamma.Data {
		b.Gamma.Data[i] = 0.5 + rng.Float32()
		b.Beta.Data[i] = rng.Float32() - 0.5
		b.RunningMean[i] = rng.Float32() - 0.5
		b.RunningVar[i] = 0.5 + rng.Float32()
	}
}

func TestFlattenGradients(t *testing.T) {
	for _, layout := range []Layout{NCHW, CNHW} {
		rng := testRNG(8)
		x := withLayout(randTensor(rng, false, 2, 3, 2, 2), layout)
		checkGradients(t, gradCase{layer: NewFlatten("flat"), x: x})
	}
}

func TestSoftmaxCrossEntropyGradient(t *testing.T) {
	rng := testRNG(9)
	logits := randTensor(rng, false, 4, 6)
	for i := range logits.Data {
		logits.Data[i] *= 5
	}
	labels := []int{0, 5, 2, 2}
	var l SoftmaxCrossEntropy
	_, g, err := l.Forward(logits, labels)
	if err != nil {
		t.Fatal(err)
	}
	grad := append([]float32(nil), g.Data...)
	for i := range logits.Data {
		old := logits.Data[i]
		logits.Data[i] = old + fdEps
		up, _, _ := l.Forward(logits, labels)
		logits.Data[i] = old - fdEps
		down, _, _ := l.Forward(logits, labels)
		logits.Data[i] = old
		num := (up - down) / (2 * fdEps)
		if math.Abs(num-float64(grad[i])) > 1e-4+1e-3*math.Abs(num) {
			t.Errorf("dlogits[%d]: analytic %g, numeric %g", i, grad[i], num)
		}
	}
}

// TestModelGradients checks a whole small CNN with batch norm end to end
// through the loss, so that layout hand-offs between layers are covered.
func TestModelGradients(t *testing.T) {
	rng := testRNG(10)
	spec := Spec{Name: "tiny", Input: []int{2, 6, 6}, Seed: 3, Layers: []LayerSpec{
		{Type: "conv2d", Name: "c1", In: 2, Out: 3, Kernel: 3, Padding: 1},
		{Type: "batchnorm2d", Name: "bn", In: 3},
		{Type: "conv2d", Name: "c2", In: 3, Out: 2, Kernel: 3},
		{Type: "maxpool2d", Name: "pool", Kernel: 2, Stride: 2},
		{Type: "flatten", Name: "flat"},
		{Type: "dense", Name: "fc", In: 8, Out: 3},
	}}
	m, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(rng, false, 3, 2, 6, 6)
	labels := []int{0, 2, 1}
	var ce SoftmaxCrossEntropy
	loss := func() float64 {
		y, err := m.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := ce.Forward(y, labels)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	loss()
	_, g, _ := ce.Forward(mustForward(t, m, x), labels)
	if err := m.Backward(g); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		grad := append([]float32(nil), p.Grad...)
		for i := range p.Data {
			old := p.Data[i]
			p.Data[i] = old + fdEps
			up := loss()
			p.Data[i] = old - fdEps
			down := loss()
			p.Data[i] = old
			num := (up - down) / (2 * fdEps)
			if math.Abs(num-float64(grad[i])) > 1e-3+2e-2*math.Abs(num) {
				t.Errorf("%s[%d]: analytic %g, numeric %g", p.Name, i, grad[i], num)
			}
		}
	}
}

func mustForward(t *testing.T, m *Sequential, x *Tensor) *Tensor {
	t.Helper()
	y, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

package nn

import (
	"encoding/json"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// refConv is a direct, loop-by-loop convolution used as the reference for
// the im2col path.
func refConv(x *Tensor, c *Conv2D) []float64 {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	OH := (H+2*c.pad-c.k)/c.stride + 1
	OW := (W+2*c.pad-c.k)/c.stride + 1
	out := make([]float64, N*c.outC*OH*OW)
	for n := 0; n < N; n++ {
		for o := 0; o < c.outC; o++ {
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					s := float64(c.B.Data[o])
					for ci := 0; ci < C; ci++ {
						for kh := 0; kh < c.k; kh++ {
							for kw := 0; kw < c.k; kw++ {
								ih, iw := oh*c.stride+kh-c.pad, ow*c.stride+kw-c.pad
								if ih < 0 || iw < 0 || ih >= H || iw >= W {
									continue
								}
								s += float64(x.At(n, ci, ih, iw)) * float64(c.W.Data[((o*C+ci)*c.k+kh)*c.k+kw])
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

func TestConv2DMatchesDirectConvolution(t *testing.T) {
	defer func(b int) { colBudget = b }(colBudget)
	for _, budget := range []int{1, 1 << 20} {
		colBudget = budget
		for _, tc := range []struct{ k, s, p int }{{3, 1, 0}, {3, 1, 1}, {5, 1, 2}, {5, 2, 1}} {
			rng := testRNG(20)
			c, _ := NewConv2D("c", 3, 4, tc.k, tc.s, tc.p, rng)
			for _, layout := range []Layout{NCHW, CNHW} {
				x := withLayout(randTensor(rng, false, 19, 3, 9, 8), layout)
				want := refConv(x, c)
				y := c.Forward(x, false)
				if y.Layout != CNHW {
					t.Fatalf("conv output layout %v, want CNHW", y.Layout)
				}
				nchw := y.ToNCHW(nil)
				for i, w := range want {
					if math.Abs(float64(nchw.Data[i])-w) > 1e-4 {
						t.Fatalf("k=%d s=%d p=%d %v budget=%d: y[%d] = %g, want %g", tc.k, tc.s, tc.p, layout, budget, i, nchw.Data[i], w)
					}
				}
			}
		}
	}
}

func TestMaxPoolForward(t *testing.T) {
	rng := testRNG(21)
	x := randTensor(rng, true, 2, 3, 7, 6)
	for _, tc := range []struct{ k, s int }{{2, 2}, {3, 2}} {
		m, _ := NewMaxPool2D("p", tc.k, tc.s)
		y := m.Forward(x, false)
		OH, OW := (7-tc.k)/tc.s+1, (6-tc.k)/tc.s+1
		if !slices.Equal(y.Shape, []int{2, 3, OH, OW}) {
			t.Fatalf("shape %v", y.Shape)
		}
		for n := 0; n < 2; n++ {
			for c := 0; c < 3; c++ {
				for oh := 0; oh < OH; oh++ {
					for ow := 0; ow < OW; ow++ {
						best := float32(math.Inf(-1))
						for i := 0; i < tc.k; i++ {
							for j := 0; j < tc.k; j++ {
								best = max(best, x.At(n, c, oh*tc.s+i, ow*tc.s+j))
							}
						}
						if got := y.At(n, c, oh, ow); got != best {
							t.Fatalf("k=%d: y[%d,%d,%d,%d] = %g, want %g", tc.k, n, c, oh, ow, got, best)
						}
					}
				}
			}
		}
	}
}

func TestBatchNormTrainStatistics(t *testing.T) {
	rng := testRNG(22)
	b, _ := NewBatchNorm2D("bn", 2, 0, 0.2)
	x := withLayout(randTensor(rng, false, 4, 2, 3, 3), CNHW)
	for i := range x.Data {
		x.Data[i] = x.Data[i]*3 + 5
	}
	y := b.Forward(x, true)
	for c := 0; c < 2; c++ {
		var xs, ys []float64
		for n := 0; n < 4; n++ {
			for h := 0; h < 3; h++ {
				for w := 0; w < 3; w++ {
					xs = append(xs, float64(x.At(n, c, h, w)))
					ys = append(ys, float64(y.At(n, c, h, w)))
				}
			}
		}
		mx, vx := meanVar(xs)
		my, vy := meanVar(ys)
		if math.Abs(my) > 1e-5 || math.Abs(vy-vx/(vx+1e-5)) > 1e-4 {
			t.Errorf("channel %d: normalised mean %g var %g", c, my, vy)
		}
		m := float64(len(xs))
		wantMean := 0.8*0 + 0.2*mx
		wantVar := 0.8*1 + 0.2*vx*m/(m-1)
		if math.Abs(float64(b.RunningMean[c])-wantMean) > 1e-5 || math.Abs(float64(b.RunningVar[c])-wantVar) > 1e-4 {
			t.Errorf("channel %d: running %g/%g, want %g/%g", c, b.RunningMean[c], b.RunningVar[c], wantMean, wantVar)
		}
	}
	// Evaluation uses the running statistics.
	e := b.Forward(x, false)
	want := (float64(x.Data[0]) - float64(b.RunningMean[0])) / math.Sqrt(float64(b.RunningVar[0])+1e-5)
	if math.Abs(float64(e.Data[0])-want) > 1e-5 {
		t.Errorf("eval y[0] = %g, want %g", e.Data[0], want)
	}
}

func meanVar(v []float64) (float64, float64) {
	var s, q float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	for _, x := range v {
		q += (x - m) * (x - m)
	}
	return m, q / float64(len(v))
}

func TestSoftmaxCrossEntropyValue(t *testing.T) {
	logits, _ := FromSlice([]float32{1, 2, 3, 1000, -1000, 0}, 2, 3)
	var l SoftmaxCrossEntropy
	loss, _, err := l.Forward(logits, []int{2, 1})
	if err != nil {
		t.Fatal(err)
	}
	row0 := math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)) - 3
	row1 := 2000.0 // log-sum-exp ≈ 1000, minus the -1000 logit
	if want := (row0 + row1) / 2; math.Abs(loss-want) > 1e-4 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	if _, _, err := l.Forward(logits, []int{3, 0}); err == nil || !strings.Contains(err.Error(), "label 3") {
		t.Errorf("out-of-range label: err = %v", err)
	}
}

func TestDropoutMaskStatisticsAndReplay(t *testing.T) {
	x := NewTensor(4, 50000)
	fill(x.Data, 1)
	d, _ := NewDropout("d", 0.25, 11, 12)
	state, _ := d.RNGState()
	y := d.Forward(x, true).Clone()
	zeros := 0
	for _, v := range y.Data {
		switch v {
		case 0:
			zeros++
		case float32(1 / 0.75):
		default:
			t.Fatalf("unexpected output %g", v)
		}
	}
	if frac := float64(zeros) / float64(len(y.Data)); math.Abs(frac-0.25) > 0.01 {
		t.Errorf("dropped fraction %.4f, want 0.25", frac)
	}
	if again := d.Forward(x, true); slices.Equal(again.Data, y.Data) {
		t.Error("two steps drew the same mask")
	}
	// Restoring the state replays the mask, whatever the worker count.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if err := d.SetRNGState(state); err != nil {
		t.Fatal(err)
	}
	if replay := d.Forward(x, true); !slices.Equal(replay.Data, y.Data) {
		t.Error("restored RNG state did not reproduce the mask")
	}
	if d.Forward(x, false) != x {
		t.Error("evaluation should pass the input through")
	}
	if err := d.SetRNGState([]byte("junk")); err == nil {
		t.Error("bad RNG state accepted")
	}
}

func smallCNN(t *testing.T, seed uint64, opts ...Option) *Sequential {
	t.Helper()
	m, err := CNN([]int{1, 12, 12}, 10, append([]Option{WithSeed(seed)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func batch(seed uint64, n int, shape ...int) (*Tensor, []int) {
	rng := testRNG(seed)
	x := NewTensor(append([]int{n}, shape...)...)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	return x, labels
}

func trainStep(t testing.TB, m *Sequential, ce *SoftmaxCrossEntropy, x *Tensor, labels []int) float64 {
	y, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	loss, g, err := ce.Forward(y, labels)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(g); err != nil {
		t.Fatal(err)
	}
	return loss
}

func TestModelsMatchPyTorchParameterCounts(t *testing.T) {
	count := func(m *Sequential) (n int, names []string) {
		for _, p := range m.Params() {
			n += len(p.Data)
			names = append(names, p.Name)
		}
		return
	}
	mlp, err := MLP(784, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := count(mlp); n != 784*512+512+512*256+256+256*10+10 {
		t.Errorf("MLP has %d parameters", n)
	}
	cnn, err := CNN([]int{1, 28, 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	n, names := count(cnn)
	// torch examples/mnist Net: conv1 320, conv2 18496, fc1 1179776, fc2 1290.
	if n != 320+18496+1179776+1290 {
		t.Errorf("CNN has %d parameters", n)
	}
	want := []string{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
	if !slices.Equal(names, want) {
		t.Errorf("CNN parameter names %v, want %v", names, want)
	}
}

func TestInitialisationBounds(t *testing.T) {
	m, _ := CNN([]int{1, 28, 28}, 10, WithSeed(5))
	for _, p := range m.Params() {
		fanIn := len(p.Data) / p.Shape[0]
		if len(p.Shape) == 1 { // bias: fan-in of the matching weight
			continue
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		var hi float64
		for _, v := range p.Data {
			hi = max(hi, math.Abs(float64(v)))
		}
		if hi > bound || hi < 0.9*bound {
			t.Errorf("%s: max |w| = %g, want just under %g", p.Name, hi, bound)
		}
	}
}

func TestSpecRoundTripRebuildsSameModel(t *testing.T) {
	m := smallCNN(t, 42, WithBatchNorm())
	raw, err := json.Marshal(m.Spec())
	if err != nil {
		t.Fatal(err)
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	m2, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := json.Marshal(m2.Spec())
	if string(raw) != string(raw2) {
		t.Errorf("spec changed:\n%s\n%s", raw, raw2)
	}
	a, b := m.State(), m2.State()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d state tensors", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Data, b[i].Data) {
			t.Errorf("state %s differs after rebuild", a[i].Name)
		}
	}
	other := smallCNN(t, 43)
	if slices.Equal(other.Params()[0].Data, m.Params()[0].Data) {
		t.Error("different seeds gave the same weights")
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "a", Input: []int{4}, Layers: []LayerSpec{{Type: "magic", Name: "m"}}}, `unknown layer type "magic"`},
		{Spec{Name: "b", Input: []int{4}, Layers: []LayerSpec{{Type: "dense", Name: "fc", In: 5, Out: 2}}}, "expects input [5]"},
		{Spec{Name: "c", Input: []int{4}, Layers: []LayerSpec{{Type: "relu", Name: "r"}, {Type: "relu", Name: "r"}}}, "duplicate layer name"},
		{Spec{Name: "d", Input: []int{1, 4, 4}, Layers: []LayerSpec{{Type: "conv2d", Name: "c", In: 1, Out: 2, Kernel: 5}}}, "smaller than"},
		{Spec{Name: "e", Input: []int{4}, Layers: []LayerSpec{{Type: "dropout", Name: "d", P: 1}}}, "outside [0, 1)"},
		{Spec{Name: "f", Input: []int{4}}, "no layers"},
	} {
		_, err := Build(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.spec.Name, err, tc.want)
		}
	}
	m, _ := MLP(6, []int{4}, 3)
	if _, err := m.Forward(NewTensor(2, 5), true); err == nil {
		t.Error("wrong input shape accepted")
	}
	if err := m.Backward(NewTensor(2, 3)); err == nil {
		t.Error("Backward before Forward accepted")
	}
}

func TestReplaceHead(t *testing.T) {
	m := smallCNN(t, 1)
	before := slices.Clone(m.Params()[0].Data)
	if err := m.ReplaceHead(3, 9); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.OutputShape(), []int{3}) {
		t.Fatalf("output shape %v", m.OutputShape())
	}
	s := m.Spec()
	if last := s.Layers[len(s.Layers)-1]; last.Name != "fc2" || last.Out != 3 || last.In != 128 {
		t.Errorf("head spec %+v", last)
	}
	if !slices.Equal(m.Params()[0].Data, before) {
		t.Error("body weights changed")
	}
	x, _ := batch(1, 4, 1, 12, 12)
	var ce SoftmaxCrossEntropy
	trainStep(t, m, &ce, x, []int{0, 1, 2, 0})
	if err := m.ReplaceHead(0, 1); err == nil {
		t.Error("zero classes accepted")
	}
}

func TestFreezeSkipsGradientsAndMatchesUnfrozen(t *testing.T) {
	x, labels := batch(2, 6, 1, 12, 12)
	var ce SoftmaxCrossEntropy
	ref := smallCNN(t, 3)
	trainStep(t, ref, &ce, x, labels)

	m := smallCNN(t, 3)
	if err := m.Freeze("conv", "fc1.bias"); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	for _, p := range m.Params() {
		fill(p.Grad, nan)
	}
	trainStep(t, m, &ce, x, labels)
	for i, p := range m.Params() {
		frozen := strings.HasPrefix(p.Name, "conv") || p.Name == "fc1.bias"
		if p.Frozen != frozen {
			t.Errorf("%s: Frozen = %v", p.Name, p.Frozen)
		}
		if frozen {
			if !math.IsNaN(float64(p.Grad[0])) {
				t.Errorf("%s: gradient computed for a frozen parameter", p.Name)
			}
			continue
		}
		if !slices.Equal(p.Grad, ref.Params()[i].Grad) {
			t.Errorf("%s: gradient differs from the unfrozen model", p.Name)
		}
	}
	if len(m.Trainable()) != 3 {
		t.Errorf("%d trainable parameters, want 3", len(m.Trainable()))
	}
	if err := m.Freeze("conv9"); err == nil {
		t.Error("prefix matching nothing accepted")
	}
	if err := m.Unfreeze("conv1."); err != nil || m.Params()[0].Frozen {
		t.Errorf("unfreeze: %v", err)
	}
}

func TestLoadStateAndRNGState(t *testing.T) {
	a := smallCNN(t, 10, WithBatchNorm())
	b := smallCNN(t, 11, WithBatchNorm())
	x, labels := batch(3, 5, 1, 12, 12)
	var ce SoftmaxCrossEntropy
	trainStep(t, a, &ce, x, labels) // moves running statistics and RNG
	if err := b.LoadState(a.State()); err != nil {
		t.Fatal(err)
	}
	rs, err := a.RNGState()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("RNG state for %d layers, want 2 dropouts", len(rs))
	}
	if err := b.SetRNGState(rs); err != nil {
		t.Fatal(err)
	}
	ya, _ := a.Forward(x, true)
	yb, _ := b.Forward(x, true)
	if !slices.Equal(ya.Data, yb.Data) {
		t.Error("model with loaded state and RNG computes a different training step")
	}

	st := a.State()
	st[0].Shape = []int{1}
	err = b.LoadState(append(st[1:], Named{Name: "bogus", Shape: []int{1}, Data: []float32{0}}))
	for _, want := range []string{`missing tensor "conv1.weight"`, `unexpected tensor "bogus"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadState error %v, want mention of %s", err, want)
		}
	}
	if err := b.SetRNGState(map[string][]byte{"dropout1": rs["dropout1"]}); err == nil {
		t.Error("incomplete RNG state accepted")
	}
}

// TestDeterministicAcrossWorkerCounts runs the same training step with one
// and with several workers and wants bit-identical results.
func TestDeterministicAcrossWorkerCounts(t *testing.T) {
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := smallCNN(t, 4, WithBatchNorm())
		x, labels := batch(4, 7, 1, 12, 12)
		var ce SoftmaxCrossEntropy
		trainStep(t, m, &ce, x, labels)
		var out [][]float32
		for _, p := range m.Params() {
			out = append(out, slices.Clone(p.Grad))
		}
		return out
	}
	one, four := run(1), run(4)
	for i := range one {
		if !slices.Equal(one[i], four[i]) {
			t.Errorf("parameter %d: gradients differ between 1 and 4 workers", i)
		}
	}
}

// naiveGemm is a non-allocating reference GEMM, so that the allocation test
// measures this package only.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

func TestTrainStepDoesNotAllocate(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector makes sync.Pool drop items at random, so pooled buffers are reallocated")
	}
	useNaiveProducts(t)
	m := smallCNN(t, 5, WithBatchNorm())
	x, labels := batch(5, 16, 1, 12, 12)
	var ce SoftmaxCrossEntropy
	trainStep(t, m, &ce, x, labels)
	allocs := testing.AllocsPerRun(5, func() { trainStep(t, m, &ce, x, labels) })
	if allocs != 0 {
		t.Errorf("a training step allocates %v times", allocs)
	}
}

func TestSmallerLastBatchReusesBuffers(t *testing.T) {
	m := smallCNN(t, 6, WithBatchNorm())
	var ce SoftmaxCrossEntropy
	x, labels := batch(6, 8, 1, 12, 12)
	trainStep(t, m, &ce, x, labels)
	rs, _ := m.RNGState()
	state := m.State()
	fresh := smallCNN(t, 6, WithBatchNorm())
	if err := fresh.LoadState(state); err != nil {
		t.Fatal(err)
	}
	if err := fresh.SetRNGState(rs); err != nil {
		t.Fatal(err)
	}
	// A smaller batch on buffers sized for 8 must agree with a model that
	// never saw a larger one.
	xs, ls := batch(7, 3, 1, 12, 12)
	trainStep(t, m, &ce, xs, ls)
	var ce2 SoftmaxCrossEntropy
	trainStep(t, fresh, &ce2, xs, ls)
	for i, p := range m.Params() {
		if !slices.Equal(p.Grad, fresh.Params()[i].Grad) {
			t.Errorf("%s differs", p.Name)
		}
	}
	y, _ := m.Forward(xs, false)
	if y.Shape[0] != 3 {
		t.Errorf("output batch %d", y.Shape[0])
	}
}

// TestPlanMatchesLayerOrder checks that the execution plan (ReLU moved after
// max-pooling, ReLU fused into conv and dense) gives bit-identical outputs
// and gradients to running the layers exactly as listed.
func TestPlanMatchesLayerOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func() *Sequential
		shape []int
	}{
		{"cnn", func() *Sequential { return smallCNN(t, 8) }, []int{1, 12, 12}},
		{"cnn-bn", func() *Sequential { return smallCNN(t, 8, WithBatchNorm()) }, []int{1, 12, 12}},
		{"mlp", func() *Sequential { m, _ := MLP(20, []int{16, 8}, 10, WithSeed(3)); return m }, []int{20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fused, plain := tc.build(), tc.build()
			plain.noFuse = true
			plain.makePlan()
			if len(fused.plan) >= len(plain.plan) {
				t.Errorf("plan did not fuse anything: %d vs %d steps", len(fused.plan), len(plain.plan))
			}
			x, labels := batch(9, 6, tc.shape...)
			var ce1, ce2 SoftmaxCrossEntropy
			l1 := trainStep(t, fused, &ce1, x, labels)
			l2 := trainStep(t, plain, &ce2, x, labels)
			if l1 != l2 {
				t.Errorf("loss %v vs %v", l1, l2)
			}
			for i, p := range fused.Params() {
				if !slices.Equal(p.Grad, plain.Params()[i].Grad) {
					t.Errorf("%s: gradients differ", p.Name)
				}
			}
		})
	}
}

// A ReLU fused into a Dense layer must give what the ReLU layer gives, NaN
// included: the layer maps NaN to 0, so the fused pass must too.
func TestFusedDenseReluMatchesLayerOnNaN(t *testing.T) {
	fused, _ := MLP(20, []int{16}, 10, WithSeed(3))
	plain, _ := MLP(20, []int{16}, 10, WithSeed(3))
	plain.noFuse = true
	plain.makePlan()
	x, _ := batch(9, 4, 20)
	x.Data[3] = float32(math.NaN()) // row 0 of fc1's output becomes NaN
	y1, err := fused.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	y2, err := plain.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range y1.Data {
		if math.Float32bits(y1.Data[i]) != math.Float32bits(y2.Data[i]) {
			t.Fatalf("logit %d: fused %v, layer by layer %v", i, y1.Data[i], y2.Data[i])
		}
	}
	if math.IsNaN(float64(y2.Data[0])) {
		t.Fatalf("the ReLU layer kept the NaN: %v", y2.Data[:10])
	}
}

package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// perturb moves every parameter of l to ±[0.1, 1]·scale, away from the
// initialisation (γ = 1, β = 0, weights of std 0.02) where a layer is
// nearly linear and a gradient check would exercise little of it.
func perturb(rng *rand.Rand, l Layer, scale float32) {
	for _, p := range l.Params() {
		for i := range p.Data {
			v := (0.1 + 0.9*rng.Float32()) * scale
			if rng.IntN(2) == 0 {
				v = -v
			}
			p.Data[i] = v
		}
	}
}

func TestLayerNormGradients(t *testing.T) {
	for _, shape := range [][]int{{3, 5}, {2, 3, 4}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			rng := testRNG(20)
			l, err := NewLayerNorm("ln", shape[len(shape)-1], 0)
			if err != nil {
				t.Fatal(err)
			}
			perturb(rng, l, 1)
			checkGradients(t, gradCase{layer: l, x: randTensor(rng, false, shape...), train: true})
		})
	}
}

func TestLayerNormValues(t *testing.T) {
	l, _ := NewLayerNorm("ln", 4, 0)
	copy(l.G.Data, []float32{1, 2, 1, 1})
	copy(l.B.Data, []float32{0, 0, 0, 1})
	x, _ := FromSlice([]float32{1, 2, 3, 4, 5, 5, 5, 5}, 2, 4)
	y := l.Forward(x, false)
	// Row 1: mean 2.5, variance 1.25.
	s := 1 / math.Sqrt(1.25+1e-6)
	want := []float64{-1.5 * s, 2 * -0.5 * s, 0.5 * s, 1.5*s + 1, 0, 0, 0, 1}
	for i, w := range want {
		if math.Abs(float64(y.Data[i])-w) > 1e-6 {
			t.Errorf("y[%d] = %v, want %v", i, y.Data[i], w)
		}
	}
	if l.eps != 1e-6 {
		t.Errorf("default eps %g, want timm's 1e-6", l.eps)
	}
}

func TestGELUValuesAndGradients(t *testing.T) {
	// Reference values of x·Φ(x) (torch.nn.functional.gelu, exact).
	x, _ := FromSlice([]float32{-3, -0.5, 0, 1, 2.5}, 1, 5)
	want := []float64{-0.0040496973, -0.15426877, 0, 0.84134475, 2.4844758}
	y := NewGELU("gelu").Forward(x, false)
	for i, w := range want {
		if math.Abs(float64(y.Data[i])-w) > 1e-6 {
			t.Errorf("gelu(%v) = %v, want %v", x.Data[i], y.Data[i], w)
		}
	}
	rng := testRNG(21)
	checkGradients(t, gradCase{layer: NewGELU("gelu"), x: randTensor(rng, false, 3, 7)})
}

func TestSoftmaxRowsStable(t *testing.T) {
	s := []float32{1000, 1001, 999, -1e30, 0, 0}
	softmaxRows(s, 2, 3)
	e := math.Exp(1)
	sum := 1 + e + 1/e
	want := []float64{1 / sum, e / sum, 1 / e / sum, 0, 0.5, 0.5}
	for i, w := range want {
		if math.IsNaN(float64(s[i])) || math.Abs(float64(s[i])-w) > 1e-6 {
			t.Errorf("softmax[%d] = %v, want %v", i, s[i], w)
		}
	}
}

// refAttention is multi-head attention written out in float64 straight from
// timm's definition, qkv reshaped as (B, T, 3, H, D/H).
func refAttention(x *Tensor, a *Attention) []float64 {
	N, T, D, H := x.Shape[0], x.Shape[1], a.d, a.heads
	hd := D / H
	W, B := a.qkv.(*Dense).W.Data, a.qkv.(*Dense).B.Data
	qkv := make([]float64, N*T*3*D)
	for r := 0; r < N*T; r++ {
		for o := 0; o < 3*D; o++ {
			s := float64(B[o])
			for i := 0; i < D; i++ {
				s += float64(x.Data[r*D+i]) * float64(W[o*D+i])
			}
			qkv[r*3*D+o] = s
		}
	}
	at := func(n, t, which, h, j int) float64 { return qkv[(n*T+t)*3*D+which*D+h*hd+j] }
	o := make([]float64, N*T*D)
	for n := 0; n < N; n++ {
		for h := 0; h < H; h++ {
			for i := 0; i < T; i++ {
				sc := make([]float64, T)
				mx := math.Inf(-1)
				for j := 0; j < T; j++ {
					for c := 0; c < hd; c++ {
						sc[j] += at(n, i, 0, h, c) * at(n, j, 1, h, c)
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var z float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for c := 0; c < hd; c++ {
					var v float64
					for j := 0; j < T; j++ {
						v += sc[j] / z * at(n, j, 2, h, c)
					}
					o[(n*T+i)*D+h*hd+c] = v
				}
			}
		}
	}
	out := make([]float64, N*T*D)
	P, PB := a.proj.(*Dense).W.Data, a.proj.(*Dense).B.Data
	for r := 0; r < N*T; r++ {
		for k := 0; k < D; k++ {
			s := float64(PB[k])
			for i := 0; i < D; i++ {
				s += o[r*D+i] * float64(P[k*D+i])
			}
			out[r*D+k] = s
		}
	}
	return out
}

func TestAttentionMatchesDefinition(t *testing.T) {
	rng := testRNG(22)
	a, err := NewAttention("attn", 12, 3, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(rng, a, 0.5)
	x := randTensor(rng, false, 3, 5, 12)
	y := a.Forward(x, false)
	if !slices.Equal(y.Shape, []int{3, 5, 12}) {
		t.Fatalf("output shape %v", y.Shape)
	}
	for i, w := range refAttention(x, a) {
		if math.Abs(float64(y.Data[i])-w) > 1e-4*(1+math.Abs(w)) {
			t.Fatalf("y[%d] = %v, want %v", i, y.Data[i], w)
		}
	}
	if _, err := NewAttention("attn", 10, 3, rng); err == nil {
		t.Error("width 10 with 3 heads accepted")
	}
}

func TestAttentionGradients(t *testing.T) {
	rng := testRNG(23)
	a, err := NewAttention("attn", 6, 2, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(rng, a, 0.5)
	checkGradients(t, gradCase{layer: a, x: randTensor(rng, false, 2, 4, 6), train: true})
}

// TestPatchEmbedMatchesConvolution checks the patch layout against the
// stride-P convolution it stands for: token (ph, pw) of image n is the
// convolution's output pixel (ph, pw).
func TestPatchEmbedMatchesConvolution(t *testing.T) {
	rng := testRNG(24)
	e, err := NewPatchEmbed("patch_embed", 2, 5, 3, rng)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewConv2D("conv", 2, 5, 3, 3, 0, rng)
	copy(c.W.Data, e.W.Data)
	copy(c.B.Data, e.B.Data)
	for _, layout := range []Layout{NCHW, CNHW} {
		x := withLayout(randTensor(rng, false, 2, 2, 6, 9), layout)
		y := e.Forward(x, false)
		if !slices.Equal(y.Shape, []int{2, 6, 5}) {
			t.Fatalf("shape %v", y.Shape)
		}
		ref := c.Forward(x, false)
		for n := 0; n < 2; n++ {
			for d := 0; d < 5; d++ {
				for ph := 0; ph < 2; ph++ {
					for pw := 0; pw < 3; pw++ {
						got, want := y.At(n, ph*3+pw, d), ref.At(n, d, ph, pw)
						if math.Abs(float64(got-want)) > 1e-5 {
							t.Errorf("%v: image %d feature %d patch (%d,%d): %v, conv %v", layout, n, d, ph, pw, got, want)
						}
					}
				}
			}
		}
	}
	if _, err := e.OutShape([]int{2, 7, 9}); err == nil || !strings.Contains(err.Error(), "does not divide") {
		t.Errorf("7x9 image with 3x3 patches: err = %v", err)
	}
}

func TestPatchEmbedGradients(t *testing.T) {
	for _, layout := range []Layout{NCHW, CNHW} {
		rng := testRNG(25)
		e, err := NewPatchEmbed("pe", 2, 3, 2, rng)
		if err != nil {
			t.Fatal(err)
		}
		x := withLayout(randTensor(rng, false, 2, 2, 4, 6), layout)
		checkGradients(t, gradCase{layer: e, x: x, train: true})
	}
}

func TestTokenEmbedGradients(t *testing.T) {
	rng := testRNG(26)
	te, err := NewTokenEmbed("tokens", 3, 5, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(rng, te, 1)
	x := randTensor(rng, false, 2, 4, 3)
	y := te.Forward(x, false)
	if got, want := y.At(1, 0, 2), te.Cls.Data[2]+te.Pos.Data[2]; got != want {
		t.Errorf("class token position: %v, want cls+pos %v", got, want)
	}
	if got, want := y.At(1, 3, 1), x.At(1, 2, 1)+te.Pos.Data[3*3+1]; got != want {
		t.Errorf("patch token 2: %v, want %v", got, want)
	}
	checkGradients(t, gradCase{layer: te, x: x, train: true})
}

func TestClassPoolGradients(t *testing.T) {
	rng := testRNG(27)
	checkGradients(t, gradCase{layer: NewClassPool("pool"), x: randTensor(rng, false, 3, 4, 2)})
}

func newTestBlock(t *testing.T, rng *rand.Rand, dropPath float64) *Block {
	t.Helper()
	b, err := NewBlock("blocks.0", 6, 2, 10, 0, dropPath, rng, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	perturb(rng, b, 0.5)
	for _, ln := range []*LayerNorm{b.norm1, b.norm2} {
		for i := range ln.G.Data {
			ln.G.Data[i] = 0.5 + rng.Float32()
		}
	}
	return b
}

func TestBlockGradients(t *testing.T) {
	rng := testRNG(28)
	b := newTestBlock(t, rng, 0)
	checkGradients(t, gradCase{layer: b, x: randTensor(rng, false, 2, 3, 6), train: true})
}

func TestBlockDropPath(t *testing.T) {
	rng := testRNG(29)
	b := newTestBlock(t, rng, 0.5)
	state, err := b.RNGState()
	if err != nil {
		t.Fatal(err)
	}
	replay := func() {
		if err := b.SetRNGState(state); err != nil {
			t.Fatal(err)
		}
	}
	x := randTensor(rng, false, 8, 3, 6)
	checkGradients(t, gradCase{layer: b, x: x, train: true, before: replay})
	// With 16 branches drawn at p = 0.5 some are dropped and some kept, and
	// a dropped branch leaves its residual untouched.
	replay()
	b.Forward(x, true)
	kept, dropped := 0, 0
	for _, s := range b.scale {
		switch s {
		case 0:
			dropped++
		case 2:
			kept++
		default:
			t.Fatalf("branch factor %v, want 0 or 1/(1-p) = 2", s)
		}
	}
	if kept == 0 || dropped == 0 {
		t.Errorf("drop path kept %d and dropped %d of %d branches", kept, dropped, len(b.scale))
	}
	for n := 0; n < 8; n++ {
		if b.scale[n] == 0 && b.scale[8+n] == 0 && !slices.Equal(b.y.Data[n*18:(n+1)*18], x.Data[n*18:(n+1)*18]) {
			t.Errorf("sample %d: both branches dropped but the output differs from the input", n)
		}
	}
	// Evaluation never drops.
	y := b.Forward(x, false).Clone()
	plain := newTestBlock(t, testRNG(29), 0)
	if !slices.Equal(y.Data, plain.Forward(x, false).Data) {
		t.Error("drop path changes evaluation outputs")
	}
}

func tinyViT(t testing.TB, seed uint64, dropPath float64) *Sequential {
	t.Helper()
	m, err := ViT([]int{1, 4, 6}, 3, ViTConfig{Patch: 2, Dim: 4, Depth: 2, Heads: 2, MLPRatio: 1.5, DropPath: dropPath}, WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestViTModelGradients checks a whole tiny ViT through the loss, as
// TestModelGradients does the CNN.
func TestViTModelGradients(t *testing.T) {
	rng := testRNG(30)
	m := tinyViT(t, 3, 0)
	for _, l := range m.Layers() {
		perturb(rng, l, 0.5)
	}
	x := randTensor(rng, false, 3, 1, 4, 6)
	labels := []int{0, 2, 1}
	var ce SoftmaxCrossEntropy
	loss := func() float64 {
		l, _, err := ce.Forward(mustForward(t, m, x), labels)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	_, g, _ := ce.Forward(mustForward(t, m, x), labels)
	if err := m.Backward(g); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		grad := slices.Clone(p.Grad)
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

// TestViTStateMatchesTimm pins the state-dict keys and shapes to those of
// timm's VisionTransformer(img_size=(4, 6), patch_size=2, in_chans=1,
// num_classes=3, embed_dim=4, depth=2, num_heads=2, mlp_ratio=1.5).
func TestViTStateMatchesTimm(t *testing.T) {
	want := []string{
		"patch_embed.proj.weight [4 1 2 2]", "patch_embed.proj.bias [4]",
		"cls_token [1 1 4]", "pos_embed [1 7 4]",
	}
	for i := 0; i < 2; i++ {
		for _, s := range []string{"norm1.weight [4]", "norm1.bias [4]",
			"attn.qkv.weight [12 4]", "attn.qkv.bias [12]", "attn.proj.weight [4 4]", "attn.proj.bias [4]",
			"norm2.weight [4]", "norm2.bias [4]",
			"mlp.fc1.weight [6 4]", "mlp.fc1.bias [6]", "mlp.fc2.weight [4 6]", "mlp.fc2.bias [4]"} {
			want = append(want, fmt.Sprintf("blocks.%d.%s", i, s))
		}
	}
	want = append(want, "norm.weight [4]", "norm.bias [4]", "head.weight [3 4]", "head.bias [3]")
	var got []string
	for _, n := range tinyViT(t, 1, 0).State() {
		got = append(got, fmt.Sprintf("%s %v", n.Name, n.Shape))
	}
	if !slices.Equal(got, want) {
		t.Errorf("state\n got %q\nwant %q", got, want)
	}
}

func TestViTDefaultsAndErrors(t *testing.T) {
	m, err := ViT([]int{1, 28, 28}, 10, ViTConfig{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range m.Params() {
		n += len(p.Data)
	}
	// timm's VisionTransformer(img_size=28, patch_size=14, in_chans=1,
	// num_classes=10, embed_dim=64, depth=6, num_heads=4, mlp_ratio=2).
	if n != 214602 {
		t.Errorf("default ViT has %d parameters, want 214602", n)
	}
	c, ok := ViTConfigOf(m.Spec())
	if !ok || c != DefaultViT {
		t.Errorf("ViTConfigOf = %+v, %v; want %+v", c, ok, DefaultViT)
	}
	s, _ := ViTSpec([]int{1, 28, 28}, 10, ViTConfig{Depth: 5, DropPath: 0.1})
	c, _ = ViTConfigOf(s)
	if c.DropPath != 0.1 || s.Layers[2].DropPath != 0 || s.Layers[4].DropPath != 0.05 {
		t.Errorf("drop path rates %v … %v (recovered %v), want 0 … 0.1 linearly", s.Layers[2].DropPath, s.Layers[6].DropPath, c.DropPath)
	}
	if _, ok := ViTConfigOf(smallCNN(t, 1).Spec()); ok {
		t.Error("a CNN spec taken for a ViT")
	}
	for _, tc := range []struct {
		c    ViTConfig
		want string
	}{
		{ViTConfig{Patch: 5}, "does not divide"},
		{ViTConfig{Dim: 30, Heads: 4}, "multiple of the 4 heads"},
		{ViTConfig{Depth: -1}, "depth"},
		{ViTConfig{MLPRatio: 0.001}, "MLP ratio"},
		{ViTConfig{DropPath: 1}, "drop-path"},
	} {
		if _, err := ViT([]int{1, 28, 28}, 10, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want mention of %q", tc.c, err, tc.want)
		}
	}
}

func TestLayerNames(t *testing.T) {
	for name, ok := range map[string]bool{"fc1": true, "blocks.0": true, "": false, ".x": false, "x.": false, "a..b": false} {
		_, err := NewSequential("m", []int{2}, 0, NewReLU(name))
		if (err == nil) != ok {
			t.Errorf("layer name %q: err = %v", name, err)
		}
	}
}

// TestViTPlanAndDeterminism: the plan normalises only the class token (pool
// before norm) with bit-identical results, a spec round trip rebuilds the
// same model, and gradients do not depend on the number of workers.
func TestViTPlanAndDeterminism(t *testing.T) {
	x, labels := batch(31, 5, 1, 4, 6)
	for i := range labels {
		labels[i] %= 3
	}
	run := func(m *Sequential, procs int) (float64, [][]float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		var ce SoftmaxCrossEntropy
		l := trainStep(t, m, &ce, x, labels)
		var g [][]float32
		for _, p := range m.Params() {
			g = append(g, slices.Clone(p.Grad))
		}
		return l, g
	}
	fused := tinyViT(t, 5, 0.2)
	if got := planNames(fused); !slices.Equal(got[len(got)-3:], []string{"pool", "norm", "head"}) {
		t.Errorf("plan ends %v, want pool before norm", got[len(got)-3:])
	}
	plain := tinyViT(t, 5, 0.2)
	plain.noFuse = true
	plain.makePlan()
	rebuilt, err := Build(fused.Spec())
	if err != nil {
		t.Fatal(err)
	}
	l1, g1 := run(fused, 1)
	for name, m := range map[string]*Sequential{"layer order": plain, "rebuilt, 4 workers": rebuilt} {
		l2, g2 := run(m, 4)
		if l1 != l2 {
			t.Errorf("%s: loss %v vs %v", name, l2, l1)
		}
		for i := range g1 {
			if !slices.Equal(g1[i], g2[i]) {
				t.Errorf("%s: %s: gradients differ", name, fused.Params()[i].Name)
			}
		}
	}
}

func TestViTTrainStepDoesNotAllocate(t *testing.T) {
	useNaiveProducts(t)
	m := tinyViT(t, 6, 0.1)
	x, labels := batch(6, 4, 1, 4, 6)
	for i := range labels {
		labels[i] %= 3
	}
	var ce SoftmaxCrossEntropy
	trainStep(t, m, &ce, x, labels)
	if allocs := testing.AllocsPerRun(5, func() { trainStep(t, m, &ce, x, labels) }); allocs != 0 {
		t.Errorf("a ViT training step allocates %v times", allocs)
	}
}

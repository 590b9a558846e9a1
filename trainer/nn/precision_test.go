package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// checkBF16Step runs one training step of m on x in fp32, in bf16 and in
// fp32 again: in bf16 at least minCalls products go through the bf16 GEMM
// (named by what in the failure), the loss and gradients stay within bf16's
// rounding of fp32's, and switching back restores fp32's bits.
func checkBF16Step(t *testing.T, m *Sequential, x *Tensor, labels []int, minCalls int64, what string) {
	t.Helper()
	step := func() (float64, []float32) {
		for _, p := range m.Params() {
			clear(p.Grad)
		}
		logits, err := m.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		var ce SoftmaxCrossEntropy
		loss, dl, err := ce.Forward(logits, labels)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(dl); err != nil {
			t.Fatal(err)
		}
		var g []float32
		for _, p := range m.Params() {
			g = append(g, p.Grad...)
		}
		return loss, g
	}
	loss32, g32 := step()

	var calls atomic.Int64 // the hooks run on the pool's goroutines
	defer func(p, s gemmFunc, b biasGemmFunc) { gemmBF16, gemmBF16Serial, gemmBF16Bias = p, s, b }(gemmBF16, gemmBF16Serial, gemmBF16Bias)
	gemmBF16Bias = biasVia(func() gemmFunc { return gemmBF16 }) // the forward products count too
	gemmBF16 = func(ta, tb bool, mm, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
		calls.Add(1)
		kernels.SgemmBF16(ta, tb, mm, n, k, al, a, lda, b, ldb, be, c, ldc)
	}
	gemmBF16Serial = func(ta, tb bool, mm, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
		calls.Add(1)
		kernels.SgemmBF16Serial(ta, tb, mm, n, k, al, a, lda, b, ldb, be, c, ldc)
	}
	if err := m.SetPrecision(BF16); err != nil {
		t.Fatal(err)
	}
	loss16, g16 := step()
	if calls.Load() < minCalls {
		t.Fatalf("%d bf16 products in a step, want every %s product (≥ %d)", calls.Load(), what, minCalls)
	}
	if loss16 == loss32 || math.Abs(loss16-loss32) > 0.02*loss32 {
		t.Fatalf("bf16 loss %v vs fp32 %v: want close but not equal", loss16, loss32)
	}
	var num, den float64
	for i := range g32 {
		d := float64(g16[i] - g32[i])
		num += d * d
		den += float64(g32[i]) * float64(g32[i])
	}
	if rel := math.Sqrt(num / den); rel == 0 || rel > 0.05 {
		t.Fatalf("bf16 gradient relative to fp32: %g, want (0, 0.05]", rel)
	}

	calls.Store(0)
	if err := m.SetPrecision(FP32); err != nil {
		t.Fatal(err)
	}
	loss, g := step()
	if calls.Load() != 0 || loss != loss32 {
		t.Fatalf("back to fp32: %d bf16 products, loss %v want %v", calls.Load(), loss, loss32)
	}
	for i := range g {
		if math.Float32bits(g[i]) != math.Float32bits(g32[i]) {
			t.Fatalf("back to fp32: gradient %d = %g, want %g", i, g[i], g32[i])
		}
	}
}

// randImages returns n c×h×w images of standard normal pixels.
func randImages(seed uint64, n, c, h, w int) *Tensor {
	r := rand.New(rand.NewPCG(seed, seed+1))
	x := NewTensor(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

// With BF16 every product of the CNN's dense and conv layers, forward and
// both backward, goes through the bf16 GEMM.
func TestSetPrecisionBF16(t *testing.T) {
	m, err := CNN([]int{1, 12, 12}, 3, WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	// 2 conv + 2 dense layers, 3 products each, but conv1's input gradient
	// is not needed; the conv products run once per group of images.
	checkBF16Step(t, m, randImages(1, 8, 1, 12, 12), []int{0, 1, 2, 0, 1, 2, 0, 1}, 11, "dense and conv")
}

func TestSetPrecisionRefuses(t *testing.T) {
	vit, err := ViT([]int{1, 8, 8}, 3, ViTConfig{Patch: 4, Dim: 8, Depth: 1, Heads: 2, MLPRatio: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := vit.AddLoRA([]string{"attn.qkv"}, 2, 4, 1); err != nil {
		t.Fatal(err)
	}
	if err := vit.SetPrecision(BF16); err == nil || !strings.Contains(err.Error(), "no bf16 products") || !strings.Contains(err.Error(), "blocks.0") {
		t.Fatalf("ViT with LoRA adapters in bf16: %v", err)
	}
	if err := vit.SetPrecision(FP32); err != nil {
		t.Fatalf("ViT with fp32: %v", err)
	}
	m, _ := MLP(4, []int{3}, 2)
	if err := m.SetPrecision("fp16"); err == nil || !strings.Contains(err.Error(), "want fp32, bf16 or int8") {
		t.Fatalf("fp16: %v", err)
	}
	var p Precision
	if err := p.Set("bf16"); err != nil || p != BF16 {
		t.Fatalf("Set(bf16): %v %q", err, p)
	}
	if err := p.Set("BF16"); err == nil {
		t.Fatal("Set(BF16) accepted")
	}
}

// A ViT in bf16 runs the patch embedding's, the blocks' dense and the head's
// products in bf16.
func TestSetPrecisionBF16ViT(t *testing.T) {
	m, err := ViT([]int{1, 8, 8}, 3, ViTConfig{Patch: 4, Dim: 16, Depth: 2, Heads: 2, MLPRatio: 2}, WithSeed(4))
	if err != nil {
		t.Fatal(err)
	}
	// Patch embedding: forward and weight gradient (no input gradient for
	// the first layer); 2 blocks × 4 dense layers × 3 products; the head's 3.
	checkBF16Step(t, m, randImages(3, 6, 1, 8, 8), []int{0, 1, 2, 0, 1, 2}, 2+2*4*3+3, "dense and patch")
}

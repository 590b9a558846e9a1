package nn

import (
	"fmt"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// Precision is the arithmetic of a model's matrix products.
//
//   - FP32: float32 operands and accumulation (kernels.Sgemm).
//
//   - BF16: mixed precision. The products of the dense, convolution and
//     patch-embedding layers, the ViT blocks' dense layers included (forward,
//     input gradient and weight gradient), round their operands to
//     bfloat16 and accumulate in float32 (kernels.SgemmBF16: AMX tiles on
//     AMX-BF16, VDPBF16PS on AVX512_BF16). Weights, gradients, optimizer
//     state, biases, activations and every element-wise pass stay float32:
//     the "master weights" are the float32 parameters themselves, rounded
//     afresh at every product.
//
//   - INT8: evaluation only. The first layer of a model that begins with a
//     dense layer (the MLP) reads raw uint8 pixels through int8 weights
//     with exact int32 sums (ForwardU8; see "int8 inference on raw pixels"
//     in int8.go); the other products run as BF16 where the CPU has native
//     bf16 products, else as FP32.
//
// Both are deterministic per kernel set in the same way (package kernels);
// the bf16 products give the same bits with every kernel set but the AMX
// one, which has its own (bitwise reproducible on the same CPU).
type Precision string

const (
	FP32 Precision = "fp32"
	BF16 Precision = "bf16"
	INT8 Precision = "int8"
)

// String returns the name, "fp32" for the zero value.
func (p Precision) String() string {
	if p == "" {
		return string(FP32)
	}
	return string(p)
}

// Set parses a precision name (flag.Value).
func (p *Precision) Set(s string) error {
	switch Precision(s) {
	case FP32, BF16, INT8:
		*p = Precision(s)
		return nil
	}
	return fmt.Errorf("want fp32, bf16 or int8, got %q", s)
}

// bf16Layer is a layer whose matrix products can run in bf16.
type bf16Layer interface{ setBF16(on bool) }

func (d *Dense) setBF16(on bool)      { d.bf16 = on }
func (c *Conv2D) setBF16(on bool)     { c.bf16 = on }
func (e *PatchEmbed) setBF16(on bool) { e.bf16 = on }

// productLayers are the block's four layers with matrix products: qkv,
// proj, fc1 and fc2, each a *Dense or, once adapted, a *LoRA.
func (b *Block) productLayers() []Layer { return []Layer{b.attn.qkv, b.attn.proj, b.fc1, b.fc2} }

// setBF16 switches the block's four dense products (productLayers); the
// attention heads' score and value products stay float32 (they are
// T×T×head-width, a few hundred multiply-adds per row, in fused kernels).
func (b *Block) setBF16(on bool) {
	for _, l := range b.productLayers() {
		switch l := l.(type) {
		case *Dense:
			l.setBF16(on)
		case *LoRA:
			l.Base().setBF16(false) // never on: bf16Refusal refuses adapters
		}
	}
}

// bf16Refusal says why a block cannot run in bf16: LoRA adapters, whose
// low-rank products have no bf16 path.
func (b *Block) bf16Refusal() error {
	for _, l := range b.productLayers() {
		if _, ok := l.(*Dense); !ok {
			return fmt.Errorf("layer %s has %T adapters, which have no bf16 products", b.name, l)
		}
	}
	return nil
}

// SetPrecision switches the matrix products of m's layers to p. BF16 is
// implemented for the dense, convolution and patch-embedding layers, the
// ViT blocks' dense products, and the layers without products around them
// (activations, pooling, dropout, flatten, batch and layer normalization,
// token embedding, class pooling); a model with other layers (LoRA
// adapters) is refused for bf16 rather than run partly in it.
//
// INT8 needs a model whose first layer is dense; the others are then set as
// for BF16 if kernels.HasBF16, else left in FP32. It is an evaluation
// precision: Forward with train true still runs, in bf16 or fp32, but
// training code should refuse it (trainer does).
func (m *Sequential) SetPrecision(p Precision) error {
	switch p {
	case "", FP32, BF16:
	case INT8:
		if err := m.int8Refusal(); err != nil {
			return fmt.Errorf("nn: %s: int8 precision: %w", m.name, err)
		}
	default:
		return fmt.Errorf("nn: precision %q: want fp32, bf16 or int8", string(p))
	}
	on := p == BF16 || (p == INT8 && kernels.HasBF16())
	if on {
		for _, l := range m.layers {
			switch l := l.(type) {
			case *Block:
				if err := l.bf16Refusal(); err != nil {
					return fmt.Errorf("nn: %s: bf16 precision: %w", m.name, err)
				}
			case bf16Layer, *ReLU, *MaxPool2D, *Dropout, *Flatten, *BatchNorm, *LayerNorm, *TokenEmbed, *ClassPool, *GELU:
			default:
				return fmt.Errorf("nn: %s: bf16 precision covers dense, conv2d and ViT layers; layer %s (%T) has no bf16 products", m.name, l.Name(), l)
			}
		}
	}
	for _, l := range m.layers {
		if b, ok := l.(bf16Layer); ok {
			b.setBF16(on)
		}
	}
	m.precision = p
	return nil
}

// PackForInference packs the weights of the model's bf16 dense layers (the
// MLP's, the ViT's blocks and head) once, with kernels.PackBF16, for a run
// of evaluation passes (Forward with train false) that then skip rounding
// and packing them on every batch; the outputs are bitwise the same.
// Layers in fp32, and those QuantizeInput has quantized for an int8 pass,
// are left alone. The weights must not change until the
// returned function, which drops the packed copies, has been called.
func (m *Sequential) PackForInference() (unpack func()) {
	var packed []*Dense
	for _, l := range m.layers {
		for _, d := range denseLayers(l) {
			if d.bf16 && d.q == nil && d.qAct == nil { // not one an int8 pass runs in int8
				d.packedW = kernels.PackBF16(true, d.out, d.in, d.W.Data, d.in)
				packed = append(packed, d)
			}
		}
	}
	return func() {
		for _, d := range packed {
			d.packedW = nil
		}
	}
}

// denseLayers returns the plain dense layers of l: l itself, or a ViT
// block's four.
func denseLayers(l Layer) []*Dense {
	switch l := l.(type) {
	case *Dense:
		return []*Dense{l}
	case *Block:
		var ds []*Dense
		for _, x := range l.productLayers() {
			if d, ok := x.(*Dense); ok {
				ds = append(ds, d)
			}
		}
		return ds
	}
	return nil
}

// gemmBF16 and gemmBF16Serial are the mixed-precision products; variables
// like gemm so that tests can count or replace them.
var (
	gemmBF16       = kernels.SgemmBF16
	gemmBF16Serial = kernels.SgemmBF16Serial
)

type gemmFunc = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// biasGemmFunc is kernels.SgemmBias's signature: C = op(A)·op(B) + bias.
type biasGemmFunc = func(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int)

// gemmBias and gemmBF16Bias are the dense layers' forward products, which
// add the bias themselves; variables like gemm so that tests can count or
// replace them.
var (
	gemmBias     biasGemmFunc = kernels.SgemmBias
	gemmBF16Bias biasGemmFunc = kernels.SgemmBF16Bias
)

// biasProduct returns the forward product with a bias for a layer's
// precision.
func biasProduct(bf16 bool) biasGemmFunc {
	if bf16 {
		return gemmBF16Bias
	}
	return gemmBias
}

// products returns the parallel and serial products for a layer's precision.
func products(bf16 bool) (par, serial gemmFunc) {
	if bf16 {
		return gemmBF16, gemmBF16Serial
	}
	return gemm, gemmSerial
}

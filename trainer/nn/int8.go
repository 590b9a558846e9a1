package nn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// # int8 inference on raw pixels
//
// With precision INT8, an evaluation precision, a model that begins with a
// dense layer (the MLP) reads a batch's stored bytes itself: ForwardU8 takes
// uint8 pixels, HWC as a uint8 version stores them, instead of normalized
// float32 CHW values. Its first layer is three quarters of the MLP's
// multiply-adds; on raw bytes it needs neither the loader's table lookup
// (four bytes written per byte read) nor a conversion of its input.
//
// The normalization (x/255 − mean[c])/std[c] is affine in the byte x, so it
// folds into the layer: for output o, pixel value i of channel c (at p =
// i·C + c in the HWC image, at f = c·HW + i in the CHW vector the model was
// trained on),
//
//	W'[o][p] = W[o][f] · 1/(255·std[c])
//	b'[o]    = b[o] − Σ_f W[o][f]·mean[c]/std[c]
//
// computed in float64. W' is quantized to int8 with one scale per output
// (kernels.QuantizeS8) and multiplied by the bytes exactly, in int32
// (VPDPBUSD on AVX512_VNNI). So the only rounding of the layer is the
// weights' (at most half a step, max|W'[o]|/254, per weight) and the float32
// epilogue; the bytes themselves are exact.
//
// A later dense layer that reads a ReLU's output (the MLP's fc2 and fc3)
// runs in int8 too, quantized dynamically: each row of its input, which is
// never negative, becomes bytes with a scale of its own (max/255,
// kernels.QuantizeRowsU8), and its weights int8 as above, without a fold
// (kernels.GemmU8S8Rows). That adds a rounding of the activations, half a
// step of their row's maximum/255 — PyTorch's quantize_dynamic rounds them
// too, to one scale per batch. Any other layer runs as with BF16 where the
// CPU has native bf16 products (kernels.HasBF16), else in FP32: int8 asks
// for the fastest inference, and bf16 on the pure-Go kernels is far slower
// than fp32.
//
// The integer sums make each int8 product bitwise the same for every kernel
// set and thread count.

// errNoInt8Input is returned by ForwardU8 before QuantizeInput.
var errNoInt8Input = errors.New("nn: ForwardU8 before QuantizeInput")

// int8Refusal says why m cannot run in INT8, nil if it can: its first
// layer must be a plain dense layer reading the flat image.
func (m *Sequential) int8Refusal() error {
	if len(m.layers) == 0 {
		return fmt.Errorf("model %s has no layers", m.name)
	}
	d, ok := m.layers[0].(*Dense)
	if !ok {
		return fmt.Errorf("int8 covers models whose first layer is dense (the MLP); %s begins with %s (%T)", m.name, m.layers[0].Name(), m.layers[0])
	}
	if d.in > kernels.MaxS8Depth {
		return fmt.Errorf("layer %s has %d inputs; int8 sums overflow beyond %d", d.name, d.in, kernels.MaxS8Depth)
	}
	return nil
}

// Precision returns the precision SetPrecision last set (FP32 before).
func (m *Sequential) Precision() Precision {
	if m.precision == "" {
		return FP32
	}
	return m.precision
}

// QuantizeInput quantizes the model for an int8 pass (ForwardU8): its
// first layer, a dense one, for images whose bytes normalize as
// (x/255 − mean[c])/std[c] per channel c — the dataset's normalization,
// folded into the layer's weights and bias — and every later dense layer
// that reads a ReLU's output, for activations quantized per row (see "int8
// inference on raw pixels"). The float32 parameters are left as they are,
// so Forward with train true is unchanged; the quantized copies do not
// follow them if they change, and drop discards them.
func (m *Sequential) QuantizeInput(mean, std []float64) (drop func(), err error) {
	if m.Precision() != INT8 {
		return nil, fmt.Errorf("nn: %s: QuantizeInput needs precision int8, not %s", m.name, m.Precision())
	}
	d := m.layers[0].(*Dense) // SetPrecision(INT8) checked
	c := len(mean)
	if c == 0 || len(std) != c {
		return nil, fmt.Errorf("nn: %s: int8 input: %d means and %d standard deviations, want one of each per channel", m.name, len(mean), len(std))
	}
	if d.in%c != 0 {
		return nil, fmt.Errorf("nn: %s: int8 input: layer %s has %d inputs, not a whole number of %d-channel pixels", m.name, d.name, d.in, c)
	}
	scale, shift := make([]float64, c), make([]float64, c)
	for k := range c {
		if !(std[k] > 0) || math.IsInf(std[k], 0) || math.IsNaN(mean[k]) || math.IsInf(mean[k], 0) {
			return nil, fmt.Errorf("nn: %s: int8 input: channel %d has mean %v and std %v; want finite values and std > 0", m.name, k, mean[k], std[k])
		}
		scale[k], shift[k] = 1/(255*std[k]), mean[k]/std[k]
	}
	var quantized []*Dense
	for i, l := range m.plan {
		if l, ok := l.(*Dense); ok && (i == 0 || readsReLU(m.plan[i-1])) {
			if err := finite(l); err != nil {
				return nil, fmt.Errorf("nn: %s: int8: %w", m.name, err)
			}
			quantized = append(quantized, l)
		}
	}
	in, hw := d.in, d.in/c
	w := make([]float32, d.out*in)
	bias := make([]float32, d.out)
	kernels.ParallelForWork(d.out, 1, float64(in)*foldNsPerWeight, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := d.W.Data[o*in : (o+1)*in]
			b := float64(d.B.Data[o])
			for k := range c {
				for i := range hw {
					v := float64(row[k*hw+i])
					w[o*in+i*c+k] = float32(v * scale[k])
					b -= v * shift[k]
				}
			}
			bias[o] = float32(b)
		}
	})
	d.q = kernels.QuantizeS8(d.out, in, w, in, bias)
	for _, l := range quantized[1:] {
		l.qAct = kernels.QuantizeS8(l.out, l.in, l.W.Data, l.in, l.B.Data)
	}
	return func() {
		for _, l := range quantized {
			l.q, l.qAct = nil, nil
		}
	}, nil
}

// foldNsPerWeight is about what folding the normalization into one weight
// costs on one core, for the pool's split.
const foldNsPerWeight = 3

// readsReLU reports whether the output of l, the layer before a dense one,
// is a ReLU's: never negative, so bytes with a scale hold it.
func readsReLU(l Layer) bool {
	switch l := l.(type) {
	case *Dense:
		return l.relu
	case *ReLU:
		return true
	}
	return false
}

// finite refuses a dense layer with a NaN or infinite weight or bias,
// which int8 weights cannot hold.
func finite(d *Dense) error {
	for i, v := range d.W.Data {
		if v-v != 0 {
			return fmt.Errorf("layer %s has a non-finite weight at output %d, input %d", d.name, i/d.in, i%d.in)
		}
	}
	for o, v := range d.B.Data {
		if v-v != 0 {
			return fmt.Errorf("layer %s has a non-finite bias at output %d", d.name, o)
		}
	}
	return nil
}

// ForwardU8 runs an evaluation pass on n images of raw bytes, HWC as
// stored (n × the model's input size): the first layer through its int8
// product (QuantizeInput), the others as Forward with train false.
func (m *Sequential) ForwardU8(x []uint8, n int) (*Tensor, error) {
	if m.Precision() != INT8 {
		return nil, fmt.Errorf("nn: %s: ForwardU8 needs precision int8, not %s", m.name, m.Precision())
	}
	d, ok := m.plan[0].(*Dense)
	if !ok || d.q == nil {
		return nil, errNoInt8Input
	}
	if n <= 0 || len(x) != n*d.in {
		return nil, fmt.Errorf("nn: model %q: %d images of %d bytes want %d bytes, got %d", m.name, n, d.in, n*d.in, len(x))
	}
	y := d.forwardU8(x, n)
	for _, l := range m.plan[1:] {
		y = l.Forward(y, false)
	}
	m.outShape = append(m.outShape[:0], y.Shape...)
	return y, nil
}

// forwardU8 is Forward on raw bytes through the quantized weights. It
// keeps no input for Backward: an int8 pass is never trained.
func (d *Dense) forwardU8(x []uint8, n int) *Tensor {
	d.x = nil
	d.y.resize(n, d.out)
	kernels.GemmU8S8(n, x, d.in, d.q, d.y.Data, d.out)
	if d.relu {
		kernels.Relu(d.y.Data, d.y.Data)
	}
	return &d.y
}

// forwardInt8 is Forward in an int8 pass for a layer that reads a ReLU's
// output: its rows quantized to bytes, one scale each, then multiplied by
// the int8 weights.
func (d *Dense) forwardInt8(x *Tensor) *Tensor {
	n := x.Shape[0]
	d.x = nil
	d.xq = slices.Grow(d.xq[:0], n*d.in)[:n*d.in]
	d.xScale = slices.Grow(d.xScale[:0], n)[:n]
	kernels.QuantizeRowsU8(n, d.in, x.Data, d.in, d.xq, d.in, d.xScale)
	d.y.resize(n, d.out)
	kernels.GemmU8S8Rows(n, d.xq, d.in, d.xScale, d.qAct, d.y.Data, d.out)
	if d.relu {
		kernels.Relu(d.y.Data, d.y.Data)
	}
	return &d.y
}

package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// Dense is a fully connected layer y = x·Wᵀ + b with W stored [out, in]
// (PyTorch's Linear layout, so weights exchange with it unchanged).
type Dense struct {
	params  []*Param
	name    string
	in, out int
	W, B    *Param

	x     *Tensor
	y, dx Tensor
	dz    Tensor // dy masked by the fused ReLU
	relu  bool   // ReLU fused into the output (set by Sequential's plan)
	bf16  bool   // products in bf16 (SetPrecision)
	// packedW is W packed for bf16 evaluation passes (PackForInference).
	packedW *kernels.PackedBF16
	// q is W quantized to int8 for ForwardU8 (QuantizeInput), with the
	// input normalization folded in; qAct is W quantized for an input of
	// activations quantized per row (xq, xScale), in an int8 pass.
	q      *kernels.PackedS8
	qAct   *kernels.PackedS8
	xq     []uint8
	xScale []float32
}

// NewDense returns a Dense layer initialised like torch.nn.Linear from rng.
func NewDense(name string, in, out int, rng *rand.Rand) *Dense {
	d := &Dense{name: name, in: in, out: out,
		W: newParam(name+".weight", out, in),
		B: newParam(name+".bias", out),
	}
	d.params = []*Param{d.W, d.B}
	kaimingUniform(rng, d.W.Data, in)
	uniform(rng, d.B.Data, 1/math.Sqrt(float64(in)))
	return d
}

func (d *Dense) Name() string            { return d.name }
func (d *Dense) Params() []*Param        { return d.params }
func (d *Dense) Spec() LayerSpec         { return LayerSpec{Type: "dense", Name: d.name, In: d.in, Out: d.out} }
func (d *Dense) Features() (in, out int) { return d.in, d.out }

// NewHead makes a Dense layer a replaceable classifier head (see Head).
func (d *Dense) NewHead(out int, rng *rand.Rand) Layer { return NewDense(d.name, d.in, out, rng) }

// Fuse applies a following ReLU in the bias pass (see Fuser).
func (d *Dense) Fuse(next Layer) bool {
	_, d.relu = next.(*ReLU)
	return d.relu
}

func (d *Dense) OutShape(in []int) ([]int, error) {
	if len(in) != 1 || in[0] != d.in {
		return nil, fmt.Errorf("nn: %s: dense layer expects input [%d], got %v (add a flatten layer?)", d.name, d.in, in)
	}
	return []int{d.out}, nil
}

func (d *Dense) Forward(x *Tensor, train bool) *Tensor {
	if !train && d.qAct != nil {
		return d.forwardInt8(x)
	}
	n := x.Shape[0]
	d.x = x
	d.y.resize(n, d.out)
	y := d.y.Data
	// The products write the bias into each block of y on the goroutine
	// that computes it, rather than in a serial pass over y beforehand.
	if !train && d.bf16 && d.packedW != nil {
		kernels.SgemmBF16PackedBias(false, n, x.Data, d.in, d.packedW, d.B.Data, y, d.out)
	} else {
		biasProduct(d.bf16)(false, true, n, d.out, d.in, x.Data, d.in, d.W.Data, d.in, d.B.Data, y, d.out)
	}
	if d.relu {
		// The vector kernel, which maps NaN to 0 like the ReLU layer it
		// replaces (Go's max would keep the NaN).
		kernels.Relu(y, y)
	}
	return &d.y
}

func (d *Dense) Backward(dy *Tensor, needDX bool) *Tensor {
	n := dy.Shape[0]
	if d.relu {
		d.dz.resize(dy.Shape...)
		reluMask(d.dz.Data, dy.Data, d.y.Data)
		dy = &d.dz
	}
	mm, _ := products(d.bf16)
	if !d.W.Frozen {
		mm(true, false, d.out, d.in, n, 1, dy.Data, d.out, d.x.Data, d.in, 0, d.W.Grad, d.in)
	}
	if !d.B.Frozen {
		sumRows(d.B.Grad, dy.Data, n, d.out)
	}
	if !needDX {
		return nil
	}
	d.dx.resize(n, d.in)
	mm(false, false, n, d.in, d.out, 1, dy.Data, d.out, d.W.Data, d.in, 0, d.dx.Data, d.in)
	return &d.dx
}

// sumRows sets dst[j] = Σ_i src[i*cols+j], adding rows in order.
func sumRows(dst, src []float32, rows, cols int) {
	clear(dst[:cols])
	kernels.SumRows(dst, src, rows, cols, cols)
}

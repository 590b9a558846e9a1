package nn

import "fmt"

// Option adjusts the MLP and CNN constructors.
type Option func(*modelOptions)

type modelOptions struct {
	seed      uint64
	batchNorm bool
	dropout   float64
}

// WithSeed sets the seed for weight initialisation and dropout (default 0).
func WithSeed(seed uint64) Option { return func(o *modelOptions) { o.seed = seed } }

// WithBatchNorm inserts batch normalisation after every hidden dense or
// convolution layer, before its ReLU.
func WithBatchNorm() Option { return func(o *modelOptions) { o.batchNorm = true } }

// WithDropout adds dropout with probability p after every hidden ReLU of an
// MLP (the CNN has its own fixed dropout).
func WithDropout(p float64) Option { return func(o *modelOptions) { o.dropout = p } }

func applyOptions(opts []Option) modelOptions {
	var o modelOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// DefaultMLPHidden are the hidden widths used when MLP gets none.
var DefaultMLPHidden = []int{512, 256}

// MLPSpec describes a multi-layer perceptron in → hidden… → classes with
// ReLU between layers. in is the flattened input size; the model accepts
// [N, in] batches. hidden nil means DefaultMLPHidden.
func MLPSpec(in int, hidden []int, classes int, opts ...Option) Spec {
	o := applyOptions(opts)
	if hidden == nil {
		hidden = DefaultMLPHidden
	}
	s := Spec{Name: "mlp", Input: []int{in}, Seed: o.seed}
	prev := in
	for i, h := range hidden {
		k := i + 1
		s.Layers = append(s.Layers, LayerSpec{Type: "dense", Name: fmt.Sprintf("fc%d", k), In: prev, Out: h})
		if o.batchNorm {
			s.Layers = append(s.Layers, LayerSpec{Type: "batchnorm1d", Name: fmt.Sprintf("bn%d", k), In: h})
		}
		s.Layers = append(s.Layers, LayerSpec{Type: "relu", Name: fmt.Sprintf("relu%d", k)})
		if o.dropout > 0 {
			s.Layers = append(s.Layers, LayerSpec{Type: "dropout", Name: fmt.Sprintf("dropout%d", k), P: o.dropout})
		}
		prev = h
	}
	s.Layers = append(s.Layers, LayerSpec{Type: "dense", Name: fmt.Sprintf("fc%d", len(hidden)+1), In: prev, Out: classes})
	return s
}

// MLP builds MLPSpec. MLP(784, nil, 10) is the 784-512-256-10 ReLU network.
func MLP(in int, hidden []int, classes int, opts ...Option) (*Sequential, error) {
	return Build(MLPSpec(in, hidden, classes, opts...))
}

// CNNSpec describes the network of PyTorch's examples/mnist for inputs of
// shape [C, H, W]: conv3×3 C→32, ReLU, conv3×3 32→64, ReLU, maxpool 2,
// dropout 0.25, flatten, dense →128, ReLU, dropout 0.5, dense 128→classes.
// Layer names match that example's state_dict (conv1, conv2, fc1, fc2), so
// weights exchange with it. For [1, 28, 28] fc1 has 9216 inputs.
func CNNSpec(input []int, classes int, opts ...Option) (Spec, error) {
	o := applyOptions(opts)
	if len(input) != 3 || input[1] < 6 || input[2] < 6 {
		return Spec{}, fmt.Errorf("nn: CNN needs input [C H W] with H, W >= 6, got %v", input)
	}
	flat := 64 * ((input[1] - 4) / 2) * ((input[2] - 4) / 2)
	s := Spec{Name: "cnn", Input: append([]int(nil), input...), Seed: o.seed}
	add := func(l LayerSpec) { s.Layers = append(s.Layers, l) }
	add(LayerSpec{Type: "conv2d", Name: "conv1", In: input[0], Out: 32, Kernel: 3, Stride: 1})
	if o.batchNorm {
		add(LayerSpec{Type: "batchnorm2d", Name: "bn1", In: 32})
	}
	add(LayerSpec{Type: "relu", Name: "relu1"})
	add(LayerSpec{Type: "conv2d", Name: "conv2", In: 32, Out: 64, Kernel: 3, Stride: 1})
	if o.batchNorm {
		add(LayerSpec{Type: "batchnorm2d", Name: "bn2", In: 64})
	}
	add(LayerSpec{Type: "relu", Name: "relu2"})
	add(LayerSpec{Type: "maxpool2d", Name: "pool", Kernel: 2, Stride: 2})
	add(LayerSpec{Type: "dropout", Name: "dropout1", P: 0.25})
	add(LayerSpec{Type: "flatten", Name: "flatten"})
	add(LayerSpec{Type: "dense", Name: "fc1", In: flat, Out: 128})
	add(LayerSpec{Type: "relu", Name: "relu3"})
	add(LayerSpec{Type: "dropout", Name: "dropout2", P: 0.5})
	add(LayerSpec{Type: "dense", Name: "fc2", In: 128, Out: classes})
	return s, nil
}

// CNN builds CNNSpec.
func CNN(input []int, classes int, opts ...Option) (*Sequential, error) {
	s, err := CNNSpec(input, classes, opts...)
	if err != nil {
		return nil, err
	}
	return Build(s)
}

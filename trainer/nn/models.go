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

// ViTConfig holds the hyper-parameters of a Vision Transformer, named as
// timm's VisionTransformer arguments.
type ViTConfig struct {
	Patch    int     `json:"patch"`     // patch side P (patch_size)
	Dim      int     `json:"dim"`       // token width D (embed_dim)
	Depth    int     `json:"depth"`     // transformer blocks
	Heads    int     `json:"heads"`     // attention heads (num_heads); must divide Dim
	MLPRatio float64 `json:"mlp_ratio"` // MLP width ÷ Dim (mlp_ratio)
	// DropPath is the stochastic-depth rate of the last block; block i of
	// depth d drops with DropPath·i/(d−1), as timm's drop_path_rate.
	DropPath float64 `json:"drop_path,omitempty"`
}

// DefaultViT suits 28×28 digits trained for a short run: 14×14 patches cut
// a digit into its four quadrants, 4 tokens plus the class token. A ViT has
// none of a convolution's locality built in and must learn it from the
// data; in one epoch of MNIST it learns most from few, rich tokens (val
// 0.965 over three seeds, against 0.949 with 7×7 patches (one seed) and
// 0.931 with 4×4 (three seeds), for a fraction of their CPU time;
// BENCHMARKS.md "The ViT's shape").
// 64 features in 4 heads of 16 and 6 blocks make about 0.2 M parameters,
// less than the CNN; 128 features did worse in one epoch at the recipe's
// rate. The MLP ratio is 2 rather than timm's ImageNet 4, which did no
// better on digits at a higher cost.
var DefaultViT = ViTConfig{Patch: 14, Dim: 64, Depth: 6, Heads: 4, MLPRatio: 2}

// withDefaults fills the zero fields but DropPath from DefaultViT.
func (c ViTConfig) withDefaults() ViTConfig {
	d := DefaultViT
	if c.Patch == 0 {
		c.Patch = d.Patch
	}
	if c.Dim == 0 {
		c.Dim = d.Dim
	}
	if c.Depth == 0 {
		c.Depth = d.Depth
	}
	if c.Heads == 0 {
		c.Heads = d.Heads
	}
	if c.MLPRatio == 0 {
		c.MLPRatio = d.MLPRatio
	}
	return c
}

// Hidden is the MLP width, int(Dim·MLPRatio) as timm computes it.
func (c ViTConfig) Hidden() int { return int(float64(c.Dim) * c.MLPRatio) }

// ViTSpec describes a Vision Transformer for inputs [C, H, W] with the layer
// and parameter names of timm's VisionTransformer (class-token pooling, no
// pre-norm, LayerNorm eps 1e-6, exact GELU, qkv bias): patch_embed, tokens
// (cls_token, pos_embed), blocks.0 …, norm, pool, head. Zero fields of c
// but DropPath take DefaultViT's values.
func ViTSpec(input []int, classes int, c ViTConfig, opts ...Option) (Spec, error) {
	o := applyOptions(opts)
	c = c.withDefaults()
	switch {
	case len(input) != 3:
		return Spec{}, fmt.Errorf("nn: ViT needs input [C H W], got %v", input)
	case c.Patch < 1 || input[1]%c.Patch != 0 || input[2]%c.Patch != 0:
		return Spec{}, fmt.Errorf("nn: ViT patch %d does not divide the %dx%d input", c.Patch, input[1], input[2])
	case c.Dim < 1 || c.Heads < 1 || c.Dim%c.Heads != 0:
		return Spec{}, fmt.Errorf("nn: ViT width %d is not a multiple of the %d heads", c.Dim, c.Heads)
	case c.Depth < 1:
		return Spec{}, fmt.Errorf("nn: ViT depth must be ≥ 1, got %d", c.Depth)
	case !(c.MLPRatio > 0) || c.Hidden() < 1:
		return Spec{}, fmt.Errorf("nn: ViT MLP ratio %g gives no hidden features for width %d", c.MLPRatio, c.Dim)
	case !(c.DropPath >= 0 && c.DropPath < 1):
		return Spec{}, fmt.Errorf("nn: ViT drop-path rate %v outside [0, 1)", c.DropPath)
	}
	patches := (input[1] / c.Patch) * (input[2] / c.Patch)
	s := Spec{Name: "vit", Input: append([]int(nil), input...), Seed: o.seed}
	add := func(l LayerSpec) { s.Layers = append(s.Layers, l) }
	add(LayerSpec{Type: "patch_embed", Name: "patch_embed", In: input[0], Out: c.Dim, Kernel: c.Patch})
	add(LayerSpec{Type: "token_embed", Name: "tokens", In: c.Dim, Tokens: patches + 1})
	for i := 0; i < c.Depth; i++ {
		dp := 0.0
		switch {
		case i == c.Depth-1 && c.Depth > 1:
			dp = c.DropPath // exactly the rate asked, as the flag records it
		case c.Depth > 1:
			dp = c.DropPath * float64(i) / float64(c.Depth-1)
		}
		add(LayerSpec{Type: "vit_block", Name: fmt.Sprintf("blocks.%d", i), In: c.Dim, Heads: c.Heads,
			Hidden: c.Hidden(), Eps: DefaultLayerNormEps, DropPath: dp})
	}
	add(LayerSpec{Type: "layernorm", Name: "norm", In: c.Dim, Eps: DefaultLayerNormEps})
	add(LayerSpec{Type: "cls_pool", Name: "pool"})
	add(LayerSpec{Type: "dense", Name: "head", In: c.Dim, Out: classes})
	return s, nil
}

// ViT builds ViTSpec.
func ViT(input []int, classes int, c ViTConfig, opts ...Option) (*Sequential, error) {
	s, err := ViTSpec(input, classes, c, opts...)
	if err != nil {
		return nil, err
	}
	return Build(s)
}

// ViTConfigOf recovers the hyper-parameters from a ViTSpec-made spec (a
// checkpoint's architecture), and reports whether s is one.
func ViTConfigOf(s Spec) (ViTConfig, bool) {
	var c ViTConfig
	found := false
	for _, l := range s.Layers {
		switch l.Type {
		case "patch_embed":
			c.Patch, c.Dim, found = l.Kernel, l.Out, true
		case "vit_block":
			c.Depth++
			c.Heads, c.DropPath = l.Heads, max(c.DropPath, l.DropPath)
			c.MLPRatio = float64(l.Hidden) / float64(l.In)
		}
	}
	return c, found && c.Depth > 0
}

package nn

import "math/rand/v2"

// Layer is one stage of a Sequential model.
//
// Forward keeps references to x (and to its own output where Backward needs
// it), so x must not change until Backward has run. Backward takes the
// gradient of the loss with respect to the layer's output, writes parameter
// gradients into Param.Grad (overwriting), and returns the gradient with
// respect to x — or nil when needDX is false, which lets the first trainable
// layer skip that work. Returned tensors are owned by the layer and reused by
// its next call.
type Layer interface {
	Name() string
	// Spec describes the layer so that Build can recreate it.
	Spec() LayerSpec
	// OutShape validates a per-sample input shape (no batch dimension) and
	// returns the per-sample output shape.
	OutShape(in []int) ([]int, error)
	Forward(x *Tensor, train bool) *Tensor
	Backward(dy *Tensor, needDX bool) *Tensor
	Params() []*Param
}

// Buffered is implemented by layers with non-trainable state that must be
// saved with the weights (batch-norm running statistics).
type Buffered interface {
	Buffers() []Named
}

// Random is implemented by layers that draw random numbers while training
// (dropout). The state is what a checkpoint needs to resume the exact stream.
type Random interface {
	RNGState() ([]byte, error)
	SetRNGState([]byte) error
}

// The optional interfaces below are how Sequential and fine-tuning learn what
// a layer can do, so that a new layer type gains a behaviour by implementing
// a method in its own file rather than by a case in a type switch elsewhere.

// Fuser is implemented by layers that can apply an activation that follows
// them inside their own passes (a ReLU in the bias pass of a convolution).
type Fuser interface {
	// Fuse makes the layer apply next, the layer right after it, as part of
	// its own Forward and Backward, and reports whether it does; the plan
	// then skips next. Fuse(nil) undoes any fusion.
	Fuse(next Layer) bool
}

// Commuter is implemented by layers that an element-wise activation in front
// of them may move behind without changing values or gradients (max-pooling
// commutes with any monotone activation), so the activation touches less data.
type Commuter interface {
	// CommutesWith reports whether prev, the layer right before this one,
	// may run after it instead.
	CommutesWith(prev Layer) bool
}

// Head is implemented by layers that can be a model's classifier head: the
// last Head of a model is the layer fine-tuning names, trains with its own
// learning rate and replaces for a new set of classes.
type Head interface {
	Layer
	// Features returns the input and output widths.
	Features() (in, out int)
	// NewHead returns a freshly initialised plain head with the same name
	// and input width and out outputs, drawing its weights from rng.
	NewHead(out int, rng *rand.Rand) Layer
}

// LayerSpec is the JSON description of one layer. Fields a layer type does
// not use are left zero.
type LayerSpec struct {
	// Type is dense, conv2d, maxpool2d, relu, dropout, batchnorm1d,
	// batchnorm2d, flatten, or one of the transformer layers: patch_embed,
	// token_embed, vit_block, attention, layernorm, gelu, cls_pool.
	Type     string  `json:"type"`
	Name     string  `json:"name"`
	In       int     `json:"in,omitempty"`  // input features (dense) or channels (conv2d, batchnorm)
	Out      int     `json:"out,omitempty"` // output features (dense) or channels (conv2d)
	Kernel   int     `json:"kernel,omitempty"`
	Stride   int     `json:"stride,omitempty"`
	Padding  int     `json:"padding,omitempty"`
	P        float64 `json:"p,omitempty"`        // dropout probability
	Eps      float64 `json:"eps,omitempty"`      // batch and layer norm
	Momentum float64 `json:"momentum,omitempty"` // batch norm running-stat momentum
	// Heads is the attention head count (vit_block, attention), Hidden the
	// width of a transformer block's MLP, Tokens the positions of a token
	// embedding (the class token included) and DropPath a block's
	// stochastic-depth probability.
	Heads    int     `json:"heads,omitempty"`
	Hidden   int     `json:"hidden,omitempty"`
	Tokens   int     `json:"tokens,omitempty"`
	DropPath float64 `json:"drop_path,omitempty"`
	// LoRARank and LoRAAlpha, when set on a dense layer, wrap it in a LoRA
	// adapter of that rank scaled by alpha/rank (see LoRA).
	LoRARank  int     `json:"lora_rank,omitempty"`
	LoRAAlpha float64 `json:"lora_alpha,omitempty"`
	// LoRALayers, on a vit_block with LoRARank set, names the sublayers
	// that carry the adapters ("attn.qkv", "attn.proj", "mlp.fc1",
	// "mlp.fc2"), all of that rank and alpha.
	LoRALayers []string `json:"lora_layers,omitempty"`
}

package nn

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Param is a trainable tensor and its gradient. Backward overwrites Grad
// (it does not accumulate). A frozen parameter keeps its values: optimizers
// skip it and layers skip computing its gradient where that saves work, so
// Grad of a frozen parameter is unspecified.
type Param struct {
	Name   string // stable, PyTorch-style: "conv1.weight", "fc2.bias"
	Shape  []int
	Data   []float32
	Grad   []float32
	Frozen bool
}

func newParam(name string, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Param{Name: name, Shape: slices.Clone(shape), Data: make([]float32, n), Grad: make([]float32, n)}
}

// Named is a named tensor of model state: a parameter or a buffer such as a
// batch-norm running mean. Data aliases the model's storage.
type Named struct {
	Name  string
	Shape []int
	Data  []float32
}

// kaimingUniform fills w like PyTorch's default for Linear and Conv weights,
// kaiming_uniform_(a=√5): U(-b, b) with b = gain·√(3/fan_in) and
// gain = √(2/(1+a²)), which simplifies to b = 1/√fan_in.
func kaimingUniform(rng *rand.Rand, w []float32, fanIn int) {
	gain := math.Sqrt(2.0 / (1 + 5.0))
	bound := gain * math.Sqrt(3.0/float64(fanIn))
	uniform(rng, w, bound)
}

// uniform fills w with U(-bound, bound), as PyTorch does for biases with
// bound = 1/√fan_in.
func uniform(rng *rand.Rand, w []float32, bound float64) {
	for i := range w {
		w[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

func fill(w []float32, v float32) {
	for i := range w {
		w[i] = v
	}
}

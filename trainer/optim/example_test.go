package optim_test

import (
	"fmt"

	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// A training loop: forward, fused softmax cross-entropy, backward, update.
// The new head learns ten times faster than the body.
func Example() {
	model, err := nn.MLP(8, []int{16}, 2, nn.WithSeed(1))
	if err != nil {
		panic(err)
	}
	groups := optim.GroupParams(model.Params(), optim.Rule{Prefix: "fc2.", LRScale: 10})
	sched := optim.Warmup{Steps: 5, Start: 0.1, Then: optim.Cosine{Total: 95, MinFactor: 0.01}}
	opt, err := optim.New(optim.Config{Algorithm: optim.Adam, LR: 1e-2, ClipNorm: 5}, sched, groups...)
	if err != nil {
		panic(err)
	}
	// Label = whether the first feature is larger than the second.
	x := nn.NewTensor(32, 8)
	labels := make([]int, 32)
	for i := range labels {
		for j := range 8 {
			x.Data[i*8+j] = float32((i*7+j*3)%11)/11 - 0.5
		}
		if x.Data[i*8] > x.Data[i*8+1] {
			labels[i] = 1
		}
	}
	var loss nn.SoftmaxCrossEntropy
	var first, last float64
	for step := range 100 {
		logits, err := model.Forward(x, true)
		if err != nil {
			panic(err)
		}
		l, grad, err := loss.Forward(logits, labels)
		if err != nil {
			panic(err)
		}
		if err := model.Backward(grad); err != nil {
			panic(err)
		}
		opt.Step()
		if step == 0 {
			first = l
		}
		last = l
	}
	logits, _ := model.Forward(x, false)
	fmt.Println("loss fell:", last < first/2)
	fmt.Println("train accuracy above 90%:", nn.Correct(logits, labels) > 29)
	// Output:
	// loss fell: true
	// train accuracy above 90%: true
}

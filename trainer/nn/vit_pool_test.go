package nn

import (
	"runtime"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// The default ViT's training step at batch 16 is all small jobs: on two
// threads none of them is worth a helper, so the step runs inline (as on
// one thread) instead of paying a hand-off per product. At batch 128 the
// products and heads are split. Either way the gradients are bitwise those
// of one thread, where everything runs inline.
func TestViTStepSplitFollowsBatchAndStaysExact(t *testing.T) {
	step := func(procs, size int) (handoffs uint64, grads [][]float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := ViT([]int{1, 28, 28}, 10, DefaultViT)
		if err != nil {
			t.Fatal(err)
		}
		x, labels := batch(11, size, 1, 28, 28)
		var ce SoftmaxCrossEntropy
		trainStep(t, m, &ce, x, labels) // sizes the buffers
		before := kernels.Handoffs()
		trainStep(t, m, &ce, x, labels)
		handoffs = kernels.Handoffs() - before
		for _, p := range m.Params() {
			grads = append(grads, slices.Clone(p.Grad))
		}
		return handoffs, grads
	}
	for _, c := range []struct {
		size  int
		split bool
	}{{16, false}, {128, true}} {
		_, one := step(1, c.size)
		for _, procs := range []int{2, 4} {
			n, many := step(procs, c.size)
			if (n > 0) != c.split {
				t.Errorf("batch %d on %d threads: %d jobs handed off, want split %v", c.size, procs, n, c.split)
			}
			for i := range one {
				if !slices.Equal(one[i], many[i]) {
					t.Errorf("batch %d on %d threads: gradient %d differs from one thread's", c.size, procs, i)
				}
			}
		}
	}
}

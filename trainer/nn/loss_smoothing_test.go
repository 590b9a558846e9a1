package nn

import (
	"math"
	"testing"
)

// Label smoothing: the loss is the cross-entropy against the smoothed
// target written out in float64, and the gradient its finite difference.
func TestSoftmaxCrossEntropySmoothing(t *testing.T) {
	logits, _ := FromSlice([]float32{2, -1, 0.5, 0, 3, 1, -2, 0, 1.5, 0.25, -0.5, 1}, 3, 4)
	labels := []int{0, 1, 3}
	const eps = 0.1
	ref := func(x []float32) float64 {
		var total float64
		for i := 0; i < 3; i++ {
			row := x[i*4 : (i+1)*4]
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v))
			}
			for j, v := range row {
				q := eps / 4
				if j == labels[i] {
					q += 1 - eps
				}
				total -= q * (float64(v) - math.Log(z))
			}
		}
		return total / 3
	}
	ce := SoftmaxCrossEntropy{Smoothing: eps}
	loss, grad, err := ce.Forward(logits, labels)
	if err != nil {
		t.Fatal(err)
	}
	if want := ref(logits.Data); math.Abs(loss-want) > 1e-6 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	var plain SoftmaxCrossEntropy
	if l0, _, _ := plain.Forward(logits, labels); math.Abs(l0-loss) < 1e-3 {
		t.Errorf("smoothing leaves the loss at %v", l0)
	}
	for j := range logits.Data {
		a := append([]float32(nil), logits.Data...)
		b := append([]float32(nil), logits.Data...)
		a[j] += 1e-3
		b[j] -= 1e-3
		num := (ref(a) - ref(b)) / 2e-3
		if math.Abs(num-float64(grad.Data[j])) > 1e-4 {
			t.Errorf("grad[%d] = %v, finite difference %v", j, grad.Data[j], num)
		}
	}
	for _, bad := range []float64{-0.1, 1, math.NaN()} {
		c := SoftmaxCrossEntropy{Smoothing: bad}
		if _, _, err := c.Forward(logits, labels); err == nil {
			t.Errorf("smoothing %v accepted", bad)
		}
	}
}

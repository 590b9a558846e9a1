package nn

import (
	"fmt"
	"math"
)

// SoftmaxCrossEntropy fuses softmax and negative log-likelihood: it is
// computed from log-sum-exp with the row maximum subtracted, so it neither
// overflows nor loses the small probabilities, and its gradient is simply
// (softmax − onehot)/N. It owns the gradient buffer it returns.
type SoftmaxCrossEntropy struct {
	grad Tensor
}

// Forward returns the mean loss over the batch and dL/dlogits for logits of
// shape [N, classes] and one label in [0, classes) per row.
func (s *SoftmaxCrossEntropy) Forward(logits *Tensor, labels []int) (float64, *Tensor, error) {
	if len(logits.Shape) != 2 {
		return 0, nil, fmt.Errorf("nn: softmax cross-entropy expects logits [N classes], got %v", logits.Shape)
	}
	n, k := logits.Shape[0], logits.Shape[1]
	if len(labels) != n {
		return 0, nil, fmt.Errorf("nn: softmax cross-entropy: %d labels for a batch of %d", len(labels), n)
	}
	s.grad.resize(n, k)
	var total float64
	inv := 1 / float64(n)
	for i := 0; i < n; i++ {
		y := labels[i]
		if y < 0 || y >= k {
			return 0, nil, fmt.Errorf("nn: softmax cross-entropy: label %d of sample %d outside [0, %d)", y, i, k)
		}
		row := logits.Data[i*k : (i+1)*k]
		g := s.grad.Data[i*k : (i+1)*k]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		var z float64
		for j, v := range row {
			e := math.Exp(float64(v - m))
			g[j] = float32(e)
			z += e
		}
		total += math.Log(z) - float64(row[y]-m)
		scale := inv / z
		for j := range g {
			g[j] = float32(float64(g[j]) * scale)
		}
		g[y] -= float32(inv)
	}
	return total * inv, &s.grad, nil
}

// Argmax writes the index of the largest logit of each row into dst (grown
// as needed) and returns it.
func Argmax(logits *Tensor, dst []int) []int {
	n, k := logits.Shape[0], logits.Shape[1]
	dst = dst[:0]
	for i := 0; i < n; i++ {
		row := logits.Data[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		dst = append(dst, best)
	}
	return dst
}

// Correct counts rows whose largest logit is at the label.
func Correct(logits *Tensor, labels []int) int {
	n, k := logits.Shape[0], logits.Shape[1]
	c := 0
	for i := 0; i < n && i < len(labels); i++ {
		row := logits.Data[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == labels[i] {
			c++
		}
	}
	return c
}

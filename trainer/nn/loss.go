package nn

import (
	"fmt"
	"math"
)

// SoftmaxCrossEntropy fuses softmax and negative log-likelihood: it is
// computed from log-sum-exp with the row maximum subtracted, so it neither
// overflows nor loses the small probabilities, and its gradient is simply
// (softmax − onehot)/N. It owns the gradient buffer it returns.
//
// Smoothing ε in (0, 1) trains against the smoothed target
// (1−ε)·onehot + ε/K over K classes (torch.nn.CrossEntropyLoss's
// label_smoothing): the loss becomes (1−ε)·CE + ε·mean over classes of
// −log p, and the gradient (softmax − target)/N. Zero is the plain loss.
type SoftmaxCrossEntropy struct {
	Smoothing float64
	grad      Tensor
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
	if !(s.Smoothing >= 0 && s.Smoothing < 1) {
		return 0, nil, fmt.Errorf("nn: softmax cross-entropy: label smoothing %v outside [0, 1)", s.Smoothing)
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
		scale := inv / z
		for j := range g {
			g[j] = float32(float64(g[j]) * scale)
		}
		if eps := s.Smoothing; eps > 0 {
			var sum float64 // Σ_j (logit_j − m)
			for _, v := range row {
				sum += float64(v - m)
			}
			total += math.Log(z) - (1-eps)*float64(row[y]-m) - eps/float64(k)*sum
			off := float32(eps / float64(k) * inv)
			for j := range g {
				g[j] -= off
			}
			g[y] -= float32((1 - eps) * inv)
			continue
		}
		total += math.Log(z) - float64(row[y]-m)
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

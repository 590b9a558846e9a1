package nn

import (
	"math"
	"slices"
	"testing"
)

// Argmax and Correct pick the first of tied largest logits (as torch.argmax
// does), look only at their own row, and Correct stops at the shorter of the
// batch and the labels.
func TestArgmaxAndCorrect(t *testing.T) {
	logits := &Tensor{Shape: []int{5, 4}, Data: []float32{
		0, 1, 2, 3, // last
		9, 1, 2, 3, // first
		1, 5, 5, 2, // tie: the first of the two
		-3, -1, -2, -1, // tie among negatives
		7, 7, 7, 7, // all tied
	}}
	want := []int{3, 0, 1, 1, 0}
	got := Argmax(logits, make([]int, 0, 1))
	if !slices.Equal(got, want) {
		t.Errorf("Argmax = %v, want %v", got, want)
	}
	if again := Argmax(logits, got); !slices.Equal(again, want) {
		t.Errorf("Argmax reusing its output = %v, want %v", again, want)
	}
	labels := []int{3, 1, 2, 1, 0}
	if c := Correct(logits, labels); c != 3 {
		t.Errorf("Correct = %d, want 3 (rows 0, 3 and 4)", c)
	}
	if c := Correct(logits, want); c != 5 {
		t.Errorf("Correct of the argmax labels = %d, want 5", c)
	}
	if c := Correct(logits, labels[:1]); c != 1 {
		t.Errorf("Correct with one label = %d, want 1", c)
	}
	if c := Correct(logits, []int{0, 0, 0, 0, 0, 0, 0}); c != 2 {
		t.Errorf("Correct with more labels than rows = %d, want 2", c)
	}
}

// A logit of −∞ (a class masked out) has probability 0: without smoothing
// the loss and the other classes' gradients are those of the row without
// that class, bit for bit, and its own gradient is 0.
func TestCrossEntropyMaskedLogit(t *testing.T) {
	inf := float32(math.Inf(-1))
	full := &Tensor{Shape: []int{2, 4}, Data: []float32{0.5, inf, -1, 2, inf, 3, 0.25, -2}}
	short := &Tensor{Shape: []int{2, 3}, Data: []float32{0.5, -1, 2, 3, 0.25, -2}}
	var a, b SoftmaxCrossEntropy
	lf, gf, err := a.Forward(full, []int{3, 1})
	if err != nil {
		t.Fatal(err)
	}
	ls, gs, err := b.Forward(short, []int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if lf != ls || math.IsNaN(lf) {
		t.Errorf("loss with a masked class %v, without the class %v", lf, ls)
	}
	want := []float32{gs.Data[0], 0, gs.Data[1], gs.Data[2], 0, gs.Data[3], gs.Data[4], gs.Data[5]}
	if !slices.Equal(gf.Data, want) {
		t.Errorf("gradient %v, want %v", gf.Data, want)
	}
}

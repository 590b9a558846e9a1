package nn

import (
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

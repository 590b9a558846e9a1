package metrics

import (
	"encoding/json"
	"testing"
)

// An evaluation with no examples, or a class absent from the evaluated
// split, has scores of 0, not NaN, and the report still encodes as JSON
// (trainer eval --json).
func TestUndefinedScoresAreZero(t *testing.T) {
	empty := NewConfusion([]string{"a", "b"})
	if a := empty.Accuracy(); a != 0 {
		t.Errorf("accuracy of nothing = %v, want 0", a)
	}
	if _, err := json.Marshal(empty.Report()); err != nil {
		t.Errorf("empty report: %v", err)
	}
	c := NewConfusion([]string{"a", "b", "absent"})
	c.Add([]uint8{0, 1, 1}, []int{0, 1, 0})
	s := c.PerClass()[2]
	if s.Support != 0 || s.Precision != 0 || s.Recall != 0 || s.F1 != 0 {
		t.Errorf("absent class %+v, want all 0", s)
	}
	if _, err := json.Marshal(c.Report()); err != nil {
		t.Errorf("report with an absent class: %v", err)
	}
}

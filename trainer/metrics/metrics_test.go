package metrics

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestScores(t *testing.T) {
	c := NewConfusion([]string{"a", "b", "c"})
	// true a: 3 right, 1 predicted b; true b: 2 right; true c: 1 predicted a, 0 right.
	c.Add([]uint8{0, 0, 0, 0, 1, 1, 2}, []int{0, 0, 0, 1, 1, 1, 0})
	if c.Total() != 7 || math.Abs(c.Accuracy()-5.0/7) > 1e-12 {
		t.Fatalf("total %d accuracy %v", c.Total(), c.Accuracy())
	}
	s := c.PerClass()
	// a: tp 3, predicted 4, actual 4 => p=r=f1=0.75
	if math.Abs(s[0].Precision-0.75) > 1e-12 || math.Abs(s[0].Recall-0.75) > 1e-12 || math.Abs(s[0].F1-0.75) > 1e-12 {
		t.Fatalf("class a %+v", s[0])
	}
	// b: tp 2, predicted 3, actual 2 => p=2/3, r=1, f1=0.8
	if math.Abs(s[1].Precision-2.0/3) > 1e-12 || s[1].Recall != 1 || math.Abs(s[1].F1-0.8) > 1e-12 {
		t.Fatalf("class b %+v", s[1])
	}
	// c: never predicted => precision 0, recall 0, f1 0, support 1
	if s[2].Precision != 0 || s[2].Recall != 0 || s[2].F1 != 0 || s[2].Support != 1 {
		t.Fatalf("class c %+v", s[2])
	}
	var buf bytes.Buffer
	c.Print(&buf)
	if !strings.Contains(buf.String(), "confusion matrix") || !strings.Contains(buf.String(), "0.7500") {
		t.Fatalf("print:\n%s", buf.String())
	}
}

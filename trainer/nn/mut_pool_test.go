package nn

import (
	"slices"
	"testing"
)

// A window of size 0 is refused whatever the stride; an input exactly the
// window's size gives one output per plane.
func TestMaxPoolWindowBounds(t *testing.T) {
	for _, c := range [][2]int{{0, 0}, {0, 1}, {0, 2}, {-1, 1}, {2, -1}} {
		if _, err := NewMaxPool2D("p", c[0], c[1]); err == nil {
			t.Errorf("kernel %d stride %d accepted", c[0], c[1])
		}
	}
	for _, k := range []int{2, 3} {
		p, err := NewMaxPool2D("p", k, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range [][]int{{2, k, k}, {1, k, k + 1}, {1, k + 1, k}} {
			got, err := p.OutShape(in)
			if err != nil {
				t.Errorf("k=%d: OutShape(%v): %v", k, in, err)
				continue
			}
			if want := []int{in[0], (in[1]-k)/k + 1, (in[2]-k)/k + 1}; !slices.Equal(got, want) {
				t.Errorf("k=%d: OutShape(%v) = %v, want %v", k, in, got, want)
			}
		}
		for _, in := range [][]int{{1, k - 1, k}, {1, k, k - 1}} {
			if _, err := p.OutShape(in); err == nil {
				t.Errorf("k=%d: OutShape(%v) accepted", k, in)
			}
		}
	}
}

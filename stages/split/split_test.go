package split

import (
	"math/rand/v2"
	"testing"
)

func labelsOf(n int, seed uint64) []uint8 {
	r := rand.New(rand.NewPCG(seed, 1))
	l := make([]uint8, n)
	for i := range l {
		l[i] = uint8(r.IntN(10))
	}
	return l
}

func count(a []uint8, v uint8) int {
	c := 0
	for _, x := range a {
		if x == v {
			c++
		}
	}
	return c
}

func TestCarveSizes(t *testing.T) {
	labels := labelsOf(1000, 1)
	for _, o := range []Options{{Fraction: 0.1}, {Fraction: 0.1, Stratify: true}, {Count: 137}, {Count: 137, Stratify: true}, {}} {
		a, err := Carve(labels, o)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := o.ValSize(1000)
		if got := count(a, Val); got != want {
			t.Errorf("%+v: %d val, want %d", o, got, want)
		}
	}
}

func TestCarveStratifiedKeepsProportions(t *testing.T) {
	labels := labelsOf(5000, 2)
	a, err := Carve(labels, Options{Seed: 3, Fraction: 0.2, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	for c := uint8(0); c < 10; c++ {
		total, val := 0, 0
		for i, l := range labels {
			if l == c {
				total++
				if a[i] == Val {
					val++
				}
			}
		}
		if exact := 0.2 * float64(total); float64(val) < exact-1 || float64(val) > exact+1 {
			t.Errorf("class %d: %d of %d in val, want %.1f±1", c, val, total, exact)
		}
	}
}

func TestCarveDeterministicAndSeeded(t *testing.T) {
	labels := labelsOf(2000, 4)
	o := Options{Seed: 7, Fraction: 0.1, Stratify: true}
	a, _ := Carve(labels, o)
	b, _ := Carve(labels, o)
	o.Seed = 8
	c, _ := Carve(labels, o)
	same, diff := true, false
	for i := range a {
		same = same && a[i] == b[i]
		diff = diff || a[i] != c[i]
	}
	if !same {
		t.Fatal("same seed gave different assignments")
	}
	if !diff {
		t.Fatal("different seeds gave the same assignment")
	}
}

func TestCarveRejectsValTakingEverything(t *testing.T) {
	if _, err := Carve(labelsOf(10, 5), Options{Count: 10}); err == nil {
		t.Fatal("val_count = all accepted")
	}
}

func TestAssignFiltersAndLimitsPerClass(t *testing.T) {
	labels := labelsOf(3000, 6)
	o := Options{Seed: 2, Count: 50, Labels: []uint8{5, 6, 7}, PerClass: 10}
	a, err := Assign(labels, o)
	if err != nil {
		t.Fatal(err)
	}
	perClass := map[uint8]int{}
	val := 0
	for i, s := range a {
		keep := labels[i] >= 5 && labels[i] <= 7
		if !keep && s != Drop {
			t.Fatalf("label %d kept in split %d", labels[i], s)
		}
		switch s {
		case Train:
			perClass[labels[i]]++
		case Val:
			val++
		}
	}
	if val != 50 || len(perClass) != 3 || perClass[5] != 10 || perClass[6] != 10 || perClass[7] != 10 {
		t.Fatalf("val %d, train per class %v", val, perClass)
	}
	b, _ := Assign(labels, o)
	o.Seed = 3
	c, _ := Assign(labels, o)
	if string(a) != string(b) || string(a) == string(c) {
		t.Fatal("per-class choice is not determined by the seed")
	}
	test := AssignTest(labels, o)
	for i, s := range test {
		if (labels[i] >= 5 && labels[i] <= 7) != (s == Test) {
			t.Fatalf("test image with label %d assigned %d", labels[i], s)
		}
	}
	if _, err := Assign(labels, Options{PerClass: 100000}); err == nil {
		t.Fatal("per_class above a class's size accepted")
	}
}

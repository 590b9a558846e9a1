package split

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
)

// valPerClass counts the val images of each class 0..classes-1.
func valPerClass(labels, assign []uint8, classes int) []int {
	c := make([]int, classes)
	for i, a := range assign {
		if a == Val {
			c[labels[i]]++
		}
	}
	return c
}

// sized returns labels with sizes[c] images of class c, interleaved
// (0,1,2,…,0,1,…) so that no class is a contiguous block.
func sized(sizes ...int) []uint8 {
	var l []uint8
	left := slices.Clone(sizes)
	for more := true; more; {
		more = false
		for c := range left {
			if left[c] > 0 {
				l = append(l, uint8(c))
				left[c]--
				more = true
			}
		}
	}
	return l
}

// The stratified quotas by hand (largest remainder): k·size/n, floors first,
// the units left over to the largest fractional parts, ties to the lower class.
func TestCarveStratifiedQuotasLargestRemainder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		k     int
		want  []int
	}{
		// 5·[7 5 3 1]/16 = 2.1875 1.5625 0.9375 0.3125: floors 2 1 0 0 give 3,
		// the 2 left go to 0.9375 (class 2) and 0.5625 (class 1).
		{"remainders", []int{7, 5, 3, 1}, 5, []int{2, 2, 1, 0}},
		// 2·[2 2 2 2]/8 = 0.5 each: all tie, the two lowest classes win.
		{"ties", []int{2, 2, 2, 2}, 2, []int{1, 1, 0, 0}},
		// 3·[1 1 4]/6 = 0.5 0.5 2: class 2 exact, one unit left, tie → class 0.
		{"exact and ties", []int{1, 1, 4}, 3, []int{1, 0, 2}},
		// 4·[3 9]/12 = 1 3: no remainder at all.
		{"exact", []int{3, 9}, 4, []int{1, 3}},
		// 3·[1 6 2]/9 = 0.333 2 0.667: the one unit to class 2, not class 0.
		{"larger remainder wins over lower class", []int{1, 6, 2}, 3, []int{0, 2, 1}},
	} {
		labels := sized(tc.sizes...)
		for seed := uint64(0); seed < 5; seed++ {
			a, err := Carve(labels, Options{Seed: seed, Count: tc.k, Stratify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := valPerClass(labels, a, len(tc.sizes)); !slices.Equal(got, tc.want) {
				t.Errorf("%s, seed %d: val per class %v, want %v", tc.name, seed, got, tc.want)
			}
		}
	}
}

// pinnedLabels is a fixed label vector: 1000 labels over 10 uneven classes
// (109 54 54 162 162 54 108 81 162 54), so that a 10 % stratified val has
// remainders .9 .4 .4 .2 .2 .4 .8 .1 .2 .4 and a four-way tie for the last two
// units (classes 1 and 2 win it).
func pinnedLabels() []uint8 {
	l := make([]uint8, 1000)
	for i := range l {
		l[i] = uint8((i*i + 3*i) % 37 % 10)
	}
	return l
}

func assignHash(a []uint8) string {
	h := sha256.Sum256(a)
	return hex.EncodeToString(h[:8])
}

// The exact assignment for a fixed input is part of the dataset version's
// promise: a change to it without a bump of Version would give different
// shards under the same version. If this test fails because the assignment
// changed on purpose, bump Version and update the pins.
func TestAssignPinned(t *testing.T) {
	labels := pinnedLabels()
	for _, tc := range []struct {
		name     string
		o        Options
		valCount []int
		train    int
		hash     string
	}{
		{"stratified fraction", Options{Seed: 42, Fraction: 0.1, Stratify: true},
			[]int{11, 6, 6, 16, 16, 5, 11, 8, 16, 5}, 900, "c06d46e6a40386ac"},
		{"plain count", Options{Seed: 42, Count: 100},
			nil, 900, "6410594efec1b2f6"},
		{"filter and per class", Options{Seed: 7, Count: 30, Stratify: true, Labels: []uint8{1, 3, 8}, PerClass: 20},
			nil, 60, "1c13dd1ca0c93d31"},
	} {
		a, err := Assign(labels, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if tc.valCount != nil {
			if got := valPerClass(labels, a, 10); !slices.Equal(got, tc.valCount) {
				t.Errorf("%s: val per class %v, want %v", tc.name, got, tc.valCount)
			}
		}
		if got := count(a, Train); got != tc.train {
			t.Errorf("%s: %d train, want %d", tc.name, got, tc.train)
		}
		if got := assignHash(a); got != tc.hash {
			t.Errorf("%s: assignment hash %s, want %s (bump split.Version if this is on purpose)", tc.name, got, tc.hash)
		}
	}
}

// Without PerClass every kept train image stays in train.
func TestAssignWithoutPerClassKeepsAllTrain(t *testing.T) {
	labels := labelsOf(500, 9)
	a, err := Assign(labels, Options{Seed: 1, Count: 50})
	if err != nil {
		t.Fatal(err)
	}
	if tr, v := count(a, Train), count(a, Val); tr != 450 || v != 50 {
		t.Fatalf("%d train, %d val, want 450 and 50", tr, v)
	}
}

// PerClass equal to the smallest class's train size is allowed and keeps it whole.
func TestAssignPerClassEqualToClassSize(t *testing.T) {
	labels := sized(4, 6, 9)
	a, err := Assign(labels, Options{PerClass: 4})
	if err != nil {
		t.Fatalf("per_class = size of the smallest class: %v", err)
	}
	for c := uint8(0); c < 3; c++ {
		n := 0
		for i, s := range a {
			if labels[i] == c && s == Train {
				n++
			}
		}
		if n != 4 {
			t.Errorf("class %d: %d train, want 4", c, n)
		}
	}
	if _, err := Assign(labels, Options{PerClass: 5}); err == nil {
		t.Fatal("per_class 5 with a class of 4 accepted")
	}
}

// An empty train file carves nothing and is no error.
func TestValSizeOfNothing(t *testing.T) {
	for _, o := range []Options{{}, {Fraction: 0.2}} {
		if k, err := o.ValSize(0); k != 0 || err != nil {
			t.Errorf("%+v: ValSize(0) = %d, %v; want 0, nil", o, k, err)
		}
	}
	if _, err := (Options{Count: -1}).ValSize(10); err == nil {
		t.Error("negative val count accepted")
	}
}

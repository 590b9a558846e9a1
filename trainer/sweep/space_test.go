package sweep

import (
	"reflect"
	"strings"
	"testing"
)

func mustSpace(t *testing.T, grids, randoms []string) Space {
	t.Helper()
	var sp Space
	for _, g := range grids {
		p, err := ParseGrid(g)
		if err != nil {
			t.Fatal(err)
		}
		sp.Params = append(sp.Params, p)
	}
	for _, r := range randoms {
		p, err := ParseRandom(r)
		if err != nil {
			t.Fatal(err)
		}
		sp.Params = append(sp.Params, p)
	}
	return sp
}

// The proposals are pinned for a fixed space and seed: a change to the
// generator, the grid order or the rounding would propose other trials for
// the same command, so it must show up here.
func TestProposePinned(t *testing.T) {
	sp := mustSpace(t, []string{"lr=1e-3,2e-3", "batch-size=64,128"},
		[]string{"weight-decay=loguniform(1e-5,1e-2)", "momentum=uniform(0.8,0.99)", "optimizer=choice(adam,adamw,sgd)"})
	got := sp.Propose(7, 5)
	want := [][]string{
		{"--lr=1e-3", "--batch-size=64", "--weight-decay=0.00966", "--momentum=0.956", "--optimizer=adam"},
		{"--lr=1e-3", "--batch-size=128", "--weight-decay=0.000296", "--momentum=0.951", "--optimizer=adam"},
		{"--lr=2e-3", "--batch-size=64", "--weight-decay=5.11e-05", "--momentum=0.965", "--optimizer=adam"},
		{"--lr=2e-3", "--batch-size=128", "--weight-decay=0.00362", "--momentum=0.894", "--optimizer=adam"},
		{"--lr=1e-3", "--batch-size=64", "--weight-decay=5.19e-05", "--momentum=0.817", "--optimizer=sgd"},
	}
	for i := range got {
		if a := Args(got[i]); !reflect.DeepEqual(a, want[i]) {
			t.Errorf("trial %d: %q, want %q", i, a, want[i])
		}
	}
	// A pure function: again, the same; a longer sweep keeps the prefix.
	if again := sp.Propose(7, 8); !reflect.DeepEqual(again[:5], got) {
		t.Fatalf("Propose(7, 8)[:5] = %v, want %v", again[:5], got)
	}
	if other := sp.Propose(8, 5); reflect.DeepEqual(other, got) {
		t.Fatal("seed 8 proposed the trials of seed 7")
	}
	if n := sp.DefaultTrials(); n != 16 {
		t.Fatalf("DefaultTrials = %d, want 4 per grid point = 16", n)
	}
	grid := mustSpace(t, []string{"lr=1,2,3", "seed=1,2"}, nil)
	if n := grid.DefaultTrials(); n != 6 {
		t.Fatalf("grid DefaultTrials = %d, want 6", n)
	}
	seen := map[string]bool{}
	for _, v := range grid.Propose(1, 6) {
		seen[strings.Join(Args(v), " ")] = true
	}
	if len(seen) != 6 {
		t.Fatalf("the 6 trials of a 3×2 grid are not its 6 points: %v", seen)
	}
}

func TestParseBarSeparatedValues(t *testing.T) {
	p, err := ParseGrid("hidden=512,256|128")
	if err != nil || len(p.Values) != 2 || p.Values[0] != "512,256" || p.Values[1] != "128" {
		t.Fatalf("ParseGrid(hidden=512,256|128) = %+v, %v", p, err)
	}
	p, err = ParseRandom("hidden=choice(64,32|64|32)")
	if err != nil || len(p.Values) != 3 || p.Values[0] != "64,32" {
		t.Fatalf("ParseRandom(hidden=choice(64,32|64|32)) = %+v, %v", p, err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{"lr", "=1,2", "lr=", "lr=1,,2"} {
		if _, err := ParseGrid(s); err == nil {
			t.Errorf("ParseGrid(%q) accepted", s)
		}
	}
	for s, want := range map[string]string{
		"lr=normal(0,1)":      "unknown distribution",
		"lr=uniform(1)":       "two bounds",
		"lr=uniform(2,1)":     "below HI",
		"lr=loguniform(0,1)":  "LO > 0",
		"lr=uniform(a,b)":     "finite",
		"lr=uniform(0,Inf)":   "finite",
		"lr=choice()":         "empty",
		"lr=uniform(1,2":      "want",
		"lr=loguniform(1e-5)": "two bounds",
	} {
		if _, err := ParseRandom(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRandom(%q) = %v, want an error saying %q", s, err, want)
		}
	}
	sp := mustSpace(t, []string{"lr=1,2"}, []string{"lr=uniform(1,2)"})
	if err := sp.Check(func(string, string) error { return nil }); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a flag swept twice: %v", err)
	}
}

func TestRungs(t *testing.T) {
	for _, c := range []struct {
		h      Halving
		epochs int
		want   []int
	}{
		{Halving{On: true, MinEpochs: 1, Eta: 3}, 9, []int{1, 3, 9}},
		{Halving{On: true, MinEpochs: 1, Eta: 3}, 10, []int{1, 3, 9, 10}},
		{Halving{On: true, MinEpochs: 2, Eta: 2}, 3, []int{2, 3}},
		{Halving{On: true, MinEpochs: 1, Eta: 3}, 1, []int{1}},
		{Halving{}, 5, []int{5}},
	} {
		if got := c.h.Rungs(c.epochs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v.Rungs(%d) = %v, want %v", c.h, c.epochs, got, c.want)
		}
	}
}

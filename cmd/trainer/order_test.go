package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/data"
)

// trainer order prints the loader's order for the seed and epoch given: a
// permutation of the split that changes with the epoch, the manifest order
// with --no-shuffle.
func TestOrderCommand(t *testing.T) {
	out := dataset(t, t.TempDir(), "tiny")
	lines := func(args ...string) []int {
		t.Helper()
		code, stdout, stderr := runTrainer(t, append([]string{"order", "--shards", out}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var got []int
		for _, l := range strings.Fields(stdout) {
			i, err := strconv.Atoi(l)
			if err != nil {
				t.Fatalf("line %q", l)
			}
			got = append(got, i)
		}
		return got
	}
	ds, err := data.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	br, err := ds.BatchRows("train")
	if err != nil {
		t.Fatal(err)
	}
	e0, e1 := lines("--seed", "7"), lines("--seed", "7", "--epoch", "1", "--window", "50")
	if want := data.Order(br, true, 7, 0, 0); !slices.Equal(e0, want) {
		t.Fatalf("epoch 0: %v, want %v", e0, want)
	}
	if want := data.Order(br, true, 7, 1, 50); !slices.Equal(e1, want) {
		t.Fatalf("epoch 1: %v, want %v", e1, want)
	}
	if n := ds.Rows("train"); len(e0) != n || slices.Equal(e0, e1) || fmt.Sprint(slices.Sorted(slices.Values(e0))) != fmt.Sprint(seqInts(n)) {
		t.Fatalf("not a new permutation of %d rows: %v", n, e0)
	}
	if got := lines("--split", "test", "--no-shuffle"); !slices.Equal(got, seqInts(ds.Rows("test"))) {
		t.Fatalf("--no-shuffle: %v", got)
	}
	if code, _, stderr := runTrainer(t, "order", "--shards", out, "--split", "nope"); code != 2 || !strings.Contains(stderr, `unknown split "nope", want train, val or test`) {
		t.Fatalf("unknown split: exit %d, %s", code, stderr)
	}
	if code, _, _ := runTrainer(t, "order"); code != 2 {
		t.Fatalf("no --shards: exit %d, want 2", code)
	}
}

func seqInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

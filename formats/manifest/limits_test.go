package manifest

import (
	"math"
	"testing"
)

// Validate's limits, at the edge: the largest image a manifest may describe
// is 1<<24 elements, counts may add up to exactly the largest int, and zero
// is a valid count of rows, bytes or labels of a class.
func TestValidateAtTheLimits(t *testing.T) {
	const maxElems = 1 << 24
	image := func(h, w, c int) func(*Manifest) {
		return func(m *Manifest) {
			m.Image.Height, m.Image.Width, m.Image.Channels = h, w, c
			m.Normalize.Mean, m.Normalize.Std = make(Values, c), make(Values, c)
			for i := range c {
				m.Normalize.Mean[i], m.Normalize.Std[i] = 0.1, 0.3
			}
		}
	}
	counts := func(labels []int, shards ...int) func(*Manifest) {
		return func(m *Manifest) {
			sp := &m.Splits[0]
			sp.Labels, sp.Rows, sp.Shards = labels, 0, nil
			for _, l := range labels {
				sp.Rows += l
			}
			for i, r := range shards {
				sp.Shards = append(sp.Shards, Shard{Path: ShardName("train", i, len(shards), ".arrow"), Rows: r, Bytes: 100, SHA256: h64, DataSHA256: h64})
			}
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*Manifest)
		ok   bool
	}{
		{"1x1x1", image(1, 1, 1), true},
		{"4096x4096x1", image(1<<12, 1<<12, 1), true},
		{"1x(1<<24)x1", image(1, maxElems, 1), true},
		{"2x3 with the most channels", image(2, 3, maxElems/6), true},
		{"0 high", image(0, 4, 1), false},
		{"0 wide", image(4, 0, 1), false},
		{"0 channels", image(4, 4, 0), false},
		{"4096x4097x1", image(1<<12, 1<<12+1, 1), false},
		{"4096x4096x2", image(1<<12, 1<<12, 2), false},
		{"2x3 with one channel too many", image(2, 3, maxElems/6+1), false},
		{"a class with no rows", counts([]int{0, 3}, 3), true},
		{"a shard of no rows", counts([]int{1, 2}, 3, 0), true},
		{"label counts up to the largest int", counts([]int{math.MaxInt - 1, 1}, math.MaxInt), true},
		{"label counts past the largest int", counts([]int{math.MaxInt, 1}, math.MaxInt), false},
		{"shard rows up to the largest int", counts([]int{math.MaxInt, 0}, math.MaxInt-1, 1), true},
		{"shard rows past the largest int", counts([]int{math.MaxInt, 0}, math.MaxInt, 1), false},
		{"a shard of no bytes", func(m *Manifest) { m.Splits[0].Shards[0].Bytes = 0 }, true},
	} {
		m := valid()
		tc.edit(m)
		if err := m.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok = %v", tc.name, err, tc.ok)
		}
	}
}

// Values.UnmarshalJSON is exported: blank input is an error, not a panic.
func TestValuesUnmarshalBlank(t *testing.T) {
	var v Values
	for _, in := range []string{"", "  \n"} {
		if err := v.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// A version id of 12 digits or fewer is its own short form.
func TestShortOfShortVersions(t *testing.T) {
	for in, want := range map[string]string{h64: h64[:12], h64[:13]: h64[:12], h64[:12]: h64[:12], "abc": "abc", "": ""} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
}

// Several values are written as their JSON array (shard metadata bytes
// depend on it: 1e-7, not 1e-07); values JSON cannot hold (NaN, ±Inf)
// still come out readable rather than empty.
func TestValuesTextOfSeveral(t *testing.T) {
	for _, c := range []struct {
		v    Values
		want string
	}{
		{Values{1e-7, 2}, `[1e-7,2]`},
		{Values{math.NaN(), 1}, `[NaN,1]`},
		{Values{math.Inf(1), math.Inf(-1)}, `[+Inf,-Inf]`},
	} {
		if got := c.v.Text(); got != c.want {
			t.Errorf("%v: text %q, want %q", c.v, got, c.want)
		}
	}
}

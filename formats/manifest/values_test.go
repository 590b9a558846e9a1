package manifest

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// One channel keeps the plain-number form every existing manifest and shard
// has; more channels use an array.
func TestValuesEncoding(t *testing.T) {
	for _, c := range []struct {
		v          Values
		json, text string
	}{
		{Values{0.1307}, `0.1307`, `0.1307`},
		{Values{1e-7}, `1e-7`, `1e-07`},
		{Values{0.49, 0.48, 0.45}, `[0.49,0.48,0.45]`, `[0.49,0.48,0.45]`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.json {
			t.Errorf("%v: JSON %s, %v; want %s", c.v, b, err, c.json)
		}
		var back Values
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(c.v) {
			t.Errorf("%s: decoded %v, %v", b, back, err)
		}
		if got := c.v.Text(); got != c.text {
			t.Errorf("%v: text %q, want %q", c.v, got, c.text)
		}
		p, err := ParseValues(c.text)
		if err != nil || !p.Equal(c.v) {
			t.Errorf("%q: parsed %v, %v", c.text, p, err)
		}
	}
	// The struct form matches what a float64 field wrote.
	b, _ := json.Marshal(Normalize{Mode: "compute", Mean: Values{0.5}, Std: Values{0.25}})
	old, _ := json.Marshal(struct {
		Mode string  `json:"mode"`
		Mean float64 `json:"mean"`
		Std  float64 `json:"std"`
	}{"compute", 0.5, 0.25})
	if string(b) != string(old) {
		t.Fatalf("single-channel JSON %s, want %s", b, old)
	}
	for _, bad := range []string{"", "[]", "[1,", "x", `["a"]`} {
		if _, err := ParseValues(bad); err == nil {
			t.Errorf("ParseValues(%q) accepted", bad)
		}
	}
	var v Values
	if err := json.Unmarshal([]byte(`"0.5"`), &v); err == nil {
		t.Error("a JSON string decoded as values")
	}
}

func TestBroadcast(t *testing.T) {
	if v, err := (Values{0.5}).Broadcast(3); err != nil || !v.Equal(Values{0.5, 0.5, 0.5}) {
		t.Fatal(v, err)
	}
	if v, err := (Values{1, 2, 3}).Broadcast(3); err != nil || !v.Equal(Values{1, 2, 3}) {
		t.Fatal(v, err)
	}
	if _, err := (Values{1, 2}).Broadcast(3); err == nil || !strings.Contains(err.Error(), "2 values for 3 channels") {
		t.Fatal(err)
	}
}

// Value i of an HWC image is normalized with the stats of channel i mod C.
func TestTablePerChannel(t *testing.T) {
	n := Normalize{Mode: "compute", Mean: Values{0.1, 0.5, 0.9}, Std: Values{0.2, 0.3, 0.4}}
	tab := n.Table()
	if tab.Channels() != 3 {
		t.Fatal(tab.Channels())
	}
	src := []uint8{0, 0, 0, 255, 128, 7}
	dst := make([]float32, len(src))
	tab.Apply(dst, src)
	for i, v := range src {
		c := i % 3
		want := float32((float64(v)/255 - n.Mean[c]) / n.Std[c])
		if dst[i] != want {
			t.Fatalf("value %d (channel %d) -> %v, want %v", i, c, dst[i], want)
		}
		if got := n.Denormalize(c, dst[i]); got != v {
			t.Fatalf("value %d: denormalized to %d, want %d", i, got, v)
		}
	}
}

func TestValidateChannels(t *testing.T) {
	for _, c := range []struct {
		n    Normalize
		ch   int
		want string
	}{
		{Normalize{Mode: "compute", Mean: Values{0.1, 0.2}, Std: Values{0.3}}, 2, "2 means but 1 stds"},
		{Normalize{Mode: "compute", Mean: Values{0.1, 0.2}, Std: Values{0.3, 0}}, 2, "normalize.std[1] 0"},
		{Normalize{Mode: "compute", Mean: Values{0.1, math.NaN()}, Std: Values{0.3, 1}}, 2, "normalize.mean[1] NaN"},
		{Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{0.3}}, 3, "1 mean/std values for 3 channels"},
		{Normalize{Mode: "compute"}, 1, "at least one value"},
	} {
		err := c.n.ValidateFor(c.ch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.n, err, c.want)
		}
	}
	m := valid()
	m.Image.Channels = 3
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "for 3 channels") {
		t.Fatalf("a 3-channel manifest with one mean: %v", err)
	}
	m.Normalize.Mean, m.Normalize.Std = Values{0.1, 0.2, 0.3}, Values{0.3, 0.3, 0.3}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecimals(t *testing.T) {
	if got := (Values{0.1307}).Decimals(6); got != "0.130700" {
		t.Fatal(got)
	}
	if got := (Values{0.1, 0.25}).Decimals(6); got != "[0.100000, 0.250000]" {
		t.Fatal(got)
	}
}

package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
)

func parseNormalize(t *testing.T, norm string) (*Config, error) {
	t.Helper()
	return Parse([]byte(valid+"normalize: "+norm+"\n"), "n.yaml")
}

// normalize: fixed takes a number for every channel or a list of one number
// per channel; the hashed form of a single number is what it always was.
func TestFixedNormalizeValues(t *testing.T) {
	c, err := parseNormalize(t, "{mode: fixed, mean: [0.49, 0.48, 0.45], std: 0.25}")
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err := c.FixedNormalize(3)
	if err != nil || !mean.Equal(manifest.Values{0.49, 0.48, 0.45}) || !std.Equal(manifest.Values{0.25, 0.25, 0.25}) {
		t.Fatalf("mean %v std %v, %v", mean, std, err)
	}
	if _, _, err := c.FixedNormalize(1); err == nil || !strings.Contains(err.Error(), "n.yaml:") || !strings.Contains(err.Error(), "normalize.mean: 3 values for 1 channels") {
		t.Fatalf("three means for one channel: %v", err)
	}
	b, _ := json.Marshal(c.Hashed().Normalize)
	if string(b) != `{"mode":"fixed","mean":[0.49,0.48,0.45],"std":0.25}` {
		t.Fatalf("hashed %s", b)
	}

	one, err := parseNormalize(t, "{mode: fixed, std: 0.5}")
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err = one.FixedNormalize(1)
	if err != nil || !mean.Equal(manifest.Values{0}) || !std.Equal(manifest.Values{0.5}) {
		t.Fatalf("mean left out: %v %v %v", mean, std, err)
	}
	// As with the float64 fields it replaces: a zero mean is left out, a
	// number is a number.
	for _, cse := range []struct{ norm, want string }{
		{"{mode: fixed, std: 0.5}", `{"mode":"fixed","std":0.5}`},
		{"{mode: fixed, mean: 0, std: 0.5}", `{"mode":"fixed","std":0.5}`},
		{"{mode: fixed, mean: 0.1307, std: 0.3081}", `{"mode":"fixed","mean":0.1307,"std":0.3081}`},
		{"{mode: compute}", `{"mode":"compute"}`},
	} {
		c, err := parseNormalize(t, cse.norm)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(c.Hashed().Normalize); string(b) != cse.want {
			t.Errorf("%s hashed as %s, want %s", cse.norm, b, cse.want)
		}
		y, _ := c.Marshal()
		back, err := Parse(y, "back.yaml")
		if err != nil || !back.Normalize.Mean.Equal(c.Normalize.Mean) && !(back.Normalize.Mean.IsZero() && c.Normalize.Mean.IsZero()) || !back.Normalize.Std.Equal(c.Normalize.Std) {
			t.Errorf("%s: YAML round trip %+v, %v", cse.norm, back.Normalize, err)
		}
	}
}

func TestFixedNormalizeRejects(t *testing.T) {
	for _, c := range []struct{ norm, want string }{
		{"{mode: fixed, mean: [0.1, 0.2], std: [0.3, 0.3, 0.3]}", "2 means but 3 stds"},
		{"{mode: fixed, mean: 0.1, std: [0.3, 0]}", "std > 0"},
		{"{mode: fixed, mean: [0.1, .nan], std: 0.3}", "std > 0, got mean=[0.1,NaN]"},
		{"{mode: fixed, mean: 0.1, std: []}", "std > 0"},
		{"{mode: fixed, mean: zero, std: 1}", "expected a number or a list of numbers"},
		{"{mode: compute, mean: [0.1, 0.2]}", "only used with mode: fixed"},
	} {
		_, err := parseNormalize(t, c.norm)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "n.yaml") {
			t.Errorf("%s: error %v, want %q", c.norm, err, c.want)
		}
	}
}

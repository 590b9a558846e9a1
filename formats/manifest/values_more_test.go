package manifest

import (
	"encoding/json"
	"testing"
)

// IsZero is true for no values and for the single value 0 (how an absent
// mean or std used to be written), false for anything else.
func TestValuesIsZero(t *testing.T) {
	for _, c := range []struct {
		v    Values
		want bool
	}{{nil, true}, {Values{}, true}, {Values{0}, true}, {Values{0.5}, false}, {Values{0, 0}, false}, {Values{1, 0}, false}} {
		if got := c.v.IsZero(); got != c.want {
			t.Errorf("%v: IsZero %v, want %v", c.v, got, c.want)
		}
	}
}

// Two normalizations are equal when mode, means and stds all are.
func TestNormalizeEqual(t *testing.T) {
	a := Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{0.3}}
	for _, c := range []struct {
		b    Normalize
		want bool
	}{
		{Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{0.3}}, true},
		{Normalize{Mode: "fixed", Mean: Values{0.1}, Std: Values{0.3}}, false},
		{Normalize{Mode: "compute", Mean: Values{0.2}, Std: Values{0.3}}, false},
		{Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{0.4}}, false},
	} {
		if got := a.Equal(c.b); got != c.want {
			t.Errorf("%+v: Equal %v, want %v", c.b, got, c.want)
		}
	}
}

// The YAML forms: a number or a list in, one value as a number and several
// as a list out; anything else is an error. (The unmarshal function stands in
// for a YAML library's, decoding the same document into what it is given.)
func TestValuesYAMLForms(t *testing.T) {
	from := func(doc string) func(any) error {
		return func(v any) error { return json.Unmarshal([]byte(doc), v) }
	}
	for doc, want := range map[string]Values{`0.5`: {0.5}, `[0.49, 0.48]`: {0.49, 0.48}, `[0.5]`: {0.5}} {
		var v Values
		if err := v.UnmarshalYAML(from(doc)); err != nil || !v.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", doc, v, err, want)
		}
	}
	var v Values
	if err := v.UnmarshalYAML(from(`"x"`)); err == nil {
		t.Error(`"x" accepted`)
	}
	if out, _ := (Values{0.5}).MarshalYAML(); out != 0.5 {
		t.Errorf("one value marshals as %#v", out)
	}
	if out, _ := (Values{1, 2}).MarshalYAML(); !Values(out.([]float64)).Equal(Values{1, 2}) {
		t.Errorf("two values marshal as %#v", out)
	}
}

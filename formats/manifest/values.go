package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Values holds one number per image channel: a normalization mean or std.
//
// The encoding keeps single-channel datasets exactly as they always were
// while allowing more channels:
//
//   - JSON (manifest.json, configs embedded in it): one value is a JSON
//     number (0.1307), more values are a JSON array of numbers
//     ([0.49,0.48,0.45]). Decoding accepts either form.
//   - Text (shard schema metadata, [Values.Text]): one value is Go's
//     shortest round-tripping 'g' form (strconv.FormatFloat(v, 'g', -1, 64),
//     e.g. "0.1307" or "1e-07"), more values are the JSON array form.
//     [ParseValues] accepts either.
//
// A reader in another language decodes both the same way: a text starting
// with '[' is a JSON array, anything else is one decimal number.
type Values []float64

// MarshalJSON writes one value as a number and several as an array.
func (v Values) MarshalJSON() ([]byte, error) {
	if len(v) == 1 {
		return json.Marshal(v[0])
	}
	return json.Marshal([]float64(v))
}

// UnmarshalJSON reads a number or an array of numbers.
func (v *Values) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var a []float64
		if err := json.Unmarshal(b, &a); err != nil {
			return err
		}
		*v = a
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*v = Values{f}
	return nil
}

// IsZero reports whether v is absent or the single value 0, which is how a
// plain float64 field used to be left out (json omitzero, yaml omitempty).
func (v Values) IsZero() bool { return len(v) == 0 || len(v) == 1 && v[0] == 0 }

// Text is the shard-metadata form of v (see [Values]).
func (v Values) Text() string {
	if len(v) == 1 {
		return strconv.FormatFloat(v[0], 'g', -1, 64)
	}
	b, err := json.Marshal([]float64(v))
	if err != nil { // NaN or ±Inf: not valid JSON; keep the text readable
		parts := make([]string, len(v))
		for i, f := range v {
			parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return string(b)
}

// Decimals writes v for people, each value with n decimals: "0.130700" for
// one value, "[0.490000, 0.480000, 0.450000]" for more.
func (v Values) Decimals(n int) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = strconv.FormatFloat(f, 'f', n, 64)
	}
	if len(v) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ParseValues reads the text form written by [Values.Text].
func ParseValues(s string) (Values, error) {
	if strings.HasPrefix(s, "[") {
		var a []float64
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return nil, fmt.Errorf("%q is not a JSON array of numbers: %v", s, err)
		}
		if len(a) == 0 {
			return nil, fmt.Errorf("%q holds no values", s)
		}
		return a, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, err
	}
	return Values{f}, nil
}

// Broadcast returns v for n channels: v itself when it has n values, v[0]
// repeated when it has one (a single number applies to every channel).
func (v Values) Broadcast(n int) (Values, error) {
	switch len(v) {
	case n:
		return v, nil
	case 1:
		out := make(Values, n)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	}
	return nil, fmt.Errorf("%d values for %d channels", len(v), n)
}

// Equal reports whether v and o hold the same values.
func (v Values) Equal(o Values) bool {
	if len(v) != len(o) {
		return false
	}
	for i := range v {
		if v[i] != o[i] {
			return false
		}
	}
	return true
}

// UnmarshalYAML reads a number or a sequence of numbers (a config's
// `normalize: {mean: 0.5}` or `{mean: [0.49, 0.48, 0.45]}`). It is the
// unmarshal-function form, which YAML libraries accept without this package
// importing one.
func (v *Values) UnmarshalYAML(unmarshal func(any) error) error {
	var f float64
	if err := unmarshal(&f); err == nil {
		*v = Values{f}
		return nil
	}
	var a []float64
	if err := unmarshal(&a); err != nil {
		return fmt.Errorf("expected a number or a list of numbers")
	}
	*v = a
	return nil
}

// MarshalYAML writes one value as a number and several as a sequence.
func (v Values) MarshalYAML() (any, error) {
	if len(v) == 1 {
		return v[0], nil
	}
	return []float64(v), nil
}

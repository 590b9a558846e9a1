package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The vocabulary fields are checked with the formats/vocab lists; the
// messages name the accepted values in the words they always had.
func TestVocabularyErrors(t *testing.T) {
	base := strings.TrimSuffix(strings.SplitAfter(valid, "split:")[0], "split:")
	for _, c := range []struct{ edit, want string }{
		{"split: {seed: 1}\nnormalize: {mode: zscore}\n", `normalize.mode must be compute, fixed or none, got "zscore"`},
		{"split: {seed: 1}\nshards: {compression: gzip}\n", `shards.compression must be zstd, lz4 or none, got "gzip"`},
		{"split: {seed: 1}\nshards: {format: csv}\n", `shards.format must be arrow or parquet, got "csv"`},
		{"split: {seed: 1, allow_empty: [vall]}\n", `split.allow_empty: "vall" is not a new split name (train, val or test)`},
		{"split: {seed: 1}\naugment: {copies: 1, splits: [tran], ops: [{rotate: {degrees: 1}}]}\n", `augment.splits: unknown split "tran" (train, val or test)`},
	} {
		_, err := Parse([]byte(base+c.edit), "bad.yaml")
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%q: error %v, want …%s", c.edit, err, c.want)
		}
	}
}

// A typed config writes the same words to JSON (the manifest's config and
// the version hash input) and YAML as the strings did.
func TestVocabularyKeepsItsWords(t *testing.T) {
	c, err := Parse([]byte(valid+"normalize: {mode: none}\nshards: {compression: lz4, format: parquet}\n"+
		"augment: {copies: 1, splits: [val, train], ops: [{rotate: {degrees: 1}}]}\n"), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c.Hashed())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"normalize":{"mode":"none"}`, `"compression":"lz4"`, `"format":"parquet"`, `"splits":["train","val"]`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("hashed JSON %s lacks %s", j, want)
		}
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode: none\n", "compression: lz4\n", "format: parquet\n", "splits:\n        - val\n        - train\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("YAML %s lacks %q", y, want)
		}
	}
	back, err := Parse(y, "back.yaml")
	if err != nil || !reflect.DeepEqual(back.Normalize, c.Normalize) || back.Shards != c.Shards || strings.Join(splitNames(back), ",") != "val,train" {
		t.Fatalf("YAML round trip: %+v, %v", back, err)
	}
}

func splitNames(c *Config) []string {
	var s []string
	for _, n := range c.Augment.Splits {
		s = append(s, n.String())
	}
	return s
}

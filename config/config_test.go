package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const valid = `dataset: tiny
mirrors: [file:///data/]
sources:
  train_images: {file: a.gz, sha256: 0000000000000000000000000000000000000000000000000000000000000000}
  train_labels: {file: b.gz, sha256: 1111111111111111111111111111111111111111111111111111111111111111}
  test_images: {file: c.gz, sha256: 2222222222222222222222222222222222222222222222222222222222222222}
  test_labels: {file: d.gz, sha256: 3333333333333333333333333333333333333333333333333333333333333333}
split:
  seed: 1
  val_fraction: 0.1
`

func TestParseValidFillsDefaults(t *testing.T) {
	c, err := Parse([]byte(valid), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Normalize.Mode != "compute" || c.Shards.Rows != 10000 || c.Shards.Compression != "zstd" || len(c.Classes) != 10 || c.Out != "out" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if got := c.URLs(&c.Sources.TestLabels); len(got) != 1 || got[0] != "file:///data/d.gz" {
		t.Fatalf("URLs = %v", got)
	}
}

func TestRealConfigsParse(t *testing.T) {
	files, _ := filepath.Glob("../configs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no configs found")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// Each bad config must fail with an *Error naming the file and the right line.
func TestErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, edit string
		line       int
		want       string
	}{
		{"unknown key", "split:\n  seed: 1\n  val_fractoin: 0.1\n", 10, "val_fractoin"},
		{"fractions", "split:\n  seed: 1\n  val_fraction: 1.5\n", 10, "val_fraction"},
		{"negative fraction", "split:\n  seed: 1\n  val_fraction: -0.1\n", 10, "val_fraction"},
		{"wrong type", "split:\n  seed: one\n", 9, "one"},
		{"both val", "split:\n  seed: 1\n  val_fraction: 0.1\n  val_count: 5\n", 11, "not both"},
		{"negative shard rows", "split: {seed: 1}\nshards:\n  rows: -5\n", 10, "shards.rows"},
		{"negative max bytes", "split: {seed: 1}\nshards:\n  max_bytes: -1\n", 10, "max_bytes"},
		{"bad compression", "split: {seed: 1}\nshards:\n  compression: gzip\n", 10, "compression"},
		{"bad normalize", "split: {seed: 1}\nnormalize:\n  mode: zscore\n", 10, "normalize.mode"},
		{"fixed without std", "split: {seed: 1}\nnormalize:\n  mode: fixed\n  mean: 0.1\n", 9, "std > 0"},
		{"copies without ops", "split: {seed: 1}\naugment:\n  copies: 2\n", 9, "no ops"},
		{"augment unknown split", "split: {seed: 1}\naugment:\n  copies: 1\n  splits: [tran]\n  ops: [{rotate: {degrees: 1}}]\n", 11, "tran"},
		{"allow_empty unknown split", "split:\n  seed: 1\n  allow_empty: [vall]\n", 10, "vall"},
		{"allow_empty twice", "split:\n  seed: 1\n  allow_empty: [test, test]\n", 10, "allow_empty"},
		{"syntax", "split: {seed: 1\n", 0, ""},
	}
	base := strings.SplitAfter(valid, "split:")[0]
	base = strings.TrimSuffix(base, "split:")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(base+c.edit), "bad.yaml")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			if ce.File != "bad.yaml" || !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if c.line != 0 && ce.Line != c.line {
				t.Errorf("error %q at line %d, want %d", err, ce.Line, c.line)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestEmptyAndMissingFile(t *testing.T) {
	if _, err := Parse(nil, "empty.yaml"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty config: %v", err)
	}
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing config: %v", err)
	}
}

func TestHashedIgnoresLocalSettings(t *testing.T) {
	a, err := Parse([]byte(valid), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse([]byte(valid+"out: elsewhere\nworkers: 7\ncache: /c\n"), "b.yaml")
	b.Mirrors = []string{"https://example.invalid/"}
	if !equalJSON(t, a.Hashed(), b.Hashed()) {
		t.Fatal("out/workers/cache/mirrors changed the hashed config")
	}
	b.Split.Seed = 2
	if equalJSON(t, a.Hashed(), b.Hashed()) {
		t.Fatal("split seed did not change the hashed config")
	}
}

func TestAugmentOpsDecode(t *testing.T) {
	c, err := Parse([]byte(valid+"augment:\n  copies: 2\n  seed: 3\n  ops:\n    - rotate: {degrees: 12}\n    - noise: {stddev: 0.05, p: 0.3}\n"), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ops := c.Augment.Ops
	if len(ops) != 2 || ops[0].Op != "rotate" || ops[0].Params["degrees"] != 12 || ops[1].Params["p"] != 0.3 || ops[1].Line != 16 {
		t.Fatalf("ops = %+v", ops)
	}
	if c.Augment.Splits[0] != "train" {
		t.Fatalf("augment splits default = %v", c.Augment.Splits)
	}
	_, err = Parse([]byte(valid+"augment:\n  copies: 1\n  ops:\n    - rotate: {degrees: twelve}\n"), "a.yaml")
	if err == nil || !strings.Contains(err.Error(), "line 14") {
		t.Fatalf("non-numeric op parameter: %v", err)
	}
}

func TestFromJSONRoundTrip(t *testing.T) {
	a, _ := Parse([]byte(valid+"augment:\n  copies: 1\n  ops:\n    - rotate: {degrees: 5}\n"), "a.yaml")
	data := mustJSON(t, a)
	b, err := FromJSON(data, "manifest")
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, a.Hashed(), b.Hashed()) {
		t.Fatal("config changed through its JSON form")
	}
	if _, err := FromJSON([]byte(`{"dataset":"x","bogus":1}`), "m"); err == nil {
		t.Fatal("unknown JSON field accepted")
	}
}

func TestKeepMirrors(t *testing.T) {
	c, err := Load("../configs/mnist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.KeepMirrors("gomod://")
	if len(c.Mirrors) != 1 || !strings.HasPrefix(c.Mirrors[0], "gomod://") {
		t.Fatalf("mirrors %v", c.Mirrors)
	}
}

// allow_empty decides whether a build may finish, not its bytes: it is
// parsed, and it leaves the hashed config (the version) as it was.
func TestAllowEmptyIsNotHashed(t *testing.T) {
	a, err := Parse([]byte(valid), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(valid, "split:", "split:\n  allow_empty: [test]", 1)
	b, err := Parse([]byte(edited), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Split.AllowEmpty) != 1 || b.Split.AllowEmpty[0] != "test" {
		t.Fatalf("allow_empty = %v", b.Split.AllowEmpty)
	}
	if !equalJSON(t, a.Hashed(), b.Hashed()) {
		t.Fatal("allow_empty changed the hashed config")
	}
}

package config

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files in testdata/fuzz/FuzzParse")

const corpusDir = "testdata/fuzz/FuzzParse"

// fuzzName is the file name the fuzz target parses under; errors must name it.
const fuzzName = "fuzz.yaml"

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; it must
// fail only with an *Error naming the file; and what it accepts must
// re-validate and survive a round trip through Marshal and through the JSON
// a manifest embeds with the same hashed part.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../configs/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
	})
}

// checkParse parses data and checks Parse's invariants; it returns the
// parse error.
func checkParse(t *testing.T, data []byte) error {
	c, err := Parse(data, fuzzName)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) || ce.File != fuzzName || ce.Line < 0 {
			t.Fatalf("error %v (%T) is not an *Error naming %s", err, err, fuzzName)
		}
		if !strings.Contains(err.Error(), fuzzName) {
			t.Fatalf("error %q does not name the file", err)
		}
		return err
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("accepted config does not re-validate: %v", err)
	}
	hashed, err := json.Marshal(c.Hashed())
	if err != nil {
		t.Fatalf("hashed part of an accepted config does not encode: %v", err)
	}
	y, err := c.Marshal()
	if err != nil {
		t.Fatalf("accepted config does not marshal: %v", err)
	}
	back, err := Parse(y, fuzzName)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, y)
	}
	if h, _ := json.Marshal(back.Hashed()); string(h) != string(hashed) {
		t.Fatalf("YAML round trip changed the hashed part:\n%s\n%s", hashed, h)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("accepted config does not encode as JSON: %v", err)
	}
	fromJSON, err := FromJSON(j, fuzzName)
	if err != nil {
		t.Fatalf("the JSON of an accepted config is refused: %v\n%s", err, j)
	}
	if h, _ := json.Marshal(fromJSON.Hashed()); string(h) != string(hashed) {
		t.Fatalf("JSON round trip changed the hashed part:\n%s\n%s", hashed, h)
	}
	return nil
}

// seedHead is a valid config up to the point where the seeds differ.
const seedHead = `dataset: tiny
mirrors: [file:///data/]
sources:
  train_images: {file: a.gz, sha256: 0000000000000000000000000000000000000000000000000000000000000000}
  train_labels: {file: b.gz, sha256: 1111111111111111111111111111111111111111111111111111111111111111}
  test_images: {file: c.gz, sha256: 2222222222222222222222222222222222222222222222222222222222222222}
  test_labels: {file: d.gz, sha256: 3333333333333333333333333333333333333333333333333333333333333333}
`

// seeds are the committed corpus: valid-* must parse, bad-* must fail.
func seeds(t *testing.T) map[string]string {
	s := map[string]string{
		"valid-minimal":           seedHead,
		"valid-few-shot":          seedHead + "classes: [a, b, c, d]\nsplit: {seed: 3, val_count: 2, labels: [3, 1], remap: true, per_class: 5}\n",
		"valid-augment":           seedHead + "augment:\n  copies: 2\n  seed: 9\n  ops:\n    - rotate: {degrees: 10, p: 0.5}\n    - erase: {max_fraction: 0.2}\n    - noise:\n",
		"valid-fixed":             seedHead + "normalize: {mode: fixed, mean: 0.5, std: 0.25}\nshards: {rows: 7, max_bytes: 4096, batch_rows: 3, compression: none, format: parquet}\nworkers: 2\nout: o\ncache: c\n",
		"valid-urls":              strings.Replace(seedHead, "{file: d.gz,", "{urls: [\"https://example.org/d.gz\"],", 1),
		"valid-anchors":           seedHead + "split: &s {seed: 1}\naugment: {splits: [val, test]}\n",
		"bad-empty":               "",
		"bad-blank":               "  \n\t\n",
		"bad-syntax":              seedHead + "split: {seed: 1\n",
		"bad-tab-indent":          seedHead + "split:\n\tseed: 1\n",
		"bad-unknown-key":         seedHead + "shards_rows: 5\n",
		"bad-nested-unknown-key":  seedHead + "split:\n  seed: 1\n  val_fractoin: 0.1\n",
		"bad-wrong-type":          seedHead + "split: {seed: one}\n",
		"bad-list-for-map":        seedHead + "shards: [1, 2]\n",
		"bad-negative-shard-rows": seedHead + "shards: {rows: -5}\n",
		"bad-negative-max-bytes":  seedHead + "shards: {max_bytes: -1}\n",
		"bad-val-fraction":        seedHead + "split: {val_fraction: 1.5}\n",
		"bad-val-fraction-nan":    seedHead + "split: {val_fraction: .nan}\n",
		"bad-both-val":            seedHead + "split: {val_fraction: 0.1, val_count: 5}\n",
		"bad-label-range":         seedHead + "split: {labels: [1, 10]}\n",
		"bad-remap-alone":         seedHead + "split: {remap: true}\n",
		"bad-sha256":              strings.Replace(seedHead, "sha256: 0000", "sha256: 00zz", 1),
		"bad-no-mirrors":          strings.Replace(seedHead, "mirrors: [file:///data/]\n", "", 1),
		"bad-dataset-name":        strings.Replace(seedHead, "dataset: tiny", "dataset: ../up", 1),
		"bad-normalize":           seedHead + "normalize: {mode: fixed, std: 0}\n",
		"bad-compression":         seedHead + "shards: {compression: gzip}\n",
		"bad-copies-without-ops":  seedHead + "augment: {copies: 3}\n",
		"bad-op-shape":            seedHead + "augment: {copies: 1, ops: [rotate]}\n",
		"bad-op-params":           seedHead + "augment: {copies: 1, ops: [{rotate: {degrees: ten}}]}\n",
		"bad-huge-int":            seedHead + "shards: {rows: 99999999999999999999999}\n",
		"bad-duplicate-key":       seedHead + "dataset: again\n",
		"bad-alias-bomb":          "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
		"bad-deep-nesting":        "dataset: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
		"bad-document-list":       "- dataset: tiny\n",
		"two-documents":           seedHead + "---\ndataset: other\n",
	}
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s["valid-configs-"+strings.TrimSuffix(filepath.Base(p), ".yaml")] = string(b)
	}
	return s
}

// TestFuzzCorpus runs the committed seeds (rewritten with -update-corpus)
// through the fuzz invariants and checks that each is accepted or refused
// as its name says.
func TestFuzzCorpus(t *testing.T) {
	if *updateCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range seeds(t) {
			file := "go test fuzz v1\n[]byte(" + strconv.Quote(text) + ")\n"
			if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	valid, bad := 0, 0
	for _, ent := range entries {
		text, err := os.ReadFile(filepath.Join(corpusDir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data := parseCorpusFile(t, ent.Name(), string(text))
		err = checkParse(t, data)
		switch {
		case strings.HasPrefix(ent.Name(), "valid-"):
			valid++
			if err != nil {
				t.Errorf("%s: %v", ent.Name(), err)
			}
		case strings.HasPrefix(ent.Name(), "bad-"):
			bad++
			if err == nil {
				t.Errorf("%s: accepted", ent.Name())
			}
		}
	}
	if valid < 5 || bad < 20 {
		t.Fatalf("corpus holds %d valid and %d bad seeds (run with -update-corpus)", valid, bad)
	}
}

// parseCorpusFile decodes a "go test fuzz v1" file holding one []byte.
func parseCorpusFile(t *testing.T, name, text string) []byte {
	t.Helper()
	body, ok := strings.CutPrefix(text, "go test fuzz v1\n[]byte(")
	body, ok2 := strings.CutSuffix(body, ")\n")
	if !ok || !ok2 {
		t.Fatalf("%s: not a go test fuzz v1 file holding one []byte", name)
	}
	s, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

package config

import (
	"fmt"
	"strings"
	"testing"
)

// idxBase is valid without its split section, for tests that add their own.
var idxBase = strings.Replace(valid, "split:\n  seed: 1\n  val_fraction: 0.1\n", "", 1)

// Every documented limit is inclusive where the message says so: the value
// at the limit is accepted, one step beyond it is refused.
func TestLimitsAreInclusive(t *testing.T) {
	classes := func(n int) string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("c%d", i)
		}
		return "classes: [" + strings.Join(names, ", ") + "]\n"
	}
	tree := func(h, w int) string {
		return strings.Replace(treeValid, "image: {height: 32, width: 24, channels: 3}", fmt.Sprintf("image: {height: %d, width: %d, channels: 3}", h, w), 1)
	}
	for _, tc := range []struct {
		name    string
		yaml    string
		wantErr string // "" = accepted
	}{
		{"256 classes", idxBase + classes(256), ""},
		{"257 classes", idxBase + classes(257), "classes must list 1 to 256"},
		{"val_fraction 0", idxBase + "split: {seed: 1, val_fraction: 0}\n", ""},
		{"val_fraction 0.999", idxBase + "split: {seed: 1, val_fraction: 0.999}\n", ""},
		{"val_fraction 1", idxBase + "split: {seed: 1, val_fraction: 1}\n", "val_fraction must be in [0, 1)"},
		{"val_fraction -0.1", idxBase + "split: {seed: 1, val_fraction: -0.1}\n", "val_fraction must be in [0, 1)"},
		{"1000 copies", idxBase + "augment: {copies: 1000, ops: [rotate: {degrees: 3}]}\n", ""},
		{"1001 copies", idxBase + "augment: {copies: 1001, ops: [rotate: {degrees: 3}]}\n", "augment.copies must be in [0, 1000]"},
		{"-1 copies", idxBase + "augment: {copies: -1, ops: [rotate: {degrees: 3}]}\n", "augment.copies must be in [0, 1000]"},
		{"shards of 1 row", idxBase + "shards: {rows: 1, batch_rows: 1}\n", ""},
		{"shards of -1 rows", idxBase + "shards: {rows: -1}\n", "shards.rows must be ≥ 1"},
		{"batches of -1 rows", idxBase + "shards: {batch_rows: -1}\n", "shards.batch_rows must be ≥ 1"},
		{"image 1x1", tree(1, 1), ""},
		{"image 4096x4096", tree(MaxImageSide, MaxImageSide), ""},
		{"image 0 high", tree(0, 5), "height and width must be in [1, 4096]"},
		{"image 4097 high", tree(MaxImageSide+1, 5), "height and width must be in [1, 4096]"},
		{"image 0 wide", tree(5, 0), "height and width must be in [1, 4096]"},
		{"image 4097 wide", tree(5, MaxImageSide+1), "height and width must be in [1, 4096]"},
		{"content_sha256 alone", strings.Replace(idxBase, "{file: a.gz, sha256: 0000000000000000000000000000000000000000000000000000000000000000}",
			"{file: a.gz, content_sha256: 0000000000000000000000000000000000000000000000000000000000000000}", 1), ""},
		{"no digest", strings.Replace(idxBase, "{file: a.gz, sha256: 0000000000000000000000000000000000000000000000000000000000000000}",
			"{file: a.gz}", 1), "needs sha256 (of the file as fetched) or content_sha256"},
		{"one mean for three stds", idxBase + "normalize: {mode: fixed, mean: [0.5], std: [0.2, 0.3, 0.4]}\n", ""},
		{"three means for one std", idxBase + "normalize: {mode: fixed, mean: [0.1, 0.2, 0.3], std: [0.5]}\n", ""},
		{"two means for three stds", idxBase + "normalize: {mode: fixed, mean: [0.1, 0.2], std: [0.2, 0.3, 0.4]}\n", "2 means but 3 stds"},
	} {
		_, err := Parse([]byte(tc.yaml), "limits.yaml")
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.wantErr)
		}
	}
}

// An error that knows no line says so by leaving the line out, not by
// printing "line 0".
func TestErrorWithoutLine(t *testing.T) {
	if got := (&Error{File: "a.yaml", Msg: "bad"}).Error(); got != "config a.yaml: bad" {
		t.Errorf("got %q", got)
	}
	if got := (&Error{File: "a.yaml", Line: 3, Msg: "bad"}).Error(); got != "config a.yaml: line 3: bad" {
		t.Errorf("got %q", got)
	}
}

// An op written with an empty value has no parameters, like one written
// with nothing after the colon.
func TestAugmentOpWithEmptyValue(t *testing.T) {
	for _, op := range []string{`rotate:`, `rotate: ""`, `rotate: ~`, `rotate: {}`} {
		c, err := Parse([]byte(idxBase+"augment:\n  copies: 1\n  ops:\n    - "+op+"\n"), "a.yaml")
		if err != nil {
			t.Errorf("%s: %v", op, err)
			continue
		}
		if o := c.Augment.Ops[0]; o.Op != "rotate" || len(o.Params) != 0 {
			t.Errorf("%s: op %+v", op, o)
		}
	}
}

// Without copies nothing is augmented, and the resolved configuration (as
// embedded in a manifest) names no augmented splits.
func TestNoCopiesNoAugmentSplits(t *testing.T) {
	c, err := Parse([]byte(idxBase), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Augment.Splits != nil {
		t.Errorf("augment splits %v without copies", c.Augment.Splits)
	}
	c, err = Parse([]byte(idxBase+"augment: {copies: 2, ops: [rotate: {degrees: 3}]}\n"), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Augment.Splits) != 1 || c.Augment.Splits[0] != "train" {
		t.Errorf("augment splits %v, want the default [train]", c.Augment.Splits)
	}
}

// The hashed form of image-tree sources says whether there is a test
// split: a tree config gains or loses its test images, its version changes.
func TestHashedTreeSourcesNameTheTestSplit(t *testing.T) {
	with, err := Parse([]byte(treeValid), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	without, err := Parse([]byte(strings.Replace(treeValid, "  test: {csv: lists/test.csv, root: data/all}\n", "", 1)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if h := with.Hashed().Sources; len(h) != 2 || h["train"] != "images" || h["test"] != "images" {
		t.Errorf("with a test tree: %v", h)
	}
	if h := without.Hashed().Sources; len(h) != 1 || h["train"] != "images" {
		t.Errorf("without a test tree: %v", h)
	}
}

package prep

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/idx"
)

// A split that the settings or the sources leave empty fails the build at
// prep time, naming the split and the counts, before anything is written;
// listing it in split.allow_empty (or not asking for val) builds the rest.
func TestEmptySplitIsAnErrorUnlessAllowed(t *testing.T) {
	ts := writeTiny(t, 200, 40, 3, 3, 61)
	// Label 9 is in train but not in test.
	for i, l := range ts.testLabels {
		if l == 9 {
			ts.testLabels[i] = 0
		}
	}
	ts.write(t, "test_labels", idx.Header{Type: idx.U8, Dims: []int{len(ts.testLabels)}}, ts.testLabels)
	cases := []struct {
		name, yaml string
		want       []string // in the error; nil: the build succeeds
		splits     []string // splits of a successful build
	}{
		{"val fraction rounds to nothing", "split: {seed: 1, val_fraction: 0.001}\n",
			[]string{"split val would be empty", "200 images (200 to train, 0 to val", "val_fraction 0.001", "allow_empty"}, nil},
		{"val fraction allowed empty", "split: {seed: 1, val_fraction: 0.001, allow_empty: [val]}\n", nil, []string{"train", "test"}},
		{"no val asked for", "split: {seed: 1}\n", nil, []string{"train", "test"}},
		{"label filter empties test", "split: {seed: 1, val_fraction: 0.1, labels: [9]}\n",
			[]string{"split test would be empty", "test file 40 (0 to test, 40 dropped)", "split.labels [9]"}, nil},
		{"label filter, test allowed empty", "split: {seed: 1, val_fraction: 0.1, labels: [9], allow_empty: [test]}\n", nil, []string{"train", "val"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ts.config(t, c.yaml)
			out := t.TempDir()
			res, err := Build(context.Background(), cfg, testOptions(t, out))
			if c.want != nil {
				var ce *config.Error
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a config error", err)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if left := leftovers(t, out+"/tiny"); len(left) != 0 {
					t.Fatalf("left behind: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range res.Manifest.Splits {
				got = append(got, s.Name.String())
			}
			if strings.Join(got, ",") != strings.Join(c.splits, ",") {
				t.Fatalf("splits %v, want %v", got, c.splits)
			}
		})
	}
}

// A test source with no image at all is an empty split too.
func TestEmptyTestSourceIsAnError(t *testing.T) {
	ts := writeTiny(t, 50, 0, 3, 3, 62)
	_, err := Build(context.Background(), ts.config(t, "split: {seed: 1}\n"), testOptions(t, t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "split test would be empty") || !strings.Contains(err.Error(), "the test file 0") {
		t.Fatalf("err = %v", err)
	}
	res := build(t, ts.config(t, "split: {seed: 1, allow_empty: [test]}\n"), testOptions(t, t.TempDir()))
	if len(res.Manifest.Splits) != 1 || res.Manifest.Splits[0].Name != "train" || res.Manifest.Splits[0].Rows != 50 {
		t.Fatalf("splits %+v", res.Manifest.Splits)
	}
}

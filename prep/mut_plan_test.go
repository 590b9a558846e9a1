package prep

import (
	"errors"
	"testing"

	"github.com/shardsmith/shardsmith/config"
)

// A split left empty fails the plan with one message that names every empty
// split, counts where each file's images went and lists the settings that
// emptied it — only the settings in use, none when it is the sources. The
// counts here are small enough to check by hand: train labels 0 0 1 1 9,
// test labels 0 1.
func TestEmptySplitMessageCountsEveryImage(t *testing.T) {
	ts := writeTiny(t, 5, 2, 2, 2, 3)
	train, test := []uint8{0, 0, 1, 1, 9}, []uint8{0, 1}
	const tail = "; change the split settings or the sources, or list the split in split.allow_empty if an empty one is intended"
	cases := []struct {
		name, yaml  string
		train, test []uint8
		want        string // "" : the plan succeeds
	}{
		{"label filter empties test", "split: {seed: 1, labels: [9]}\n", train, test,
			"split test would be empty: the train file holds 5 images (1 to train, 0 to val, 4 dropped) and the test file 2 (0 to test, 2 dropped) with split.labels [9]"},
		{"val fraction rounds to nothing", "split: {seed: 1, val_fraction: 0.001}\n", train, test,
			"split val would be empty: the train file holds 5 images (5 to train, 0 to val, 0 dropped) and the test file 2 (2 to test, 0 dropped) with split.val_fraction 0.001"},
		{"both", "split: {seed: 1, labels: [9], val_fraction: 0.001}\n", train, test,
			"split val and test would be empty: the train file holds 5 images (1 to train, 0 to val, 4 dropped) and the test file 2 (0 to test, 2 dropped) with split.labels [9], split.val_fraction 0.001"},
		{"per class", "split: {seed: 1, labels: [9], per_class: 1}\n", train, test,
			"split test would be empty: the train file holds 5 images (1 to train, 0 to val, 4 dropped) and the test file 2 (0 to test, 2 dropped) with split.labels [9], split.per_class 1"},
		{"no test images, no setting to blame", "split: {seed: 1}\n", train, nil,
			"split test would be empty: the train file holds 5 images (5 to train, 0 to val, 0 dropped) and the test file 0 (0 to test, 0 dropped)"},
		{"val count of one", "split: {seed: 1, val_count: 1}\n", train, test, ""},
		{"no val asked for", "split: {seed: 1}\n", train, test, ""},
		{"test allowed empty", "split: {seed: 1, labels: [9], allow_empty: [test]}\n", train, test, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ts.config(t, c.yaml)
			lay, err := planLayout(cfg, c.train, c.test, 4)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				rows := 0
				for _, p := range lay.plans {
					rows += p.rows
				}
				if int64(rows) != lay.totalRows {
					t.Fatalf("plans hold %d rows, total %d", rows, lay.totalRows)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a config error", err)
			}
			if ce.Msg != c.want+tail {
				t.Errorf("message\n  %s\nwant\n  %s", ce.Msg, c.want+tail)
			}
		})
	}
}

package prep

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// receiptOf is a receipt of partition p of n for a version of two train
// shards and one test shard, listing the given shards.
func receiptOf(p, n int, shards ...ReceiptShard) *Receipt {
	return &Receipt{Format: ReceiptFormat, Dataset: "tiny", Version: strings.Repeat("ab", 32), Partition: p, Partitions: n,
		Assignment: Assignment, Manifest: &manifest.Manifest{Dataset: "tiny"},
		Splits: []ReceiptSplit{{Name: vocab.Train, Rows: 7, Shards: 2}, {Name: vocab.Test, Rows: 3, Shards: 1}},
		Shards: append([]ReceiptShard{}, shards...)}
}

func receiptShard(split vocab.Split, idx, n int) ReceiptShard {
	return ReceiptShard{Split: split, Index: idx, Shard: manifest.Shard{Path: manifest.ShardName(split, idx, n, ".arrow"), Rows: 1}}
}

// A receipt is read strictly: each of its shards must be a shard of a split
// it lists, by index in range and by the name that index gives it; anything
// else in or after the JSON is an error saying what and where.
func TestParseReceiptIsStrict(t *testing.T) {
	good := receiptOf(0, 1, receiptShard(vocab.Train, 0, 2), receiptShard(vocab.Train, 1, 2), receiptShard(vocab.Test, 0, 1))
	data, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseReceipt(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Shards) != 3 || r.Shards[1].Index != 1 || r.Shards[2].Split != vocab.Test {
		t.Fatalf("parsed %+v", r.Shards)
	}
	edit := func(f func(r *Receipt)) []byte {
		r := receiptOf(0, 1, receiptShard(vocab.Train, 0, 2))
		f(r)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := []struct {
		name string
		data []byte
		want string // the whole message
	}{
		{"index below 0", edit(func(r *Receipt) { r.Shards[0].Index = -1 }), "shard train-00000-of-00002.arrow: index -1, but split train has 2 shards"},
		{"index at the count", edit(func(r *Receipt) { r.Shards[0] = receiptShard(vocab.Train, 2, 2) }), "shard train-00002-of-00002.arrow: index 2, but split train has 2 shards"},
		{"split not listed", edit(func(r *Receipt) { r.Shards[0] = receiptShard(vocab.Val, 0, 1) }), "shard val-00000-of-00001.arrow: index 0, but split val has 0 shards"},
		{"unknown split", edit(func(r *Receipt) { r.Shards[0].Split = "dev" }), `shard train-00000-of-00002.arrow: unknown split "dev"`},
		{"name of another index", edit(func(r *Receipt) { r.Shards[0].Index = 1 }), "shard train-00000-of-00002.arrow: expected the name train-00001-of-00002.arrow for shard 1 of split train"},
		{"format", edit(func(r *Receipt) { r.Format = "x/1" }), `format "x/1", expected "` + ReceiptFormat + `"`},
		{"assignment", edit(func(r *Receipt) { r.Assignment = "blocks" }), `assignment "blocks", expected "` + Assignment + `"`},
		{"no manifest", edit(func(r *Receipt) { r.Manifest = nil }), "no manifest"},
		{"trailing data", append(edit(func(*Receipt) {}), " {}"...), "trailing data after the receipt"},
		{"truncated", data[:40], "truncated at 40 bytes: unexpected EOF"},
		{"syntax", []byte(`{"format": x}`), "offset 12: invalid character 'x' looking for beginning of value"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseReceipt(c.data)
			if err == nil || err.Error() != c.want {
				t.Errorf("err = %v\nwant   %s", err, c.want)
			}
		})
	}
	if _, err := parseReceipt(append([]byte(`{"extra": 1, `), data[1:]...)); err == nil || !strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Errorf("unknown field: err = %v", err)
	}
}

// The commit takes receipts that list exactly the shards the round-robin
// assignment gives each partition, with splits in train, val, test order;
// it names every partition that disagrees, and where two receipts describe
// the version otherwise, the first byte where they differ.
func TestCheckReceipts(t *testing.T) {
	tr := func(i int) ReceiptShard { return receiptShard(vocab.Train, i, 2) }
	te := receiptShard(vocab.Test, 0, 1)
	// Shards in sequence: train 0, train 1, test 0; over two partitions
	// 0 owns train 0 and test 0, 1 owns train 1.
	ok := []*Receipt{receiptOf(0, 2, tr(0), te), receiptOf(1, 2, tr(1))}
	if err := checkReceipts("stage", ok); err != nil {
		t.Fatal(err)
	}
	problems := func(err error) string {
		var ce *CommitError
		if !errors.As(err, &ce) || ce.Dir != "stage" {
			t.Fatalf("err = %v, want a commit error for the stage", err)
		}
		return strings.Join(ce.Problems, "\n")
	}
	cases := []struct {
		name     string
		receipts []*Receipt
		want     string
	}{
		{"shard of another partition", []*Receipt{receiptOf(0, 2, tr(0), tr(1)), receiptOf(1, 2, tr(1))},
			"partition 0/2 lists the shards [train 0 train 1], but the assignment gives it [train 0 test 0]"},
		{"two wrong", []*Receipt{receiptOf(0, 2, te), receiptOf(1, 2)},
			"partition 0/2 lists the shards [test 0], but the assignment gives it [train 0 test 0]\n" +
				"partition 1/2 lists the shards [], but the assignment gives it [train 1]"},
		{"splits differ", func() []*Receipt {
			r := receiptOf(1, 2, tr(1))
			r.Splits[1].Rows = 4
			return []*Receipt{receiptOf(0, 2, tr(0), te), r}
		}(), "partition 1/2 has the splits [{train 7 2} {test 4 1}], partition 0/2 has [{train 7 2} {test 3 1}]"},
		{"manifests differ", func() []*Receipt {
			r := receiptOf(1, 2, tr(1))
			r.Manifest.Dataset = "tinx"
			return []*Receipt{receiptOf(0, 2, tr(0), te), r}
		}(), `partition 1/2 describes the version otherwise than partition 0/2 (statistics, sources or config differ): at byte 15: …{"dataset":"tiny","version":"","tool":"","created":"","… vs …{"dataset":"tinx","version":"","tool":"","created":"","…`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := problems(checkReceipts("stage", c.receipts)); got != c.want {
				t.Errorf("problems\n  %s\nwant\n  %s", got, c.want)
			}
		})
	}
	for name, splits := range map[string][]ReceiptSplit{
		"test before train": {{Name: vocab.Test, Rows: 3, Shards: 1}, {Name: vocab.Train, Rows: 7, Shards: 2}},
		"train twice":       {{Name: vocab.Train, Rows: 7, Shards: 2}, {Name: vocab.Train, Rows: 3, Shards: 1}},
		"unknown split":     {{Name: "dev", Rows: 7, Shards: 2}},
	} {
		r := receiptOf(0, 1)
		r.Splits = splits
		if got := problems(checkReceipts("stage", []*Receipt{r})); !strings.HasPrefix(got, "partition 0/1: splits ") || !strings.HasSuffix(got, "are not in train, val, test order") {
			t.Errorf("%s: %s", name, got)
		}
	}
}

// firstDifference shows the first differing byte's offset and up to 40
// bytes either side of it in each encoding.
func TestFirstDifference(t *testing.T) {
	long := strings.Repeat("0123456789", 10)
	other := long[:70] + "X" + long[71:]
	cases := []struct{ a, b, want string }{
		{"abcdef", "abcxef", "at byte 3: …abcdef… vs …abcxef…"},
		{long, other, "at byte 70: …" + long[30:100] + "… vs …" + other[30:100] + "…"},
		{long[:50], long[:50] + "tail", "at byte 50: …" + long[10:50] + "… vs …" + long[10:50] + "tail…"},
		{"same", "same", "at byte 4: …same… vs …same…"},
	}
	for _, c := range cases {
		if got := firstDifference([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("firstDifference(%q, %q)\n  = %s\nwant %s", c.a, c.b, got, c.want)
		}
	}
}

package prep

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// allocated returns the bytes the heap has allocated so far, cumulatively.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// lyingIDX is a u8 IDX header with dims followed by body bytes, gzip'd
// when zip is set, so a header can announce far more than the file holds.
func lyingIDX(t *testing.T, zip bool, body []byte, dims ...uint32) []byte {
	t.Helper()
	raw := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		raw = binary.BigEndian.AppendUint32(raw, d)
	}
	raw = append(raw, body...)
	if !zip {
		return raw
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// allocBound is what a build of a tiny set may allocate in all, whatever the
// config or the headers claim.
const allocBound = 100 << 20

// Memory follows the data, not the config or a header: a build with a huge
// shards.rows, and builds whose headers announce 2³⁰ items or a gigantic
// image, allocate less than allocBound in all; the lying inputs fail with an
// error naming the file.
func TestMemoryIsSizedByTheData(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(ts *tinySet)
		extra string
		want  string // in the error; "" means the build succeeds
	}{
		{"shards.rows 2^40", nil, "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 1099511627776}\n", ""},
		{"shards.rows 2^40, uint8", nil, "split: {seed: 1}\nshards: {rows: 1099511627776}\nnormalize: {mode: none}\n", ""},
		{"gzip headers announce 2^30 items", func(ts *tinySet) {
			ts.writeRaw(t, "train_images", lyingIDX(t, true, make([]byte, 64), 1<<30, 4, 4))
			ts.writeRaw(t, "train_labels", lyingIDX(t, true, make([]byte, 4), 1<<30))
		}, "split: {seed: 1}\n", "of 1073741824 items"},
		{"gzip labels announce 2^30, images 60", func(ts *tinySet) {
			ts.writeRaw(t, "train_labels", lyingIDX(t, true, make([]byte, 4), 1<<30))
		}, "split: {seed: 1}\n", "image and label counts must be equal"},
		{"raw labels announce 2^30", func(ts *tinySet) {
			ts.writeRaw(t, "train_labels", lyingIDX(t, false, make([]byte, 60), 1<<30))
		}, "split: {seed: 1}\n", "fits the file (60 bytes"},
		{"gzip image of 60000x60000", func(ts *tinySet) {
			ts.writeRaw(t, "train_images", lyingIDX(t, true, make([]byte, 64), 1, 60000, 60000))
			ts.writeRaw(t, "train_labels", lyingIDX(t, true, []byte{1}, 1))
		}, "split: {seed: 1}\n", "more than the 268435456 an image may have"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := writeTiny(t, 60, 20, 4, 4, 71)
			if c.edit != nil {
				c.edit(ts)
			}
			cfg := ts.config(t, c.extra)
			opts := testOptions(t, t.TempDir())
			runtime.GC()
			before := allocated()
			res, err := Build(context.Background(), cfg, opts)
			used := allocated() - before
			t.Logf("allocated %d bytes", used)
			if used > allocBound {
				t.Errorf("allocated %d bytes, more than %d", used, allocBound)
			}
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n := res.Manifest.Splits[0].Shards; len(n) != 1 {
					t.Fatalf("train shards: %d, want 1", len(n))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

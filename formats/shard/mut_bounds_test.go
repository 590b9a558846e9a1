package shard

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// The footer holds at most one block per 24 bytes of itself: one more is
// refused by that count, naming the bound, for both block lists.
func TestIPCBlockCountBound(t *testing.T) {
	seed := seedShard(t, true, "zstd")
	l := layoutOf(t, seed)
	bound := len(l.footer.fb.b) / blockSize
	for _, v := range []struct {
		slot int
		name string
	}{{footerDictionaries, "dictionaries"}, {footerRecordBatches, "recordBatches"}} {
		data := slices.Clone(seed)
		at := l.vectorAt(l.footer, v.slot)
		put32(data, at, uint32(bound+1))
		want := fmt.Sprintf("footer at offset %d: footer.%s: %d entries, at most %d", at, v.name, bound+1, bound)
		if err := checkBytes(data); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", v.name, err, want)
		}
	}
}

// The uncompressed bound (rows + 1) × rowBytes + 64 is exact up to the
// largest int64 and saturates only past it: for images of 23 float32
// (184 bytes a row) and a batch declaring 50127021939428128 rows it is
// 184 × 50127021939428129 + 64 = 2⁶³ − 8, so a prefix of 2⁶³ − 1 bytes is
// refused.
func TestIPCUncompressedBoundNearTheInt64Limit(t *testing.T) {
	meta := testMeta(true)
	meta.Height, meta.Width = 23, 1
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, randomRows(rand.New(rand.NewPCG(5, 5)), 4, meta), WithCompression(vocab.CompressionZstd)); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l := layoutOf(t, data)
	rb, body := l.batch(0)
	p, ok, err := rb.field(batchLength, 8)
	if !ok || err != nil {
		t.Fatalf("no row count: %v", err)
	}
	const rows = 50127021939428128
	put64(data, int(rb.fb.base)+p, rows)
	_, off, length := l.buffer(0, 8)
	if length < 8 {
		t.Fatalf("pixel buffer of %d bytes", length)
	}
	const limit = math.MaxInt64 - 7
	put64(data, body+int(off), limit)
	if err := checkBytes(data); err != nil {
		t.Fatalf("a prefix at the bound refused: %v", err)
	}
	put64(data, body+int(off), math.MaxInt64)
	want := fmt.Sprintf("offset %d: compressed buffer 8 declares %d bytes uncompressed; a batch of %d rows holds at most %d", body+int(off), int64(math.MaxInt64), rows, limit)
	if err := checkBytes(data); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("%v, want it to end with %q", err, want)
	}
}

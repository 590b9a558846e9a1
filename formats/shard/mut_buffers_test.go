package shard

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A buffer lies inside its batch's body: an empty one may start at the
// body's end, and one may end there, but not a byte past it.
func TestIPCBufferBoundsAtTheBodyEnd(t *testing.T) {
	seed := seedShard(t, true, "none")
	l := layoutOf(t, seed)
	b, _ := l.block(0)
	for _, c := range []struct {
		j      int
		off, n int64
		ok     bool
		what   string
	}{
		{7, b.body, 0, true, "an empty buffer at the end"},
		{7, b.body + 1, 0, false, "an empty buffer past the end"},
		{8, 48, b.body - 48, true, "the pixels ending at the end"},
		{8, 48, b.body - 48 + 1, false, "the pixels one byte longer"},
		{8, 8, b.body - 8 + 1, false, "a buffer one byte longer than the body left after its offset"},
	} {
		data := slices.Clone(seed)
		e, off, _ := l.buffer(0, c.j)
		if c.j == 8 && off != 48 {
			t.Fatalf("the pixels start at %d", off)
		}
		put64(data, e, uint64(c.off))
		put64(data, e+8, uint64(c.n))
		err := checkBytes(data)
		want := fmt.Sprintf("buffer %d at %d with %d bytes lies outside the %d-byte body", c.j, c.off, c.n, b.body)
		if c.ok && err != nil {
			t.Errorf("%s refused: %v", c.what, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", c.what, err, want)
		}
	}
}

// An uncompressed buffer holds at most what the batch's rows can take: for
// a batch declared to have 0 rows, (0 + 1) × 48 + 64 = 112 bytes.
func TestIPCUncompressedBufferAtTheBound(t *testing.T) {
	seed := seedShard(t, true, "none")
	l := layoutOf(t, seed)
	rb, _ := l.batch(0)
	p, ok, err := rb.field(batchLength, 8)
	if !ok || err != nil {
		t.Fatalf("no row count: %v", err)
	}
	put64(seed, int(rb.fb.base)+p, 0)
	e, _, _ := l.buffer(0, 1)
	for _, n := range []int64{112, 113} {
		data := slices.Clone(seed)
		put64(data, e+8, uint64(n))
		err := checkBytes(data)
		if n == 112 && err != nil {
			t.Errorf("112 bytes refused: %v", err)
		}
		if want := "buffer 1 of 113 bytes; a batch of 0 rows holds at most 112"; n == 113 && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("113 bytes: %v, want %q", err, want)
		}
	}
}

// A compressed buffer starts with its uncompressed length (8 bytes): 8
// bytes are enough, 7 are not; the length may be -1 (stored uncompressed)
// or 0, not -2.
func TestIPCCompressedBufferPrefix(t *testing.T) {
	seed := seedShard(t, true, "zstd")
	l := layoutOf(t, seed)
	_, body := l.batch(0)
	e, _, length := l.buffer(0, 1)
	if length < 8 {
		t.Fatalf("buffer 1 of %d bytes", length)
	}
	for _, n := range []int64{8, 7} {
		data := slices.Clone(seed)
		put64(data, e+8, uint64(n))
		err := checkBytes(data)
		if n == 8 && err != nil {
			t.Errorf("an 8-byte compressed buffer refused: %v", err)
		}
		if want := "compressed buffer 1 of 7 bytes has no length prefix"; n == 7 && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("7 bytes: %v, want %q", err, want)
		}
	}
	// Buffer 3 (the labels) starts inside the body; the error names the
	// file offset of its prefix.
	_, off, length := l.buffer(0, 3)
	if off == 0 || length < 8 {
		t.Fatalf("buffer 3 at %d of %d bytes", off, length)
	}
	for _, raw := range []int64{-1, 0, -2} {
		data := slices.Clone(seed)
		put64(data, body+int(off), uint64(raw))
		err := checkBytes(data)
		if raw >= -1 && err != nil {
			t.Errorf("uncompressed length %d refused: %v", raw, err)
		}
		want := fmt.Sprintf("offset %d: compressed buffer 3 declares -2 bytes uncompressed", body+int(off))
		if raw == -2 && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("uncompressed length -2: %v, want %q", err, want)
		}
	}
}

package idx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawHeader encodes a u8 header with the given dims.
func rawHeader(dims ...uint32) []byte {
	b := []byte{0, 0, byte(U8), byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

// A raw file whose header declares more data than the file holds is refused
// when it is opened, before a caller sizes a buffer by the header; a file
// that holds what it declares opens, and the check counts from the current
// offset of an *os.File.
func TestRawHeaderLargerThanFileIsRefusedAtOpen(t *testing.T) {
	dir := t.TempDir()
	lie := filepath.Join(dir, "lie.idx")
	if err := os.WriteFile(lie, append(rawHeader(1<<30, 2, 2), make([]byte, 100)...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(lie)
	var ie *Error
	if !errors.As(err, &ie) || ie.Offset != 4 || !strings.Contains(err.Error(), "fits the file (100 bytes") {
		t.Fatalf("err = %v, want a header error at offset 4 naming the file's 100 bytes", err)
	}

	ok := filepath.Join(dir, "ok.idx")
	var buf bytes.Buffer
	if err := Write(&buf, Header{Type: U8, Dims: []int{3, 2, 2}}, make([]uint8, 12)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ok, append([]byte("junk"), buf.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(ok)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(4, 0); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(f, "ok.idx")
	if err != nil {
		t.Fatalf("a file holding what it declares: %v", err)
	}
	if r.Header().Items() != 3 {
		t.Fatalf("items = %d", r.Header().Items())
	}
	// Truncated by one byte: refused at open too.
	short := filepath.Join(dir, "short.idx")
	os.WriteFile(short, buf.Bytes()[:buf.Len()-1], 0o644)
	if _, err := Open(short); !errors.As(err, &ie) {
		t.Fatalf("one byte short: err = %v", err)
	}
}

// WithMaxBytes is a limit the data may reach: an item, or a whole data
// section, of exactly the limit reads; one more row is refused at the
// header with the offset of the dimension that crosses it.
func TestMaxBytesIsInclusive(t *testing.T) {
	const limit = 1000
	for _, tc := range []struct {
		dims   []uint32
		offset int64 // -1: accepted
	}{
		{[]uint32{1, 10, 100}, -1}, // one item of exactly 1000 bytes
		{[]uint32{10, 100}, -1},    // ten items, 1000 bytes in all
		{[]uint32{1, 10, 101}, 12}, // an item of 1010 bytes: dimension 2
		{[]uint32{11, 100}, 4},     // 1100 bytes of data: the item count
	} {
		n := 1
		for _, d := range tc.dims {
			n *= int(d)
		}
		file := append(rawHeader(tc.dims...), make([]byte, n)...)
		rd, err := NewReader(bytes.NewReader(file), "edge.idx", WithMaxBytes(limit))
		if tc.offset < 0 {
			if err != nil {
				t.Fatalf("%v at a limit of %d: %v", tc.dims, limit, err)
			}
			dst := make([]byte, n)
			if k, err := rd.ReadBytes(dst); k != int(tc.dims[0]) || err != nil {
				t.Fatalf("%v: ReadBytes = %d, %v", tc.dims, k, err)
			}
			continue
		}
		var ie *Error
		if !errors.As(err, &ie) || ie.Offset != tc.offset || !strings.Contains(ie.Expected, "at most 1000 bytes") {
			t.Fatalf("%v at a limit of %d: err = %v, want an *Error at offset %d", tc.dims, limit, err, tc.offset)
		}
	}
}

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

package idx

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The rank is one byte, so 255 is the largest the format stores: a rank-255
// file is written with that byte and reads back with all its dimensions.
func TestRank255RoundTrip(t *testing.T) {
	dims := make([]int, 255)
	for i := range dims {
		dims[i] = 1
	}
	dims[0], dims[254] = 2, 3
	h := Header{Type: U8, Dims: dims}
	var buf bytes.Buffer
	if err := Write(&buf, h, []uint8{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatalf("Write of a rank-255 header: %v", err)
	}
	if b := buf.Bytes(); len(b) != 4+4*255+6 || b[3] != 255 {
		t.Fatalf("%d bytes, rank byte %d; want %d bytes, rank byte 255", len(b), b[3], 4+4*255+6)
	}
	rd, err := NewReader(bytes.NewReader(buf.Bytes()), "rank255")
	if err != nil {
		t.Fatalf("reading a rank-255 file: %v", err)
	}
	if got := rd.Header(); !slices.Equal(got.Dims, dims) {
		t.Fatalf("dims %v, want %v", got.Dims, dims)
	}
	dst := make([]uint8, 6)
	if n, err := rd.ReadU8(dst); n != 2 || err != nil || !slices.Equal(dst, []uint8{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("ReadU8 = %d, %v, %v", n, err, dst)
	}
}

// An invalid option is refused by NewReader with an error naming it (not
// with some header error the bad value later causes), and the smallest
// valid values are accepted.
func TestOptionErrorsNameTheOption(t *testing.T) {
	file := encode(t, Header{Type: U8, Dims: []int{1}}, []uint8{1}, false)
	for _, tc := range []struct {
		opt  Option
		name string
	}{{WithMaxBytes(0), "WithMaxBytes(0)"}, {WithMaxBytes(-1), "WithMaxBytes(-1)"}, {WithBufferSize(15), "WithBufferSize(15)"}} {
		if _, err := NewReader(bytes.NewReader(file), "x", tc.opt); err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: err = %v, want one naming the option", tc.name, err)
		}
	}
	rd, err := NewReader(bytes.NewReader(file), "x", WithMaxBytes(1), WithBufferSize(16))
	if err != nil {
		t.Fatalf("WithMaxBytes(1), WithBufferSize(16): %v", err)
	}
	dst := make([]uint8, 1)
	if n, err := rd.ReadU8(dst); n != 1 || err != nil || dst[0] != 1 {
		t.Fatalf("ReadU8 = %d, %v, %v", n, err, dst)
	}
}

// Reset closes the file a reader got from Open before it reads the new
// stream, so a reader reused over many files holds one descriptor at most.
func TestResetClosesTheOpenedFile(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	path := filepath.Join(t.TempDir(), "a.idx")
	if err := os.WriteFile(path, encode(t, Header{Type: U8, Dims: []int{1}}, []uint8{7}, false), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fds()
	rd, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fds(); got != before+1 {
		t.Fatalf("%d descriptors after Open, want %d", got, before+1)
	}
	if err := rd.Reset(bytes.NewReader(encode(t, Header{Type: U8, Dims: []int{1}}, []uint8{9}, false)), "b"); err != nil {
		t.Fatal(err)
	}
	if got := fds(); got != before {
		t.Fatalf("%d descriptors after Reset, want the %d before Open", got, before)
	}
	dst := make([]uint8, 1)
	if n, err := rd.ReadU8(dst); n != 1 || err != nil || dst[0] != 9 {
		t.Fatalf("ReadU8 after Reset = %d, %v, %v", n, err, dst)
	}
}

package idx

import (
	"bytes"
	"errors"
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

// A file cut inside an item names the item and how far into it the data
// ends, for an item size that does not divide the header's (10 bytes after
// a 12-byte header).
func TestTruncatedItemPosition(t *testing.T) {
	file := encode(t, Header{Type: U8, Dims: []int{3, 10}}, make([]uint8, 30), false)
	rd, err := NewReader(bytes.NewReader(file[:12+14]), "cut.idx")
	if err != nil {
		t.Fatal(err)
	}
	n, err := rd.ReadU8(make([]uint8, 30))
	var ie *Error
	if n != 1 || !errors.As(err, &ie) || ie.Offset != 26 ||
		ie.Error() != "idx: cut.idx: offset 26: expected 10 bytes of item 1 (of 3 items), got end of data 4 bytes into the item" {
		t.Fatalf("ReadU8 = %d, %v", n, err)
	}
}

// Trailing bytes are counted up to 1 MiB exactly; past that the error says
// "more than".
func TestTrailingBytesCountedToTheLimit(t *testing.T) {
	body := encode(t, Header{Type: U8, Dims: []int{1}}, []uint8{1}, false)
	for _, tc := range []struct {
		extra int
		want  string
	}{
		{trailingLimit, "got 1048576 trailing bytes"},
		{trailingLimit + 1, "got more than 1048576 trailing bytes"},
	} {
		rd, err := NewReader(bytes.NewReader(append(bytes.Clone(body), make([]byte, tc.extra)...)), "t.idx")
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]uint8, 1)
		if n, err := rd.ReadU8(dst); n != 1 || err != nil {
			t.Fatalf("ReadU8 = %d, %v", n, err)
		}
		_, err = rd.ReadU8(dst)
		var ie *Error
		if !errors.As(err, &ie) || ie.Offset != 9 || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%d trailing bytes: err = %v, want one ending %q", tc.extra, err, tc.want)
		}
	}
}

// The size check at open counts the bytes after the file's current offset,
// not the whole file: a file read from an offset that lacks one byte of
// what its header declares is refused at once.
func TestSizeCheckCountsFromTheOffset(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Header{Type: U8, Dims: []int{3, 2, 2}}, make([]uint8, 12)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "short.idx")
	junk := make([]byte, 40)
	if err := os.WriteFile(path, append(junk, buf.Bytes()[:buf.Len()-1]...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(len(junk)), 0); err != nil {
		t.Fatal(err)
	}
	_, err = NewReader(f, "short.idx")
	var ie *Error
	if !errors.As(err, &ie) || ie.Offset != 4 || !strings.Contains(err.Error(), "fits the file (11 bytes") {
		t.Fatalf("err = %v, want a header error at offset 4 naming the 11 bytes after the header", err)
	}
}

// failingStat is a StatSeeker whose size cannot be learnt: Stat or Seek
// fails.
type failingStat struct {
	*bytes.Reader
	statErr, seekErr error
}

func (f failingStat) Stat() (os.FileInfo, error) {
	if f.statErr != nil {
		return nil, f.statErr
	}
	return regularInfo{}, nil
}

func (f failingStat) Seek(off int64, whence int) (int64, error) {
	if f.seekErr != nil {
		return 0, f.seekErr
	}
	return f.Reader.Seek(off, whence)
}

type regularInfo struct{ os.FileInfo }

func (regularInfo) Mode() os.FileMode { return 0 }
func (regularInfo) Size() int64       { return 1 << 40 }

// An input whose size cannot be learnt (Stat or Seek fails) is read as a
// stream: no size check at open, the whole file read.
func TestInputOfUnknownSizeIsAStream(t *testing.T) {
	file := encode(t, Header{Type: U8, Dims: []int{2, 3}}, []uint8{1, 2, 3, 4, 5, 6}, false)
	fail := errors.New("no size")
	for _, in := range []failingStat{
		{Reader: bytes.NewReader(file), statErr: fail},
		{Reader: bytes.NewReader(file), seekErr: fail},
	} {
		rd, err := NewReader(in, "stream.idx")
		if err != nil {
			t.Fatalf("stat error %v, seek error %v: %v", in.statErr, in.seekErr, err)
		}
		dst := make([]uint8, 6)
		if n, err := rd.ReadU8(dst); n != 2 || err != nil || !slices.Equal(dst, []uint8{1, 2, 3, 4, 5, 6}) {
			t.Fatalf("ReadU8 = %d, %v, %v", n, err, dst)
		}
	}
}

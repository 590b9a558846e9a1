package idx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// decodeAll reads the whole stream in batches of two items with
// ReadFloat64 and returns the items read and the first error other than
// io.EOF.
func decodeAll(input io.Reader, name string, opts ...Option) (items int, err error) {
	rd, err := NewReader(input, name, opts...)
	if err != nil {
		return 0, err
	}
	dst := make([]float64, 2*rd.Header().ItemElems())
	for {
		n, err := rd.ReadFloat64(dst)
		items += n
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			// The error is sticky.
			if _, again := rd.ReadFloat64(dst); again != err {
				return items, fmt.Errorf("error not sticky: %v, then %v", err, again)
			}
			return items, err
		}
	}
}

func TestErrors(t *testing.T) {
	u8x5x4 := encode(t, Header{U8, []int{5, 4}}, genData(U8, 20, 1), false)
	u8x5x4gz := gzipBytes(t, u8x5x4)
	badCRC := bytes.Clone(u8x5x4gz)
	badCRC[len(badCRC)-8] ^= 0xff
	badSize := bytes.Clone(u8x5x4gz)
	badSize[len(badSize)-4] ^= 0x01
	big := encode(t, Header{I32, []int{1000, 10}}, genData(I32, 10000, 2), false)
	bigGz := gzipBytes(t, big)
	errDisk := errors.New("read error")

	for _, tc := range []struct {
		name   string
		input  io.Reader
		opts   []Option
		offset int64
		items  int      // whole items delivered before the error
		want   []string // substrings of the message
		is     error    // wrapped error, if any
		wide   bool     // needs a 64-bit int
	}{
		{name: "empty", input: bytes.NewReader(nil), offset: 0,
			want: []string{"expected 4-byte IDX magic", "got empty input"}},
		{name: "short magic", input: bytes.NewReader([]byte{0, 0}), offset: 2,
			want: []string{"got end of data after 2 bytes"}},
		{name: "wrong magic", input: bytes.NewReader([]byte{0x50, 0x4b, 3, 4, 0, 0, 0, 1, 9}), offset: 0,
			want: []string{"expected IDX magic 00 00", "got 50 4b"}},
		{name: "half magic", input: bytes.NewReader([]byte{0, 1, 8, 1, 0, 0, 0, 1, 9}), offset: 0,
			want: []string{"got 00 01"}},
		{name: "type", input: bytes.NewReader([]byte{0, 0, 0x0a, 1, 0, 0, 0, 1, 9}), offset: 2,
			want: []string{"expected element type 08, 09, 0b, 0c, 0d or 0e", "got 0x0a"}},
		{name: "rank 0", input: bytes.NewReader([]byte{0, 0, 0x08, 0, 1}), offset: 3,
			want: []string{"expected rank of at least 1, got rank 0"}},
		{name: "short dims", input: bytes.NewReader([]byte{0, 0, 0x08, 3, 0, 0, 0, 1, 0}), offset: 9,
			want: []string{"expected 3 dimensions of 4 bytes", "got end of data after 5 of 12 bytes"}},
		{name: "zero item dim", input: bytes.NewReader([]byte{0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0}), offset: 12,
			want: []string{"expected dimension 2 of at least 1", "got 0"}},
		{name: "over limit", input: bytes.NewReader([]byte{0, 0, 0x08, 2, 0, 0, 0, 100, 0, 0, 0, 10}), opts: []Option{WithMaxBytes(999)},
			offset: 4, want: []string{"expected data size of at most 999 bytes", "got 100×10×1 bytes"}},
		{name: "item over limit", input: bytes.NewReader([]byte{0, 0, 0x0e, 3, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0}), opts: []Option{WithMaxBytes(1 << 18)},
			offset: 12, want: []string{"expected item size of at most 262144 bytes", "got item of 256×256×8 bytes or more"}},
		{name: "default limit", input: bytes.NewReader([]byte{0, 0, 0x0e, 2, 0x80, 0, 0, 0, 0, 0, 0, 5}),
			offset: 4, want: []string{fmt.Sprintf("data size of at most %d bytes", DefaultMaxBytes)}, wide: true},
		{name: "overflow", input: bytes.NewReader([]byte{0, 0, 0x0e, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
			opts: []Option{WithMaxBytes(math.MaxInt64)}, offset: 12, want: []string{"item size of at most"}, wide: true},
		{name: "truncated data", input: bytes.NewReader(u8x5x4[:12+13]), offset: 25, items: 3,
			want: []string{"expected 4 bytes of item 3 (of 5 items), got end of data 1 bytes into the item"}},
		{name: "truncated at item boundary", input: bytes.NewReader(u8x5x4[:12+8]), offset: 20, items: 2,
			want: []string{"expected 4 bytes of item 2 (of 5 items), got end of data 0 bytes into the item"}},
		{name: "no data", input: bytes.NewReader(u8x5x4[:12]), offset: 12,
			want: []string{"item 0 (of 5 items)"}},
		{name: "trailing", input: bytes.NewReader(append(bytes.Clone(u8x5x4), 1, 2, 3)), offset: 32, items: 5,
			want: []string{"expected end of data after 5 items, got 3 trailing bytes"}},
		{name: "lots of trailing", input: io.MultiReader(bytes.NewReader(u8x5x4), bytes.NewReader(make([]byte, 3<<20))), offset: 32, items: 5,
			want: []string{"got more than 1048576 trailing bytes"}},
		{name: "trailing in gzip", input: bytes.NewReader(gzipBytes(t, append(bytes.Clone(u8x5x4), 0))), offset: 32, items: 5,
			want: []string{"got 1 trailing bytes"}},
		{name: "trailing after zero items", input: bytes.NewReader([]byte{0, 0, 0x08, 1, 0, 0, 0, 0, 7}), offset: 8,
			want: []string{"expected end of data after 0 items"}},
		{name: "gzip header", input: bytes.NewReader([]byte{0x1f, 0x8b, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0}), offset: 0,
			want: []string{"expected gzip header", "got gzip: invalid header"}, is: gzip.ErrHeader},
		{name: "gzip magic only", input: bytes.NewReader([]byte{0x1f, 0x8b}), offset: 0,
			want: []string{"expected gzip header, got truncated gzip stream"}, is: io.ErrUnexpectedEOF},
		{name: "gzip truncated in header", input: bytes.NewReader(bigGz[:12]), offset: 0,
			want: []string{"expected valid gzip data (while reading 4-byte IDX magic 00 00 TT RR), got truncated gzip stream"}, is: io.ErrUnexpectedEOF},
		{name: "gzip truncated in data", input: bytes.NewReader(bigGz[:len(bigGz)/2]), offset: -1, items: -1,
			want: []string{"expected valid gzip data (while reading 40 bytes of item", "got truncated gzip stream"}, is: io.ErrUnexpectedEOF},
		{name: "gzip truncated in trailer", input: bytes.NewReader(u8x5x4gz[:len(u8x5x4gz)-3]), offset: 32, items: 5,
			want: []string{"expected valid gzip data (while reading end of data), got truncated gzip stream"}, is: io.ErrUnexpectedEOF},
		{name: "gzip crc", input: bytes.NewReader(badCRC), offset: 32, items: 5,
			want: []string{"got gzip: invalid checksum"}, is: gzip.ErrChecksum},
		{name: "gzip size", input: bytes.NewReader(badSize), offset: 32, items: 5,
			want: []string{"got gzip: invalid checksum"}, is: gzip.ErrChecksum},
		{name: "garbage after gzip", input: bytes.NewReader(append(bytes.Clone(u8x5x4gz), "this is not gzip data"...)), offset: 32, items: 5,
			want: []string{"got gzip: invalid header"}, is: gzip.ErrHeader},
		{name: "read error", input: io.MultiReader(bytes.NewReader(u8x5x4[:22]), iotestErrReader{errDisk}), offset: 22, items: 2,
			want: []string{"expected 4 bytes of item 2 (of 5 items), got read error"}, is: errDisk},
		{name: "read error gzip", input: io.MultiReader(bytes.NewReader(bigGz[:len(bigGz)/2]), iotestErrReader{errDisk}), offset: -1, items: -1,
			want: []string{"expected valid gzip data", "got read error"}, is: errDisk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wide && strconv.IntSize == 32 {
				t.Skip("needs a 64-bit int")
			}
			file := "data/" + strings.ReplaceAll(tc.name, " ", "-") + ".idx"
			items, err := decodeAll(tc.input, file, tc.opts...)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if e.File != file {
				t.Errorf("File = %q, want %q", e.File, file)
			}
			prefix := fmt.Sprintf("idx: %s: offset %d: expected ", file, e.Offset)
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("message %q lacks prefix %q", err, prefix)
			}
			if tc.offset >= 0 && e.Offset != tc.offset {
				t.Errorf("Offset = %d, want %d (%v)", e.Offset, tc.offset, err)
			}
			if tc.items >= 0 && items != tc.items {
				t.Errorf("read %d items before the error, want %d", items, tc.items)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestTruncatedGzipOffsets(t *testing.T) {
	// Cutting a gzip stream anywhere must yield an *Error whose offset lies
	// within the decompressed data, and whose item count matches it.
	h := Header{Type: I16, Dims: []int{50, 3}}
	plain := encode(t, h, genData(I16, h.Len(), 9), false)
	gz := gzipBytes(t, plain)
	for cut := range len(gz) {
		items, err := decodeAll(bytes.NewReader(gz[:cut]), "cut.gz", WithBufferSize(16))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("cut %d: error %v is not an *Error", cut, err)
		}
		if e.Offset < 0 || e.Offset > int64(len(plain)) {
			t.Fatalf("cut %d: offset %d outside 0..%d", cut, e.Offset, len(plain))
		}
		if e.Offset >= int64(h.Size()) && int64(items) != (e.Offset-int64(h.Size()))/6 {
			t.Fatalf("cut %d: %d items before offset %d", cut, items, e.Offset)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	inner := errors.New("inner")
	e := &Error{File: "train.gz", Offset: 42, Expected: "x", Got: "y", Err: inner}
	if got, want := e.Error(), "idx: train.gz: offset 42: expected x, got y"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, inner) {
		t.Error("errors.Is does not reach the wrapped error")
	}
}

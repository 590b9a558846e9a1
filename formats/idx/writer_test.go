package idx

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteEncoding(t *testing.T) {
	// Byte layouts worked out by hand from the format definition.
	for _, tc := range []struct {
		h    Header
		data any
		want []byte
	}{
		{Header{U8, []int{3}}, []uint8{1, 2, 255},
			[]byte{0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2, 255}},
		{Header{I8, []int{1, 2}}, []int8{-1, 127},
			[]byte{0, 0, 0x09, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0x7f}},
		{Header{I16, []int{2}}, []int16{1, -2},
			[]byte{0, 0, 0x0b, 1, 0, 0, 0, 2, 0, 1, 0xff, 0xfe}},
		{Header{I32, []int{1}}, []int32{-2},
			[]byte{0, 0, 0x0c, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}},
		{Header{F32, []int{1}}, []float32{1.5},
			[]byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0}},
		{Header{F64, []int{1, 1, 1}}, []float64{-2},
			[]byte{0, 0, 0x0e, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xc0, 0, 0, 0, 0, 0, 0, 0}},
		{Header{U8, []int{0, 300}}, []uint8{},
			[]byte{0, 0, 0x08, 2, 0, 0, 0, 0, 0, 0, 0x01, 0x2c}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, tc.h, tc.data); err != nil {
			t.Fatalf("Write(%v): %v", tc.h, err)
		}
		if !bytes.Equal(buf.Bytes(), tc.want) {
			t.Errorf("Write(%v) = % x, want % x", tc.h, buf.Bytes(), tc.want)
		}
	}
}

func TestWriteLargeChunks(t *testing.T) {
	// More than one encoding chunk of every multi-byte type.
	for _, typ := range allTypes {
		h := Header{Type: typ, Dims: []int{3, writeChunk/4 + 1}}
		data := genData(typ, h.Len(), 3)
		rd, err := NewReader(bytes.NewReader(encode(t, h, data, true)), "big")
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, h.Len()*typ.Size())
		if n, err := rd.ReadBytes(raw); n != 3 || err != nil {
			t.Fatalf("%v: ReadBytes = %d, %v", typ, n, err)
		}
		got := decodeTyped(typ, raw)
		if !slicesEqualAny(got, data) {
			t.Fatalf("%v: round trip mismatch", typ)
		}
	}
}

func slicesEqualAny(a, b any) bool {
	var x, y bytes.Buffer
	return Write(&x, Header{Type: typeOf(a), Dims: []int{lenOf(a)}}, a) == nil &&
		Write(&y, Header{Type: typeOf(b), Dims: []int{lenOf(b)}}, b) == nil &&
		bytes.Equal(x.Bytes(), y.Bytes())
}

func typeOf(data any) Type {
	switch data.(type) {
	case []uint8:
		return U8
	case []int8:
		return I8
	case []int16:
		return I16
	case []int32:
		return I32
	case []float32:
		return F32
	case []float64:
		return F64
	}
	return 0
}

func lenOf(data any) int { return len(toFloat64(data)) }

type failWriter struct{ after int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		return w.after, errWrite
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	// pow2 builds large dimensions at run time, so that this compiles where int has 32 bits.
	pow2 := func(shift uint) int { return int(uint64(1) << shift) }
	for _, tc := range []struct {
		h    Header
		data any
		want string
		wide bool // needs a 64-bit int
	}{
		{Header{U8, nil}, []uint8{}, "rank 0", false},
		{Header{0x0a, []int{1}}, []uint8{1}, "0x0a", false},
		{Header{U8, []int{2, 0}}, []uint8{}, "dimension 1 of at least 1", false},
		{Header{U8, []int{-1}}, []uint8{}, "dimension 0 in 0..4294967295", false},
		{Header{U8, []int{pow2(33)}}, []uint8{}, "dimension 0 in 0..4294967295", true},
		{Header{U8, make([]int, 256)}, []uint8{}, "rank of at most 255", false},
		{Header{U8, []int{2}}, []int8{1, 2}, "header type is u8 but data is []int8", false},
		{Header{U8, []int{2}}, []uint8{1}, "needs 2 elements, data has 1", false},
		{Header{U8, []int{2}}, []int{1, 2}, "unsupported data type []int", false},
		{Header{F64, []int{pow2(31), pow2(31), 4}}, []float64{}, "data size of at most", true},
		{Header{F64, []int{1, pow2(31), pow2(31), pow2(31)}}, []float64{}, "item size of at most", true},
	} {
		if strconv.IntSize == 32 && tc.wide {
			continue // dimensions beyond a 32-bit int
		}
		err := Write(&bytes.Buffer{}, tc.h, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "idx: Write: ") {
			t.Errorf("Write(%v, %T) = %v, want error containing %q", tc.h, tc.data, err, tc.want)
		}
	}
	for _, after := range []int{0, 5, 20} {
		h := Header{Type: F32, Dims: []int{4, 4}}
		err := Write(&failWriter{after: after}, h, make([]float32, 16))
		if !errors.Is(err, errWrite) {
			t.Errorf("Write to failing writer (after %d) = %v", after, err)
		}
		err = WriteGzip(&failWriter{after: after}, h, make([]float32, 16))
		if !errors.Is(err, errWrite) {
			t.Errorf("WriteGzip to failing writer (after %d) = %v", after, err)
		}
	}
	if err := WriteGzipLevel(&bytes.Buffer{}, Header{U8, []int{1}}, []uint8{1}, 42); err == nil {
		t.Error("WriteGzipLevel accepted level 42")
	}
}

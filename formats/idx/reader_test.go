package idx

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var testShapes = [][]int{
	{7},
	{5, 3},
	{4, 3, 2},
	{3, 2, 2, 3},
	{1, 1},
}

// readAllF64 reads every item with ReadFloat64 in batches of batch items.
func readAllF64(t *testing.T, rd *Reader, batch int) []float64 {
	t.Helper()
	h := rd.Header()
	dst := make([]float64, batch*h.ItemElems())
	var out []float64
	for {
		n, err := rd.ReadFloat64(dst)
		out = append(out, dst[:n*h.ItemElems()]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("ReadFloat64: %v", err)
		}
		if n == 0 || n > batch {
			t.Fatalf("ReadFloat64 returned %d items for a batch of %d", n, batch)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, typ := range allTypes {
		for _, dims := range testShapes {
			for _, gz := range []bool{false, true} {
				h := Header{Type: typ, Dims: dims}
				name := h.String()
				if gz {
					name += ".gz"
				}
				t.Run(name, func(t *testing.T) {
					data := genData(typ, h.Len(), uint64(len(dims)))
					file := encode(t, h, data, gz)
					open := func() *Reader {
						rd, err := NewReader(bytes.NewReader(file), name, WithBufferSize(16))
						if err != nil {
							t.Fatal(err)
						}
						if got := rd.Header(); !reflect.DeepEqual(got, h) {
							t.Fatalf("header %v, want %v", got, h)
						}
						return rd
					}

					want64 := toFloat64(data)
					for _, batch := range []int{1, 2, h.Items() + 3} {
						got := readAllF64(t, open(), batch)
						if !slices.EqualFunc(got, want64, sameFloat64) {
							t.Fatalf("batch %d: ReadFloat64 = %v, want %v", batch, got, want64)
						}
					}

					rd := open()
					got32 := make([]float32, h.Len())
					if n, err := rd.ReadFloat32(got32); n != h.Items() || err != nil {
						t.Fatalf("ReadFloat32 = %d, %v; want %d, nil", n, err, h.Items())
					}
					if !slices.EqualFunc(got32, toFloat32(data), sameFloat32) {
						t.Fatalf("ReadFloat32 = %v, want %v", got32, toFloat32(data))
					}
					if n, err := rd.ReadFloat32(got32); n != 0 || err != io.EOF {
						t.Fatalf("ReadFloat32 after last item = %d, %v; want 0, EOF", n, err)
					}

					rd = open()
					raw := make([]byte, h.Len()*typ.Size())
					if n, err := rd.ReadBytes(raw); n != h.Items() || err != nil {
						t.Fatalf("ReadBytes = %d, %v", n, err)
					}
					if !reflect.DeepEqual(decodeTyped(typ, raw), data) && typ != F32 && typ != F64 {
						t.Fatalf("ReadBytes decodes to %v, want %v", decodeTyped(typ, raw), data)
					}
					plain := encode(t, h, data, false)
					if !bytes.Equal(raw, plain[h.Size():]) {
						t.Fatalf("ReadBytes = % x, want % x", raw, plain[h.Size():])
					}

					rd = open()
					u8 := make([]uint8, h.Len())
					n, err := rd.ReadU8(u8)
					if typ == U8 {
						if n != h.Items() || err != nil || !bytes.Equal(u8, data.([]uint8)) {
							t.Fatalf("ReadU8 = %d, %v, %v; want %v", n, err, u8, data)
						}
					} else if err == nil || !strings.Contains(err.Error(), "ReadU8 on a "+typ.String()+" file") {
						t.Fatalf("ReadU8 on %v file: err = %v", typ, err)
					}
				})
			}
		}
	}
}

func TestBatchSizes(t *testing.T) {
	h := Header{Type: U8, Dims: []int{10, 3, 2}}
	data := genData(U8, h.Len(), 1).([]uint8)
	for _, gz := range []bool{false, true} {
		file := encode(t, h, data, gz)
		for _, tc := range []struct {
			dstLen int
			counts []int
		}{
			{6, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			{11, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			{18, []int{3, 3, 3, 1}},
			{24, []int{4, 4, 2}},
			{60, []int{10}},
			{1000, []int{10}},
		} {
			rd, err := NewReader(bytes.NewReader(file), "batch")
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]uint8, tc.dstLen)
			var counts []int
			var got []uint8
			for {
				if rd.Item() != len(got)/6 {
					t.Fatalf("Item() = %d after %d items", rd.Item(), len(got)/6)
				}
				n, err := rd.ReadU8(dst)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("gz=%v dst %d: %v", gz, tc.dstLen, err)
				}
				counts = append(counts, n)
				got = append(got, dst[:6*n]...)
			}
			if !slices.Equal(counts, tc.counts) || !bytes.Equal(got, data) {
				t.Errorf("gz=%v dst %d: batches %v, want %v; data equal %v", gz, tc.dstLen, counts, tc.counts, bytes.Equal(got, data))
			}
			for range 2 {
				if n, err := rd.ReadU8(dst); n != 0 || err != io.EOF {
					t.Errorf("read after EOF = %d, %v; want 0, EOF", n, err)
				}
			}
			if err := rd.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := rd.ReadU8(dst); err == nil || err == io.EOF {
				t.Errorf("read after Close: err = %v", err)
			}
		}
	}
}

func TestShortDestination(t *testing.T) {
	h := Header{Type: I16, Dims: []int{2, 4}}
	data := []int16{1, 2, 3, 4, 5, 6, 7, 8}
	rd, err := NewReader(bytes.NewReader(encode(t, h, data, false)), "short.idx")
	if err != nil {
		t.Fatal(err)
	}
	for _, read := range []func() (int, error){
		func() (int, error) { return rd.ReadFloat32(make([]float32, 3)) },
		func() (int, error) { return rd.ReadFloat64(nil) },
		func() (int, error) { return rd.ReadBytes(make([]byte, 7)) },
	} {
		n, err := read()
		if n != 0 || err == nil || !strings.Contains(err.Error(), "short.idx") || !strings.Contains(err.Error(), "less than one item of 4") {
			t.Fatalf("short read = %d, %v", n, err)
		}
	}
	// The usage error is not sticky: the stream is still intact.
	got := make([]float64, 8)
	if n, err := rd.ReadFloat64(got); n != 2 || err != nil || !slices.Equal(got, toFloat64(data)) {
		t.Fatalf("ReadFloat64 = %d, %v, %v", n, err, got)
	}
}

func TestZeroItems(t *testing.T) {
	h := Header{Type: F32, Dims: []int{0, 28, 28}}
	for _, gz := range []bool{false, true} {
		file := encode(t, h, []float32{}, gz)
		rd, err := NewReader(bytes.NewReader(file), "empty")
		if err != nil {
			t.Fatal(err)
		}
		if got := rd.Header(); !reflect.DeepEqual(got, h) || got.ItemElems() != 784 {
			t.Fatalf("header %v", got)
		}
		if n, err := rd.ReadFloat32(make([]float32, 784)); n != 0 || err != io.EOF {
			t.Fatalf("ReadFloat32 = %d, %v; want 0, EOF", n, err)
		}
	}
}

func TestGzipDetectedByContent(t *testing.T) {
	h := Header{Type: U8, Dims: []int{3}}
	dir := t.TempDir()
	// Misleading names: a raw file called .gz and a gzip file without it.
	raw := filepath.Join(dir, "labels.gz")
	gz := filepath.Join(dir, "labels.idx")
	if err := os.WriteFile(raw, encode(t, h, []uint8{1, 2, 3}, false), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, encode(t, h, []uint8{1, 2, 3}, true), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{raw, gz} {
		rd, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint8, 3)
		if n, err := rd.ReadU8(got); n != 3 || err != nil || !bytes.Equal(got, []uint8{1, 2, 3}) {
			t.Fatalf("%s: ReadU8 = %d, %v, %v", path, n, err, got)
		}
		if _, err := rd.ReadU8(got); err != io.EOF {
			t.Fatalf("%s: want EOF, got %v", path, err)
		}
		if err := rd.Close(); err != nil {
			t.Fatalf("%s: Close: %v", path, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) = %v", err)
	}
}

func TestOpenReportsPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.idx")
	if err := os.WriteFile(path, []byte{0, 0, 0x08, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	var e *Error
	if !errors.As(err, &e) || e.File != path || e.Offset != 3 {
		t.Fatalf("Open = %v", err)
	}
}

func TestMultistreamGzip(t *testing.T) {
	// Concatenated gzip members form one stream, as with gunzip.
	h := Header{Type: U8, Dims: []int{4, 2}}
	data := []uint8{1, 2, 3, 4, 5, 6, 7, 8}
	plain := encode(t, h, data, false)
	var file bytes.Buffer
	for _, part := range [][]byte{plain[:10], plain[10:]} {
		file.Write(gzipBytes(t, part))
	}
	rd, err := NewReader(&file, "multi.gz")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]uint8, 8)
	if n, err := rd.ReadU8(got); n != 4 || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadU8 = %d, %v, %v", n, err, got)
	}
	if _, err := rd.ReadU8(got); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestReset(t *testing.T) {
	files := []struct {
		gz   bool
		data []uint8
	}{{false, []uint8{1, 2}}, {true, []uint8{3, 4, 5}}, {true, []uint8{6}}, {false, []uint8{7, 8, 9, 10}}}
	var rd *Reader
	for i, f := range files {
		file := encode(t, Header{Type: U8, Dims: []int{len(f.data)}}, f.data, f.gz)
		var err error
		if rd == nil {
			rd, err = NewReader(bytes.NewReader(file), "f0")
		} else {
			err = rd.Reset(bytes.NewReader(file), "f")
		}
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint8, 10)
		n, err := rd.ReadU8(got)
		if n != len(f.data) || err != nil || !bytes.Equal(got[:n], f.data) {
			t.Fatalf("file %d: ReadU8 = %d, %v, %v", i, n, err, got[:n])
		}
		if _, err := rd.ReadU8(got); err != io.EOF {
			t.Fatalf("file %d: want EOF, got %v", i, err)
		}
	}
	// A failed Reset leaves a reader that reports the error, then recovers.
	if err := rd.Reset(strings.NewReader("junk"), "junk"); err == nil {
		t.Fatal("Reset(junk) succeeded")
	}
	if _, err := rd.ReadFloat32(make([]float32, 10)); err == nil || !strings.Contains(err.Error(), "junk") {
		t.Fatalf("read after failed Reset: %v", err)
	}
	if err := rd.Reset(bytes.NewReader(encode(t, Header{Type: I8, Dims: []int{1}}, []int8{-3}, true)), "ok"); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 1)
	if n, err := rd.ReadFloat32(got); n != 1 || err != nil || got[0] != -3 {
		t.Fatalf("ReadFloat32 = %d, %v, %v", n, err, got)
	}
}

func TestResetLeavesCallerBufioAlone(t *testing.T) {
	a := encode(t, Header{Type: U8, Dims: []int{2}}, []uint8{1, 2}, false)
	b := encode(t, Header{Type: U8, Dims: []int{3}}, []uint8{3, 4, 5}, false)
	br := bufio.NewReaderSize(bytes.NewReader(a), 1<<20)
	rd, err := NewReader(br, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.ReadU8(make([]uint8, 2)); err != nil {
		t.Fatal(err)
	}
	if err := rd.Reset(bytes.NewReader(b), "b"); err != nil {
		t.Fatal(err)
	}
	// br still reads from a, which the first stream consumed entirely.
	if n, err := br.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("caller's bufio.Reader after Reset: %d, %v; want 0, EOF", n, err)
	}
	got := make([]uint8, 3)
	if n, err := rd.ReadU8(got); n != 3 || err != nil || !bytes.Equal(got, []uint8{3, 4, 5}) {
		t.Fatalf("ReadU8 = %d, %v, %v", n, err, got)
	}
}

// endlessReader serves an IDX header declaring many items, followed by an
// unbounded run of zero bytes, and counts what it hands out.
type endlessReader struct {
	header []byte
	served int64
}

func (r *endlessReader) Read(p []byte) (int, error) {
	n := copy(p, r.header)
	r.header = r.header[n:]
	clear(p[n:])
	r.served += int64(len(p))
	return len(p), nil
}

func TestStreaming(t *testing.T) {
	// The header declares 2^20 items of 28×28 u8 (822 MB); reading a few
	// items must consume only about a buffer's worth of input.
	var hdr bytes.Buffer
	hdr.Write([]byte{0, 0, 0x08, 3, 0, 0x10, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28})
	src := &endlessReader{header: hdr.Bytes()}
	const buf = 4096
	rd, err := NewReader(src, "endless", WithBufferSize(buf))
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, 10*784)
	for range 3 {
		if n, err := rd.ReadFloat32(f); n != 10 || err != nil {
			t.Fatalf("ReadFloat32 = %d, %v", n, err)
		}
	}
	if limit := int64(30*784 + 2*buf); src.served > limit {
		t.Fatalf("read %d input bytes for 30 items, want at most %d", src.served, limit)
	}
	if rd.Offset() != 16+30*784 || rd.Item() != 30 {
		t.Fatalf("Offset() = %d, Item() = %d", rd.Offset(), rd.Item())
	}
}

func TestOptions(t *testing.T) {
	file := encode(t, Header{Type: U8, Dims: []int{1}}, []uint8{1}, false)
	for _, opt := range []Option{WithMaxBytes(0), WithMaxBytes(-1), WithBufferSize(15)} {
		if _, err := NewReader(bytes.NewReader(file), "x", opt); err == nil {
			t.Errorf("invalid option accepted")
		}
	}
}

func TestTypeAndHeader(t *testing.T) {
	names := map[Type]string{U8: "u8", I8: "i8", I16: "i16", I32: "i32", F32: "f32", F64: "f64"}
	sizes := map[Type]int{U8: 1, I8: 1, I16: 2, I32: 4, F32: 4, F64: 8}
	for b := range 256 {
		typ := Type(b)
		if name, ok := names[typ]; ok {
			if typ.String() != name || typ.Size() != sizes[typ] || !typ.Valid() {
				t.Errorf("type 0x%02x: %q size %d", b, typ.String(), typ.Size())
			}
		} else if typ.Valid() || typ.Size() != 0 || !strings.HasPrefix(typ.String(), "Type(0x") {
			t.Errorf("undefined type 0x%02x: valid %v, size %d, %q", b, typ.Valid(), typ.Size(), typ.String())
		}
	}
	h := Header{Type: U8, Dims: []int{60000, 28, 28}}
	if h.Items() != 60000 || h.ItemElems() != 784 || h.Len() != 60000*784 || h.Size() != 16 || h.String() != "u8[60000 28 28]" {
		t.Errorf("header %v: items %d elems %d len %d size %d", h, h.Items(), h.ItemElems(), h.Len(), h.Size())
	}
	if h := (Header{Type: U8, Dims: []int{5}}); h.ItemElems() != 1 || h.Len() != 5 {
		t.Errorf("rank 1: elems %d len %d", h.ItemElems(), h.Len())
	}
}

package idx

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files in testdata/fuzz/FuzzReader")

const corpusDir = "testdata/fuzz/FuzzReader"

// FuzzReader feeds arbitrary bytes to the decoder. Whatever the input, it
// must not panic, must fail only with an *Error at a plausible offset, and
// what it accepts must re-encode to exactly the (decompressed) input.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data)
	})
}

// checkStream decodes data and checks the decoder's invariants. It returns
// the decoding error, nil when the whole stream was valid.
func checkStream(t *testing.T, data []byte) error {
	rd, err := NewReader(bytes.NewReader(data), "fuzz", WithMaxBytes(1<<16), WithBufferSize(64))
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.File != "fuzz" || e.Offset < 0 {
			t.Fatalf("NewReader error %v (%T) is not a well-formed *Error", err, err)
		}
		return err
	}
	h := rd.Header()
	itemBytes := h.ItemElems() * h.Type.Size()
	buf := make([]byte, 3*itemBytes)
	var raw []byte
	for {
		n, err := rd.ReadBytes(buf)
		if n < 0 || n > 3 {
			t.Fatalf("ReadBytes returned %d items for a 3-item buffer", n)
		}
		raw = append(raw, buf[:n*itemBytes]...)
		if rd.Item()*itemBytes != len(raw) {
			t.Fatalf("Item() = %d after %d bytes of items", rd.Item(), len(raw))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz" {
				t.Fatalf("ReadBytes error %v (%T) is not an *Error", err, err)
			}
			// The failure lies in the item after the last one delivered.
			at := int64(h.Size() + len(raw))
			if e.Offset < at || e.Offset > at+int64(itemBytes) {
				t.Fatalf("error offset %d outside the item at %d (%d bytes): %v", e.Offset, at, itemBytes, err)
			}
			return err
		}
	}
	if len(raw) != h.Len()*h.Type.Size() {
		t.Fatalf("decoded %d bytes, header %v declares %d", len(raw), h, h.Len()*h.Type.Size())
	}

	// What was accepted re-encodes to the decompressed input.
	want := data
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("accepted gzip stream that gzip rejects: %v", err)
		}
		if want, err = io.ReadAll(zr); err != nil {
			t.Fatalf("accepted gzip stream that gzip rejects: %v", err)
		}
	}
	typed := decodeTyped(h.Type, raw)
	var enc bytes.Buffer
	if err := Write(&enc, h, typed); err != nil {
		t.Fatalf("Write(%v) of accepted data: %v", h, err)
	}
	if !bytes.Equal(enc.Bytes(), want) {
		t.Fatalf("re-encoding differs from input:\n got % x\nwant % x", enc.Bytes(), want)
	}

	// A second pass through the float64 path agrees with the bytes.
	rd2, err := NewReader(bytes.NewReader(data), "fuzz", WithMaxBytes(1<<16), WithBufferSize(16))
	if err != nil {
		t.Fatalf("second NewReader: %v", err)
	}
	got := readAllF64(t, rd2, 2)
	if !slices.EqualFunc(got, toFloat64(typed), sameFloat64) {
		t.Fatalf("ReadFloat64 = %v, want %v", got, toFloat64(typed))
	}
	return nil
}

// seedFiles returns the seed corpus: valid files of every type, raw and
// gzip, and broken ones. Names start with "valid-" or "bad-".
func seedFiles(t *testing.T) map[string][]byte {
	valid := func(h Header, gz bool) []byte { return encode(t, h, genData(h.Type, h.Len(), 5), gz) }
	labels := valid(Header{U8, []int{6, 2}}, false)
	// Compressible pixels, so that the gzip seed holds Huffman-coded blocks.
	pixels := make([]uint8, 3*8*8)
	for i := range pixels {
		pixels[i] = uint8(i % 7 * 40)
	}
	images := encode(t, Header{U8, []int{3, 8, 8}}, pixels, true)
	badCRC := bytes.Clone(images)
	badCRC[len(badCRC)-8] ^= 0x55
	return map[string][]byte{
		"valid-u8-raw":       labels,
		"valid-u8-gzip":      images,
		"valid-i8-raw":       valid(Header{I8, []int{4, 2}}, false),
		"valid-i16-gzip":     valid(Header{I16, []int{3, 2}}, true),
		"valid-i32-raw":      valid(Header{I32, []int{2, 2, 2}}, false),
		"valid-f32-gzip":     valid(Header{F32, []int{2, 3}}, true),
		"valid-f64-raw":      valid(Header{F64, []int{1, 1, 1, 2}}, false),
		"valid-zero-items":   valid(Header{U8, []int{0, 5}}, false),
		"bad-empty":          {},
		"bad-magic":          {0x50, 0x4b, 3, 4, 0, 0, 0, 1, 9},
		"bad-type":           {0, 0, 0x0a, 1, 0, 0, 0, 1, 9},
		"bad-rank0":          {0, 0, 0x08, 0, 1},
		"bad-short-dims":     {0, 0, 0x08, 3, 0, 0, 0, 1, 0},
		"bad-zero-dim":       {0, 0, 0x0d, 2, 0, 0, 0, 3, 0, 0, 0, 0},
		"bad-huge-dims":      {0, 0, 0x0e, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0, 2},
		"bad-truncated-data": labels[:len(labels)-3],
		"bad-trailing":       append(bytes.Clone(labels), 0),
		"bad-gzip-truncated": images[:len(images)-12],
		"bad-gzip-crc":       badCRC,
		"bad-gzip-garbage":   append(bytes.Clone(images), "not gzip at all"...),
	}
}

func TestFuzzCorpus(t *testing.T) {
	if *updateCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seedFiles(t) {
			text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ent := range entries {
		text, err := os.ReadFile(filepath.Join(corpusDir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data := parseCorpusFile(t, ent.Name(), string(text))
		err = checkStream(t, data)
		gz := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		switch {
		case strings.HasPrefix(ent.Name(), "valid-"):
			if err != nil {
				t.Errorf("%s: %v", ent.Name(), err)
			}
			kinds["valid"+strconv.FormatBool(gz)]++
		case strings.HasPrefix(ent.Name(), "bad-"):
			if err == nil {
				t.Errorf("%s: decoded without error", ent.Name())
			}
			kinds["bad"+strconv.FormatBool(gz)]++
		}
	}
	// Valid and broken seeds, raw and gzip.
	for _, k := range []string{"validfalse", "validtrue", "badfalse", "badtrue"} {
		if kinds[k] < 2 {
			t.Errorf("corpus has %d %s seeds, want at least 2 (run with -update-corpus)", kinds[k], k)
		}
	}
}

// parseCorpusFile decodes a one-value "go test fuzz v1" file.
func parseCorpusFile(t *testing.T, name, text string) []byte {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s: not a one-value go fuzz corpus file", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

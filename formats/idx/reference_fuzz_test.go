package idx

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// refMaxBytes is the data limit both decoders apply in FuzzAgainstReference.
const refMaxBytes = 1 << 16

// refDecode is a deliberately naive IDX decoder, written from the format
// description in doc.go and sharing no code with the package: it holds
// the whole (decompressed) file in memory, uses the standard library's gzip
// (with RFC 1952's reserved-flags rule) and big integers for the size, and returns the element type, the
// dimensions and the element bytes, or ok=false for anything malformed. As
// the package does, it refuses a data size or an item size above maxBytes,
// and a zero dimension other than the item count.
func refDecode(data []byte, maxBytes int64) (typ byte, dims []int, body []byte, ok bool) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		// RFC 1952 says a decompressor must refuse a header whose
		// reserved flag bits are set; the standard library does not check.
		if len(data) < 4 || data[3]&0xe0 != 0 {
			return 0, nil, nil, false
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return 0, nil, nil, false
		}
		if data, err = io.ReadAll(zr); err != nil {
			return 0, nil, nil, false
		}
	}
	if len(data) < 4 || data[0] != 0 || data[1] != 0 {
		return 0, nil, nil, false
	}
	size := map[byte]int64{0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8}[data[2]]
	rank := int(data[3])
	if size == 0 || rank == 0 || len(data) < 4+4*rank {
		return 0, nil, nil, false
	}
	item := big.NewInt(size)
	total := new(big.Int)
	for i := 0; i < rank; i++ {
		p := data[4+4*i:]
		d := int64(p[0])<<24 | int64(p[1])<<16 | int64(p[2])<<8 | int64(p[3])
		if i > 0 && d == 0 {
			return 0, nil, nil, false
		}
		if i > 0 {
			item.Mul(item, big.NewInt(d))
		}
		dims = append(dims, int(d))
	}
	total.Mul(item, big.NewInt(int64(dims[0])))
	limit := big.NewInt(maxBytes)
	if item.Cmp(limit) > 0 || total.Cmp(limit) > 0 {
		return 0, nil, nil, false
	}
	body = data[4+4*rank:]
	if int64(len(body)) != total.Int64() {
		return 0, nil, nil, false
	}
	return data[2], dims, body, true
}

// FuzzAgainstReference decodes every input with the package and with
// refDecode: both must accept or both refuse, and what they accept must
// have the same type, dimensions and element bytes.
func FuzzAgainstReference(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	for _, p := range files {
		text, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		body, _ := strings.CutPrefix(string(text), "go test fuzz v1\n[]byte(")
		s, err := strconv.Unquote(strings.TrimSuffix(body, ")\n"))
		if err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, dims, want, refOK := refDecode(data, refMaxBytes)
		rd, err := NewReader(bytes.NewReader(data), "fuzz", WithMaxBytes(refMaxBytes), WithBufferSize(64))
		var got []byte
		if err == nil {
			h := rd.Header()
			if refOK && (byte(h.Type) != typ || !slices.Equal(h.Dims, dims)) {
				t.Fatalf("header %v %v, reference %#x %v", h.Type, h.Dims, typ, dims)
			}
			buf := make([]byte, 2*h.ItemElems()*h.Type.Size())
			for {
				n, rerr := rd.ReadBytes(buf)
				got = append(got, buf[:n*h.ItemElems()*h.Type.Size()]...)
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					err = rerr
					break
				}
			}
		}
		switch {
		case refOK && err != nil:
			t.Fatalf("the reference accepts %d element bytes of %v, the package refuses: %v", len(want), dims, err)
		case !refOK && err == nil:
			t.Fatalf("the package accepts %d bytes of data (header %v), the reference refuses", len(got), rd.Header())
		case refOK && !bytes.Equal(got, want):
			t.Fatalf("element bytes differ from the reference's")
		}
	})
}

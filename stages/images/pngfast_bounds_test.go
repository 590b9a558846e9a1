package images

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// zeroPNG is an 8-bit gray PNG of w×h black pixels, every row unfiltered:
// cheap to write and to inflate at any size.
func zeroPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+w)
	for range h {
		zw.Write(row)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		out.WriteString(typ)
		out.Write(data)
		binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(append([]byte(typ), data...)))
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8] = 8 // depth 8, color type 0 (gray), no interlace
	chunk("IHDR", ihdr)
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// DecodeBytes refuses what Decode refuses even where the PNG fast path
// could decode the file: an image with no pixels, and one above MaxPixels
// whose data is all there (its limit holds before a file is inflated, not
// only for files image/png reads).
func TestDecodeBytesRefusesSizesDecodeRefuses(t *testing.T) {
	cv := Converter{Height: 28, Width: 28, Channels: 1}
	for _, tc := range []struct {
		name string
		w, h int
		want string
	}{
		{"no columns", 0, 5, ""},
		{"no rows", 5, 0, ""},
		{"above MaxPixels", 8192, MaxPixels/8192 + 1, "larger than"},
	} {
		b := zeroPNG(t, tc.w, tc.h)
		dst := make([]uint8, cv.Elems())
		errDecode := cv.Decode(bytes.NewReader(b), dst)
		errBytes := cv.DecodeBytes(b, dst)
		if errDecode == nil || errBytes == nil {
			t.Fatalf("%s (%d×%d): Decode: %v, DecodeBytes: %v; want both refused", tc.name, tc.w, tc.h, errDecode, errBytes)
		}
		if !strings.Contains(errBytes.Error(), tc.want) {
			t.Errorf("%s: DecodeBytes: %v; want it to say %q", tc.name, errBytes, tc.want)
		}
	}
	// The largest image allowed decodes, by the fast path and by Decode alike.
	b := zeroPNG(t, 8192, MaxPixels/8192)
	d := new(pngReader)
	if _, ok := d.decode(b); !ok {
		t.Error("the fast path declines an image of exactly MaxPixels pixels")
	}
	dst := make([]uint8, cv.Elems())
	if err := cv.DecodeBytes(b, dst); err != nil {
		t.Errorf("an image of exactly MaxPixels pixels: %v", err)
	}
}

// A pooled reader keeps buffers of files of ordinary size for the next
// one and drops those of a big file, so a tree with one huge image does
// not hold its memory for the rest of the build.
func TestPNGReaderReleaseBoundsPooledBuffers(t *testing.T) {
	d := new(pngReader)
	small := writePNG(t, pngSpec{w: 28, h: 28, depth: 8, ct: 0, idatSize: 50, seed: 1})
	if _, ok := d.decode(small); !ok {
		t.Fatal("the fast path declines a small gray PNG")
	}
	d.release()
	if d.pix == nil || d.raw == nil || d.idat == nil {
		t.Fatalf("release dropped the buffers of a 28×28 file (pix %v, raw %v, idat %v)", d.pix != nil, d.raw != nil, d.idat != nil)
	}
	big := zeroPNG(t, 4096, 2048) // 8 MiB of pixels
	if _, ok := d.decode(big); !ok {
		t.Fatal("the fast path declines a big gray PNG")
	}
	d.release()
	if d.pix != nil || d.raw != nil {
		t.Fatalf("release kept %d and %d bytes of a 4096×2048 file", cap(d.pix), cap(d.raw))
	}
}

package images

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"reflect"
	"testing"
)

// pngSpec describes a PNG file for writePNG, which writes what image/png's
// encoder never does: every filter type, chosen per row, IDAT data cut into
// several chunks, ancillary chunks around them, interlacing, tRNS.
type pngSpec struct {
	w, h      int
	depth     int // bits per sample
	ct        int // color type
	interlace bool
	// filter of row i is filters[i%len(filters)] (all 0 when empty).
	filters []byte
	// idatSize cuts the zlib stream into IDAT chunks of this many bytes
	// (0: one chunk).
	idatSize int
	// before and after are ancillary chunks written before the first and
	// after the last IDAT chunk.
	before, after int
	plte, trns    []byte
	// junk bytes follow the zlib stream inside the IDAT data.
	junk int
	seed uint64
}

// samples is the number of samples a pixel of color type ct has.
func samples(ct int) int { return map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct] }

func writePNG(t testing.TB, s pngSpec) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(s.seed, 7))
	bits := s.depth * samples(s.ct)
	bpp := max(1, bits/8)
	// pixels of the whole image, one row of packed samples each.
	rowBytes := func(w int) int { return (w*bits + 7) / 8 }
	full := make([][]byte, s.h)
	for y := range full {
		full[y] = make([]byte, rowBytes(s.w))
		for i := range full[y] {
			// smooth runs with noise, so every filter has something to do
			full[y][i] = uint8(3*i + 5*y + rng.IntN(9))
			if s.ct == 3 && s.depth == 8 {
				full[y][i] %= uint8(len(s.plte) / 3) // (4-bit indices all fit its 16 entries)
			}
		}
	}
	var raw bytes.Buffer
	row := 0
	emit := func(rows [][]byte) {
		var prev []byte
		for _, r := range rows {
			ft := byte(0)
			if len(s.filters) > 0 {
				ft = s.filters[row%len(s.filters)]
			}
			row++
			raw.WriteByte(ft)
			raw.Write(filterRow(ft, r, prev, bpp))
			prev = r
		}
	}
	if !s.interlace {
		emit(full)
	} else {
		if bits%8 != 0 {
			t.Fatal("writePNG interlaces whole-byte pixels only")
		}
		for _, p := range []struct{ x0, y0, dx, dy int }{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			var rows [][]byte
			for y := p.y0; y < s.h; y += p.dy {
				var r []byte
				for x := p.x0; x < s.w; x += p.dx {
					r = append(r, full[y][x*bpp:(x+1)*bpp]...)
				}
				if len(r) > 0 {
					rows = append(rows, r)
				}
			}
			emit(rows)
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()

	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(s.w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(s.h))
	ihdr[8], ihdr[9] = byte(s.depth), byte(s.ct)
	if s.interlace {
		ihdr[12] = 1
	}
	chunk("IHDR", ihdr)
	for i := range s.before {
		chunk("tEXt", fmt.Appendf(nil, "Comment\x00before %d", i))
	}
	if s.plte != nil {
		chunk("PLTE", s.plte)
	}
	if s.trns != nil {
		chunk("tRNS", s.trns)
	}
	zb := append(z.Bytes(), bytes.Repeat([]byte{0x5a}, s.junk)...)
	for len(zb) > 0 {
		n := len(zb)
		if s.idatSize > 0 {
			n = min(n, s.idatSize)
		}
		chunk("IDAT", zb[:n])
		zb = zb[n:]
	}
	for i := range s.after {
		chunk("tIME", []byte{7, 234, 12, 2, 12, 0, byte(i)})
	}
	chunk("IEND", nil)
	return out.Bytes()
}

// filterRow applies PNG filter ft to row r (prev: the row above, nil for
// none), the encoder's side of unfilter, written from the specification.
func filterRow(ft byte, r, prev []byte, bpp int) []byte {
	out := make([]byte, len(r))
	at := func(b []byte, i int) int {
		if b == nil || i < 0 {
			return 0
		}
		return int(b[i])
	}
	for i := range r {
		a, b, c := at(r, i-bpp), at(prev, i), at(prev, i-bpp)
		var pred int
		switch ft {
		case 1:
			pred = a
		case 2:
			pred = b
		case 3:
			pred = (a + b) / 2
		case 4:
			p := a + b - c
			pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
			switch {
			case pa <= pb && pa <= pc:
				pred = a
			case pb <= pc:
				pred = b
			default:
				pred = c
			}
		}
		out[i] = r[i] - uint8(pred)
	}
	return out
}

// sameImage reports whether a and b are the same image: type, bounds and
// pixel bytes.
func sameImage(a, b image.Image) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) || a.Bounds() != b.Bounds() {
		return false
	}
	pix := func(m image.Image) ([]byte, int) {
		switch m := m.(type) {
		case *image.Gray:
			return m.Pix, m.Stride
		case *image.RGBA:
			return m.Pix, m.Stride
		case *image.NRGBA:
			return m.Pix, m.Stride
		}
		return nil, 0
	}
	pa, sa := pix(a)
	pb, sb := pix(b)
	if pa == nil || pb == nil {
		return false
	}
	bpp := sa / a.Bounds().Dx()
	for y := 0; y < a.Bounds().Dy(); y++ {
		if !bytes.Equal(pa[y*sa:y*sa+bpp*a.Bounds().Dx()], pb[y*sb:y*sb+bpp*a.Bounds().Dx()]) {
			return false
		}
	}
	return true
}

// checkAgainstStd fails unless, where the reader accepts b, image/png
// decodes b to the same image; it returns whether the reader accepted.
func checkAgainstStd(t *testing.T, d *pngReader, b []byte, what string) bool {
	t.Helper()
	got, ok := d.decode(b)
	if !ok {
		return false
	}
	want, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: the reader accepts what image/png refuses: %v", what, err)
	}
	if !sameImage(got, want) {
		t.Fatalf("%s: the reader's %T differs from image/png's %T", what, got, want)
	}
	return true
}

func pngSpecs() []struct {
	name string
	s    pngSpec
	fast bool // the reader decodes it (else image/png does)
} {
	all := []byte{0, 1, 2, 3, 4, 4, 3, 2, 1}
	pal := make([]byte, 3*16)
	for i := range pal {
		pal[i] = uint8(i * 5)
	}
	type c = struct {
		name string
		s    pngSpec
		fast bool
	}
	var out []c
	for _, size := range [][2]int{{1, 1}, {28, 28}, {5, 3}, {37, 19}, {64, 1}, {1, 40}} {
		w, h := size[0], size[1]
		for _, k := range []struct {
			name        string
			depth, ct   int
			interlace   bool
			plte, trns  []byte
			fast        bool
			interlaceOK bool
		}{
			{name: "gray8", depth: 8, ct: 0, fast: true},
			{name: "rgb8", depth: 8, ct: 2, fast: true},
			{name: "rgba8", depth: 8, ct: 6, fast: true},
			{name: "gray16", depth: 16, ct: 0},
			{name: "rgb16", depth: 16, ct: 2},
			{name: "rgba16", depth: 16, ct: 6},
			{name: "graya8", depth: 8, ct: 4},
			{name: "gray4", depth: 4, ct: 0},
			{name: "gray1", depth: 1, ct: 0},
			{name: "paletted8", depth: 8, ct: 3, plte: pal},
			{name: "paletted4", depth: 4, ct: 3, plte: pal},
			{name: "paletted8-trns", depth: 8, ct: 3, plte: pal, trns: []byte{0, 128, 255}},
			{name: "gray8-trns", depth: 8, ct: 0, trns: []byte{0, 7}},
			{name: "rgb8-trns", depth: 8, ct: 2, trns: []byte{0, 7, 0, 9, 0, 11}},
			{name: "rgb8-plte", depth: 8, ct: 2, plte: pal},
			{name: "gray8-interlaced", depth: 8, ct: 0, interlace: true},
			{name: "rgb8-interlaced", depth: 8, ct: 2, interlace: true},
			{name: "rgba8-interlaced", depth: 8, ct: 6, interlace: true},
		} {
			for v, layout := range []struct {
				filters             []byte
				idat, before, after int
			}{
				{filters: nil},
				{filters: all},
				{filters: []byte{4}, idat: 7, before: 2, after: 1},
				{filters: []byte{3, 1}, idat: 1},
				{filters: []byte{2, 4, 3}, before: 1, after: 3},
			} {
				out = append(out, c{
					name: fmt.Sprintf("%s-%dx%d-v%d", k.name, w, h, v),
					s: pngSpec{w: w, h: h, depth: k.depth, ct: k.ct, interlace: k.interlace, filters: layout.filters,
						idatSize: layout.idat, before: layout.before, after: layout.after, plte: k.plte, trns: k.trns, seed: uint64(w*100 + h + v)},
					fast: k.fast,
				})
			}
		}
	}
	return out
}

// The reader decodes 8-bit gray, RGB and RGBA files, whatever their
// filters, IDAT layout and ancillary chunks, to exactly the image image/png
// gives, and leaves every other kind of file to image/png.
func TestPNGReaderMatchesImagePNG(t *testing.T) {
	d := new(pngReader) // one reader for all: state carried between files must not matter
	for _, tc := range pngSpecs() {
		b := writePNG(t, tc.s)
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: the test's own file does not decode with image/png: %v", tc.name, err)
		}
		if got := checkAgainstStd(t, d, b, tc.name); got != tc.fast {
			t.Errorf("%s: the reader accepted it: %v, want %v", tc.name, got, tc.fast)
		}
	}
}

// Files image/png's own encoder writes, of each image type it takes.
func TestPNGReaderOnEncoderOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(p []byte) {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	r := image.Rect(0, 0, 23, 17)
	gray, rgba, nrgba, g16 := image.NewGray(r), image.NewRGBA(r), image.NewNRGBA(r), image.NewGray16(r)
	fill(gray.Pix)
	fill(rgba.Pix)
	for i := 3; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i] = 0xff // opaque: written as RGB
	}
	fill(nrgba.Pix) // with alpha: written as RGBA
	fill(g16.Pix)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.RGBA{200, 10, 10, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	d := new(pngReader)
	for _, c := range []struct {
		img  image.Image
		fast bool
	}{{gray, true}, {rgba, true}, {nrgba, true}, {g16, false}, {pal, false}} {
		for _, level := range []png.CompressionLevel{png.DefaultCompression, png.NoCompression, png.BestSpeed, png.BestCompression} {
			var b bytes.Buffer
			if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, c.img); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("%T, level %d", c.img, level)
			if got := checkAgainstStd(t, d, b.Bytes(), what); got != c.fast {
				t.Errorf("%s: the reader accepted it: %v, want %v", what, got, c.fast)
			}
		}
	}
}

// Damaged files: every truncation and every single changed byte of a few
// small files. Where the reader accepts one, image/png decodes it to the
// same image; a changed byte the CRCs or the zlib checksum see is left to
// image/png (and its error).
func TestPNGReaderDamagedFiles(t *testing.T) {
	d := new(pngReader)
	for _, s := range []pngSpec{
		{w: 5, h: 3, depth: 8, ct: 0, filters: []byte{0, 1, 4}},
		{w: 4, h: 4, depth: 8, ct: 2, filters: []byte{2, 3}, idatSize: 9, before: 1, after: 1},
		{w: 3, h: 2, depth: 8, ct: 6, filters: []byte{4}},
	} {
		b := writePNG(t, s)
		accepted := 0
		for n := 0; n < len(b); n++ {
			if checkAgainstStd(t, d, b[:n], fmt.Sprintf("%d×%d ct %d cut to %d bytes", s.w, s.h, s.ct, n)) {
				t.Errorf("%d×%d ct %d cut to %d of %d bytes: accepted without its IEND", s.w, s.h, s.ct, n, len(b))
			}
		}
		for i := range b {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(b)
				c[i] ^= x
				if checkAgainstStd(t, d, c, fmt.Sprintf("%d×%d ct %d, byte %d ^ %#x", s.w, s.h, s.ct, i, x)) {
					accepted++
				}
			}
		}
		// Trailing bytes after IEND are ignored by both.
		if !checkAgainstStd(t, d, append(bytes.Clone(b), "trailing"...), "trailing bytes") {
			t.Errorf("%d×%d ct %d: bytes after IEND made the reader decline", s.w, s.h, s.ct)
		}
		// Every byte up to IEND's CRC is the signature or lies under a
		// chunk's CRC (its length field decides where that CRC is), so no
		// changed copy is accepted.
		if accepted != 0 {
			t.Errorf("%d×%d ct %d: %d damaged copies accepted", s.w, s.h, s.ct, accepted)
		}
	}
}

// Bytes after the zlib stream in the IDAT data: image/png refuses them
// ("too much pixel data") unless its read-ahead happened to take them or
// they fill IDAT chunks after the one the stream ends in, so the reader
// leaves every such file to it.
func TestPNGReaderDeclinesDataAfterTheStream(t *testing.T) {
	d := new(pngReader)
	for _, junk := range []int{1, 3, 5000} {
		for _, idat := range []int{0, 2} {
			b := writePNG(t, pngSpec{w: 9, h: 4, depth: 8, ct: 0, filters: []byte{1}, junk: junk, idatSize: idat})
			if checkAgainstStd(t, d, b, fmt.Sprintf("%d bytes after the stream", junk)) {
				t.Errorf("%d bytes after the zlib stream (IDAT chunks of %d): accepted", junk, idat)
			}
			if junk == 5000 && idat == 0 {
				if _, err := png.Decode(bytes.NewReader(b)); err == nil {
					t.Errorf("image/png accepts %d bytes after the stream: the case this test is about is gone", junk)
				}
			}
		}
	}
}

// Converter.DecodeBytes (the reader where it can) and Converter.Decode
// (image/png) give the same bytes, for every shape and resize method.
func TestDecodeBytesMatchesDecode(t *testing.T) {
	for _, tc := range pngSpecs() {
		if tc.s.w != 28 && tc.s.w != 37 {
			continue
		}
		b := writePNG(t, tc.s)
		for _, cv := range []Converter{
			{Height: tc.s.h, Width: tc.s.w, Channels: 1},
			{Height: tc.s.h, Width: tc.s.w, Channels: 3},
			{Height: 16, Width: 12, Channels: 1, Resize: Fit},
			{Height: 16, Width: 12, Channels: 3, Resize: Fill},
		} {
			want, got := make([]uint8, cv.Elems()), make([]uint8, cv.Elems())
			if err := cv.Decode(bytes.NewReader(b), want); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if err := cv.DecodeBytes(b, got); err != nil {
				t.Fatalf("%s: DecodeBytes: %v", tc.name, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s into %d×%d×%d %s: DecodeBytes differs from Decode", tc.name, cv.Height, cv.Width, cv.Channels, cv.Resize)
			}
		}
	}
}

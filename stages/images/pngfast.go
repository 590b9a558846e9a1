package images

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// pngReader decodes the PNG files image datasets mostly hold — 8-bit gray,
// RGB or RGBA, not interlaced, without a PLTE or tRNS chunk — into images of
// the types image/png gives for them (*image.Gray, *image.RGBA,
// *image.NRGBA), with the same pixels, reusing its inflate state and its
// buffers from file to file: image/png allocates and clears a new 32 KiB
// inflate window, a bufio.Reader and the image for every file, which is
// most of what decoding a small file costs. It inflates with
// klauspost/compress (the shards' zstd comes from it too), with which
// Listing.Decode of 28×28 files takes about a fifth less CPU time than with
// compress/flate.
//
// It only ever declines: a file of any other kind, and any file it finds
// anything wrong with, it leaves to image/png (ok false), which then
// decodes it or gives the error. It accepts a file only when image/png
// would accept it too: every chunk's CRC checks, IHDR comes first, the IDAT
// chunks are consecutive and their zlib stream ends exactly where they
// end, holds exactly the rows the header declares, each with a valid filter
// type, and its checksum matches, and an IEND chunk follows.
type pngReader struct {
	zr    io.ReadCloser // a zlib reader, Reset for each file
	src   bytes.Reader  // the IDAT data zr reads
	idat  []byte        // the IDAT payloads joined, when there are several
	raw   []byte        // the decompressed rows, filter bytes included
	pix   []byte        // the returned image's pixels
	probe [1]byte
}

var pngReaders = sync.Pool{New: func() any { return new(pngReader) }}

// maxPooledPix is the largest pixel buffer a pngReader keeps for the next
// file; a larger one (a rare big image) is left to the garbage collector.
const maxPooledPix = 4 << 20

// PNG color types the reader accepts.
const (
	pngGray = 0
	pngRGB  = 2
	pngRGBA = 6
)

// decode returns the image in b, valid until the next decode, or ok false
// when image/png is to decode b instead.
func (d *pngReader) decode(b []byte) (img image.Image, ok bool) {
	const sig = "\x89PNG\r\n\x1a\n"
	if len(b) < len(sig) || string(b[:len(sig)]) != sig {
		return nil, false
	}
	p := len(sig)
	// chunk returns the chunk at p (its type and data) and the offset of
	// the next one, or ok false when it is cut short or its CRC is wrong.
	// The type is a slice of b (compared as string(typ), which allocates
	// nothing).
	chunk := func(p int) (typ, data []byte, next int, ok bool) {
		if len(b)-p < 12 {
			return nil, nil, 0, false
		}
		n := binary.BigEndian.Uint32(b[p:])
		if n > 0x7fffffff || uint64(len(b)-p-12) < uint64(n) {
			return nil, nil, 0, false
		}
		end := p + 8 + int(n)
		if crc32.ChecksumIEEE(b[p+4:end]) != binary.BigEndian.Uint32(b[end:]) {
			return nil, nil, 0, false
		}
		return b[p+4 : p+8], b[p+8 : end], end + 4, true
	}
	typ, hdr, p, ok := chunk(p)
	if !ok || string(typ) != "IHDR" || len(hdr) != 13 {
		return nil, false
	}
	w, h := int32(binary.BigEndian.Uint32(hdr[0:])), int32(binary.BigEndian.Uint32(hdr[4:]))
	depth, ct := hdr[8], hdr[9]
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels || depth != 8 || hdr[10] != 0 || hdr[11] != 0 || hdr[12] != 0 {
		return nil, false
	}
	var bpp int // bytes per pixel
	switch ct {
	case pngGray:
		bpp = 1
	case pngRGB:
		bpp = 3
	case pngRGBA:
		bpp = 4
	default:
		return nil, false
	}
	// Chunks before the image data: image/png skips any it does not know
	// (their CRCs checked); PLTE and tRNS change the result and a second
	// IHDR is an error, so those files are image/png's.
	var data []byte
	for {
		var c []byte
		if typ, c, p, ok = chunk(p); !ok {
			return nil, false
		}
		if string(typ) == "IDAT" {
			data = c
			break
		}
		switch string(typ) {
		case "IHDR", "PLTE", "tRNS", "IEND":
			return nil, false
		}
	}
	// Further consecutive IDAT chunks continue the stream.
	joined := false
	for {
		if typ, c, next, ok := chunk(p); ok && string(typ) == "IDAT" {
			if !joined {
				d.idat = append(d.idat[:0], data...)
				joined = true
			}
			d.idat = append(d.idat, c...)
			p = next
			continue
		}
		break
	}
	if joined {
		data = d.idat
	}
	// After the image data, skipped chunks up to IEND.
	for {
		var c []byte
		if typ, c, p, ok = chunk(p); !ok {
			return nil, false
		}
		if string(typ) == "IEND" {
			if len(c) != 0 {
				return nil, false
			}
			break
		}
		switch string(typ) {
		case "IHDR", "PLTE", "tRNS", "IDAT":
			return nil, false
		}
	}

	width, height := int(w), int(h)
	stride := 1 + bpp*width // a row with its filter byte
	need := stride * height
	d.src.Reset(data)
	if d.zr == nil {
		zr, err := zlib.NewReader(&d.src)
		if err != nil {
			return nil, false
		}
		d.zr = zr
	} else if err := d.zr.(zlib.Resetter).Reset(&d.src, nil); err != nil {
		return nil, false
	}
	d.raw = grow(d.raw, need)
	if _, err := io.ReadFull(d.zr, d.raw); err != nil {
		return nil, false
	}
	// The stream must end here, its checksum verified, with no IDAT byte
	// left over.
	n, err := 0, error(nil)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return nil, false
		}
		n, err = d.zr.Read(d.probe[:])
	}
	if n != 0 || err != io.EOF || d.src.Len() != 0 {
		return nil, false
	}

	out := 4 * width * height
	if ct == pngGray {
		out = width * height
	}
	d.pix = grow(d.pix, out)
	rect := image.Rect(0, 0, width, height)
	var prev []byte // the previous row, unfiltered; nil above the first
	for y := 0; y < height; y++ {
		row := d.raw[y*stride : (y+1)*stride]
		cur := row[1:]
		if !unfilter(row[0], cur, prev, bpp) {
			return nil, false
		}
		prev = cur
		switch ct {
		case pngGray:
			copy(d.pix[y*width:], cur)
		case pngRGB:
			px := d.pix[4*y*width : 4*(y+1)*width]
			for i, j := 0, 0; i < len(px); i, j = i+4, j+3 {
				px[i], px[i+1], px[i+2], px[i+3] = cur[j], cur[j+1], cur[j+2], 0xff
			}
		case pngRGBA:
			copy(d.pix[4*y*width:], cur)
		}
	}
	switch ct {
	case pngGray:
		return &image.Gray{Pix: d.pix, Stride: width, Rect: rect}, true
	case pngRGB:
		return &image.RGBA{Pix: d.pix, Stride: 4 * width, Rect: rect}, true
	default:
		return &image.NRGBA{Pix: d.pix, Stride: 4 * width, Rect: rect}, true
	}
}

// release drops buffers too large to keep for the next file.
func (d *pngReader) release() {
	if cap(d.pix) > maxPooledPix {
		d.pix = nil
	}
	if cap(d.raw) > maxPooledPix {
		d.raw = nil
	}
	if cap(d.idat) > maxPooledPix {
		d.idat = nil
	}
	d.src.Reset(nil)
}

// grow returns b resized to n bytes, reallocated only when it is too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// unfilter reverses a row's PNG filter in place (the PNG specification,
// section 9); prev is the previous row, unfiltered, or nil for the first
// row (which the filters treat as zeros). It reports false for an unknown
// filter type.
func unfilter(ft byte, cur, prev []byte, bpp int) bool {
	switch ft {
	case 0: // None
	case 1: // Sub
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case 2: // Up
		if prev != nil {
			prev = prev[:len(cur)]
			for i, p := range prev {
				cur[i] += p
			}
		}
	case 3: // Average
		if prev == nil {
			for i := bpp; i < len(cur); i++ {
				cur[i] += cur[i-bpp] / 2
			}
			break
		}
		prev = prev[:len(cur)]
		for i := 0; i < bpp; i++ {
			cur[i] += prev[i] / 2
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += uint8((int(cur[i-bpp]) + int(prev[i])) / 2)
		}
	case 4: // Paeth
		if prev == nil { // with b = c = 0 the predictor is a: Sub
			for i := bpp; i < len(cur); i++ {
				cur[i] += cur[i-bpp]
			}
			break
		}
		prev = prev[:len(cur)]
		for i := 0; i < bpp; i++ { // a = c = 0: the predictor is b
			cur[i] += prev[i]
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += paeth(cur[i-bpp], prev[i], prev[i-bpp])
		}
	default:
		return false
	}
	return true
}

// paeth is the Paeth predictor of the PNG specification.
func paeth(a, b, c uint8) uint8 {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// pngWhole reports whether b is a PNG file's signature and chunks up to and
// including its first IEND chunk, ending exactly there. Both PNG decoders
// (pngReader and image/png) read a file's chunks in order and stop after
// the first IEND, so for such a b whatever a file holds beyond it cannot
// change the decoded pixels or the error: a reader may stop reading there.
// Only the chunk lengths are looked at; the decoder checks the rest.
func pngWhole(b []byte) bool {
	const sig = "\x89PNG\r\n\x1a\n"
	if len(b) < len(sig) || string(b[:len(sig)]) != sig {
		return false
	}
	for p := len(sig); len(b)-p >= 12; {
		n := binary.BigEndian.Uint32(b[p:])
		if n > 0x7fffffff || uint64(len(b)-p-12) < uint64(n) {
			return false
		}
		next := p + 12 + int(n)
		if string(b[p+4:p+8]) == "IEND" {
			return next == len(b)
		}
		p = next
	}
	return false
}

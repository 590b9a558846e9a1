package images

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif" // registers the decoders image.Decode knows
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// MaxPixels bounds the size of a source image (2²⁵ ≈ 33.5 million pixels,
// e.g. 5792×5792): its header is read first (image.DecodeConfig), and a file
// declaring more is refused before its body is decoded, so a decompression
// bomb or a huge scan cannot exhaust memory. Decoded at up to 8 bytes a
// pixel (16-bit RGBA) that is 256 MiB per worker at most.
const MaxPixels = 1 << 25

// Resize methods.
const (
	// Fit scales the image to fit inside the target keeping its aspect
	// ratio, and centres it on black.
	Fit = "fit"
	// Fill scales it to cover the target keeping its aspect ratio, and crops
	// the centre.
	Fill = "fill"
)

// Filter is the resampling filter both methods use: imaging's Catmull-Rom
// cubic, sharp without Lanczos' ringing. Resampling is deterministic for a
// given platform and library version.
var Filter = imaging.CatmullRom

// Converter decodes image files into Height×Width×Channels uint8 pixels in
// HWC order. Conversion, in this order:
//
//   - alpha is composited on black, then dropped;
//   - 16-bit samples keep their high byte; palette images are expanded;
//   - an image of another size is resized by Resize (Fit or Fill) with
//     Filter (an image of the target size is copied unchanged);
//   - Channels 1: gray from colour by the ITU-R BT.601 luma weights,
//     Y = (299·R + 587·G + 114·B + 500) / 1000 in integers, so a gray image
//     keeps its exact values; Channels 3: RGB, gray replicated.
type Converter struct {
	Height, Width, Channels int
	Resize                  string
}

// Elems is the number of bytes one converted image has.
func (c *Converter) Elems() int { return c.Height * c.Width * c.Channels }

// DecodeFile decodes the image at path into dst (len Elems). Errors do not
// name the file; the caller knows it by its relative path.
func (c *Converter) DecodeFile(path string, dst []uint8) error {
	f, err := os.Open(path)
	if err != nil {
		return errors.Unwrap(err)
	}
	defer f.Close()
	return c.Decode(f, dst)
}

// Decode decodes an encoded image from r into dst.
func (c *Converter) Decode(r io.ReadSeeker, dst []uint8) error {
	if len(dst) != c.Elems() {
		return fmt.Errorf("images: destination holds %d bytes, want %d", len(dst), c.Elems())
	}
	cfg, format, err := image.DecodeConfig(peeker(r))
	if err != nil {
		return fmt.Errorf("not a decodable image (%s): %w", formatsKnown, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return fmt.Errorf("%s image of %d×%d pixels is empty", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return fmt.Errorf("%s image of %d×%d pixels is larger than the %d pixels an image may have", format, cfg.Width, cfg.Height, MaxPixels)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	img, _, err := image.Decode(peeker(r))
	if err != nil {
		return fmt.Errorf("%s image does not decode: %w", format, err)
	}
	c.convert(img, dst)
	return nil
}

const formatsKnown = "png, jpeg, gif, bmp, webp"

// DecodeBytes decodes an encoded image held in memory into dst: as Decode,
// without the buffering and the second read a file needs. The common kinds
// of PNG file are decoded by a reader that reuses its state from file to
// file (pngReader), every other file by Decode; both give the same pixels.
func (c *Converter) DecodeBytes(b []byte, dst []uint8) error {
	if len(dst) != c.Elems() {
		return fmt.Errorf("images: destination holds %d bytes, want %d", len(dst), c.Elems())
	}
	d := pngReaders.Get().(*pngReader)
	defer func() { d.release(); pngReaders.Put(d) }()
	if img, ok := d.decode(b); ok {
		c.convert(img, dst)
		return nil
	}
	return c.Decode(&memReader{b: b}, dst)
}

// peeker is r as the image decoders want it: a reader with Peek (which
// they would otherwise wrap in a new bufio.Reader).
func peeker(r io.Reader) io.Reader {
	if m, ok := r.(*memReader); ok {
		return m
	}
	return bufio.NewReader(r)
}

// memReader reads a byte slice, with the Peek that spares the image
// decoders a bufio.Reader of their own.
type memReader struct {
	b   []byte
	off int
}

func (m *memReader) Read(p []byte) (int, error) {
	if m.off >= len(m.b) {
		return 0, io.EOF
	}
	n := copy(p, m.b[m.off:])
	m.off += n
	return n, nil
}

func (m *memReader) ReadByte() (byte, error) {
	if m.off >= len(m.b) {
		return 0, io.EOF
	}
	m.off++
	return m.b[m.off-1], nil
}

func (m *memReader) Peek(n int) ([]byte, error) {
	if rest := m.b[m.off:]; len(rest) < n {
		return rest, io.EOF
	}
	return m.b[m.off : m.off+n], nil
}

func (m *memReader) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart || off < 0 || off > int64(len(m.b)) {
		return int64(m.off), errors.New("images: memReader seeks from the start only")
	}
	m.off = int(off)
	return off, nil
}

// convert brings img to the target shape in dst.
func (c *Converter) convert(img image.Image, dst []uint8) {
	b := img.Bounds()
	same := b.Dx() == c.Width && b.Dy() == c.Height
	if g, ok := img.(*image.Gray); ok && same && c.Channels == 1 {
		if g.Stride == c.Width && len(g.Pix) >= len(dst) && g.PixOffset(b.Min.X, b.Min.Y) == 0 { // rows back to back: one copy
			copy(dst, g.Pix)
			return
		}
		for y := 0; y < c.Height; y++ {
			copy(dst[y*c.Width:(y+1)*c.Width], g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		return
	}
	img = opaque(img)
	var n *image.NRGBA
	switch {
	case same:
		n = imaging.Clone(img)
	case c.Resize == Fill:
		n = imaging.Fill(img, c.Width, c.Height, imaging.Center, Filter)
	default:
		s := math.Min(float64(c.Width)/float64(b.Dx()), float64(c.Height)/float64(b.Dy()))
		fw := min(c.Width, max(1, int(math.Round(float64(b.Dx())*s))))
		fh := min(c.Height, max(1, int(math.Round(float64(b.Dy())*s))))
		canvas := image.NewNRGBA(image.Rect(0, 0, c.Width, c.Height))
		for i := 3; i < len(canvas.Pix); i += 4 {
			canvas.Pix[i] = 0xff
		}
		n = imaging.PasteCenter(canvas, imaging.Resize(img, fw, fh, Filter))
	}
	i := 0
	for y := 0; y < c.Height; y++ {
		px := n.Pix[y*n.Stride : y*n.Stride+4*c.Width]
		for x := 0; x < 4*c.Width; x += 4 {
			r, g, bl := uint32(px[x]), uint32(px[x+1]), uint32(px[x+2])
			if c.Channels == 1 {
				dst[i] = uint8((299*r + 587*g + 114*bl + 500) / 1000)
				i++
			} else {
				dst[i], dst[i+1], dst[i+2] = uint8(r), uint8(g), uint8(bl)
				i += 3
			}
		}
	}
}

// opaque composites an image that may hold transparency on black: drawn
// onto a premultiplied RGBA image, each colour is already multiplied by its
// alpha — which is what compositing on black gives — so the alpha can then
// be set to opaque.
func opaque(img image.Image) image.Image {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return img
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	for i := 3; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i] = 0xff
	}
	return rgba
}

// Package preview renders gray or colour (RGB) samples, typically a source image and its
// augmented variants, as one labelled grid image for a quick look at what an
// augment config does (write it with image/png, or use [Encode]).
//
// Each source (Sample.Group) gets a row; its samples sit side by side ordered
// by Sample.Copy, so the original (Copy = [Original]) comes first and its
// variants follow. Each cell is the image upscaled by nearest neighbour
// (github.com/disintegration/imaging), with its label drawn underneath in
// golang.org/x/image/font/basicfont's 7×13 face and clipped to the cell.
package preview

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"sort"

	"github.com/disintegration/imaging"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Original is the Copy value that marks a row's un-augmented source image;
// it sorts before every variant (copies 0, 1, …).
const Original = -1

// Sample is one image to place in the grid: gray (Channels 0 or 1) or RGB
// (Channels 3), drawn in colour.
type Sample struct {
	Pixels        []uint8 // row-major HWC: Height×Width×Channels
	Width, Height int
	Channels      int    // 1 (gray; 0 means 1) or 3 (RGB)
	Label         string // drawn under the image; may be empty
	Group         int    // source index: samples of one group share a row
	Copy          int    // position within the row: Original, then 0, 1, …
}

// Option configures Grid.
type Option func(*options)

type options struct {
	scale      int
	gap        int
	background color.NRGBA
	labelColor color.NRGBA
}

// Scale sets the nearest-neighbour upscaling factor of each image (default 3).
func Scale(n int) Option { return func(o *options) { o.scale = n } }

// Gap sets the spacing in output pixels around and between cells (default 2).
func Gap(px int) Option { return func(o *options) { o.gap = px } }

// Background sets the colour around the images and behind labels (default white).
func Background(c color.Color) Option {
	return func(o *options) { o.background = color.NRGBAModel.Convert(c).(color.NRGBA) }
}

// LabelColor sets the colour of label text (default black).
func LabelColor(c color.Color) Option {
	return func(o *options) { o.labelColor = color.NRGBAModel.Convert(c).(color.NRGBA) }
}

const (
	maxScale  = 64
	maxPixels = 1 << 26 // output size limit: 256 MiB of NRGBA
)

var face = basicfont.Face7x13

// labelHeight is the strip under each image that holds one line of text.
var labelHeight = face.Height + 2

// Grid renders samples as one image: a row per group (in order of first
// appearance), cells ordered by Copy within a row. All cells have the size of
// the largest upscaled image; smaller images sit at the cell's top-left.
func Grid(samples []Sample, opts ...Option) (*image.NRGBA, error) {
	o := options{scale: 3, gap: 2,
		background: color.NRGBA{255, 255, 255, 255}, labelColor: color.NRGBA{0, 0, 0, 255}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.scale < 1 || o.scale > maxScale {
		return nil, fmt.Errorf("preview: scale must be in [1, %d], got %d", maxScale, o.scale)
	}
	if o.gap < 0 || o.gap > 1024 {
		return nil, fmt.Errorf("preview: gap must be in [0, 1024], got %d", o.gap)
	}
	if len(samples) == 0 {
		return nil, errors.New("preview: no samples")
	}

	// Validate and lay out.
	var rows [][]int // sample indices per row
	rowOf := map[int]int{}
	maxW, maxH, hasLabel := 0, 0, false
	for i, s := range samples {
		if s.Width <= 0 || s.Height <= 0 || s.Width > 1<<16 || s.Height > 1<<16 {
			return nil, fmt.Errorf("preview: sample %d (group %d, copy %d): size %d×%d, want sides in [1, 65536]",
				i, s.Group, s.Copy, s.Width, s.Height)
		}
		ch := s.channels()
		if ch != 1 && ch != 3 {
			return nil, fmt.Errorf("preview: sample %d (group %d, copy %d): %d channels, want 1 (gray) or 3 (RGB)",
				i, s.Group, s.Copy, s.Channels)
		}
		if len(s.Pixels) != s.Width*s.Height*ch {
			if ch == 1 {
				return nil, fmt.Errorf("preview: sample %d (group %d, copy %d): %d pixels for %d×%d, want %d",
					i, s.Group, s.Copy, len(s.Pixels), s.Width, s.Height, s.Width*s.Height)
			}
			return nil, fmt.Errorf("preview: sample %d (group %d, copy %d): %d values for %d×%d×%d, want %d",
				i, s.Group, s.Copy, len(s.Pixels), s.Width, s.Height, ch, s.Width*s.Height*ch)
		}
		r, ok := rowOf[s.Group]
		if !ok {
			r = len(rows)
			rowOf[s.Group] = r
			rows = append(rows, nil)
		}
		rows[r] = append(rows[r], i)
		maxW, maxH = max(maxW, s.Width), max(maxH, s.Height)
		hasLabel = hasLabel || s.Label != ""
	}
	cols := 0
	for _, row := range rows {
		sort.SliceStable(row, func(a, b int) bool { return samples[row[a]].Copy < samples[row[b]].Copy })
		cols = max(cols, len(row))
	}
	cellW, imgH := maxW*o.scale, maxH*o.scale
	cellH := imgH
	if hasLabel {
		cellH += labelHeight
	}
	outW := cols*cellW + (cols+1)*o.gap
	outH := len(rows)*cellH + (len(rows)+1)*o.gap
	if int64(outW)*int64(outH) > maxPixels {
		return nil, fmt.Errorf("preview: grid of %d×%d cells would be %d×%d pixels, more than %d; use fewer samples or a smaller scale",
			cols, len(rows), outW, outH, maxPixels)
	}

	out := image.NewNRGBA(image.Rect(0, 0, outW, outH))
	draw.Draw(out, out.Bounds(), image.NewUniform(o.background), image.Point{}, draw.Src)
	ink := image.NewUniform(o.labelColor)
	for r, row := range rows {
		for c, i := range row {
			s := samples[i]
			x0 := o.gap + c*(cellW+o.gap)
			y0 := o.gap + r*(cellH+o.gap)
			big := imaging.Resize(s.image(), s.Width*o.scale, s.Height*o.scale, imaging.NearestNeighbor)
			draw.Draw(out, big.Bounds().Add(image.Pt(x0, y0)), big, image.Point{}, draw.Src)
			if s.Label != "" {
				cell := out.SubImage(image.Rect(x0, y0+imgH, x0+cellW, y0+cellH)).(*image.NRGBA)
				d := font.Drawer{Dst: cell, Src: ink, Face: face}
				tw := d.MeasureString(s.Label).Ceil()
				tx := x0 + max(0, (cellW-tw)/2) // centred; long labels start at the left and are clipped
				d.Dot = fixed.P(tx, y0+imgH+1+face.Ascent)
				d.DrawString(s.Label)
			}
		}
	}
	return out, nil
}

func (s Sample) channels() int {
	if s.Channels == 0 {
		return 1
	}
	return s.Channels
}

// image wraps the pixels as an image.Image: Gray for one channel, opaque
// NRGBA for RGB.
func (s Sample) image() image.Image {
	r := image.Rect(0, 0, s.Width, s.Height)
	if s.channels() == 1 {
		return &image.Gray{Pix: s.Pixels, Stride: s.Width, Rect: r}
	}
	img := image.NewNRGBA(r)
	for i := 0; i < s.Width*s.Height; i++ {
		copy(img.Pix[4*i:4*i+3], s.Pixels[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return img
}

// Encode renders samples with Grid and writes the result to w as PNG.
func Encode(w io.Writer, samples []Sample, opts ...Option) error {
	img, err := Grid(samples, opts...)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("preview: encoding PNG: %w", err)
	}
	return nil
}

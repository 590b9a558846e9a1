// Package normalize turns uint8 pixels into float32 (x/255 − mean)/std.
//
// Statistics are accumulated as an exact 256-bin histogram of byte values
// per channel, so the mean and std do not depend on the order or grouping in
// which images are seen (no floating-point summation order), and the
// conversion is a 256-entry lookup table per channel (manifest.Normalize.Table),
// so every worker produces the same float for the same byte.
package normalize

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Version enters the dataset hash; bump it whenever the same pixels would be
// normalized to different floats.
const Version = "normalize/1"

// Histogram counts pixel values.
type Histogram [256]uint64

// Add counts the pixels of p.
//
// Eight equal bytes in a row — a flat background, the zeros around a digit —
// are counted with one addition: counting them one by one makes each
// increment of the same counter wait for the one before, and that chain was
// most of the time this took on MNIST's images.
func (h *Histogram) Add(p []uint8) {
	for len(p) >= 8 {
		w, b := binary.LittleEndian.Uint64(p), p[0]
		if w == uint64(b)*0x0101010101010101 {
			h[b] += 8
		} else {
			for _, v := range p[:8] {
				h[v]++
			}
		}
		p = p[8:]
	}
	for _, v := range p {
		h[v]++
	}
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// MeanStd returns the mean and standard deviation of the counted pixels on
// the [0, 1] scale (x/255).
func (h *Histogram) MeanStd() (mean, std float64, err error) {
	var n, s, ss float64
	for v, c := range h {
		x := float64(v) / 255
		n += float64(c)
		s += float64(c) * x
		ss += float64(c) * x * x
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("normalize: no train pixels to compute mean/std from")
	}
	mean = s / n
	std = math.Sqrt(math.Max(ss/n-mean*mean, 0))
	if std == 0 {
		return 0, 0, fmt.Errorf("normalize: train pixels are constant (std 0); use mode: fixed or none")
	}
	return mean, std, nil
}

// Histograms holds one Histogram per channel of HWC images: value i of an
// image counts towards channel i mod len(h). One channel is exactly a
// single Histogram.
type Histograms []Histogram

// NewHistograms returns empty histograms for images of the given channels.
func NewHistograms(channels int) Histograms { return make(Histograms, channels) }

// Add counts the pixels of p, whole HWC images (or runs of them).
func (h Histograms) Add(p []uint8) {
	if len(h) == 1 {
		h[0].Add(p)
		return
	}
	c := len(h)
	for i := 0; i+c <= len(p); i += c {
		for k := range c {
			h[k][p[i+k]]++
		}
	}
}

// Merge adds the counts of o, which has as many channels.
func (h Histograms) Merge(o Histograms) {
	for k := range h {
		h[k].Merge(&o[k])
	}
}

// MeanStd returns the mean and std of each channel; a channel whose train
// pixels are constant is an error naming it.
func (h Histograms) MeanStd() (mean, std []float64, err error) {
	mean, std = make([]float64, len(h)), make([]float64, len(h))
	for k := range h {
		if mean[k], std[k], err = h[k].MeanStd(); err != nil {
			if len(h) > 1 {
				err = fmt.Errorf("channel %d: %w", k, err)
			}
			return nil, nil, err
		}
	}
	return mean, std, nil
}

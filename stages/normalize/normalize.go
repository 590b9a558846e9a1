// Package normalize turns uint8 pixels into float32 (x/255 − mean)/std.
//
// Statistics are accumulated as an exact 256-bin histogram of byte values, so
// the mean and std do not depend on the order or grouping in which images are
// seen (no floating-point summation order), and the conversion is a 256-entry
// lookup table (manifest.Normalize.Table), so every worker produces the same
// float for the same byte.
package normalize

import (
	"fmt"
	"math"
)

// Version enters the dataset hash; bump it whenever the same pixels would be
// normalized to different floats.
const Version = "normalize/1"

// Histogram counts pixel values.
type Histogram [256]uint64

// Add counts the pixels of p.
func (h *Histogram) Add(p []uint8) {
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

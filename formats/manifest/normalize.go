package manifest

import (
	"fmt"
	"math"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// The pixel normalization of a version. Normalize is the one definition of
// the mapping between stored bytes and the floats a model sees: prep's
// normalize stage writes Table's values into float32 shards, the trainer's
// loader applies the same Table to uint8 shards (vocab.NormalizeNone), and preview
// inverts it with Denormalize. So a uint8 shard and the equivalent float32
// shard give a model bitwise the same inputs.
//
// Images are stored HWC (channels interleaved per pixel), so value i of an
// image belongs to channel i mod C, and Mean[c], Std[c] apply to it.

// Table maps a pixel byte of channel c to its normalized float32: t[c][v].
type Table [][256]float32

// Table returns the lookup tables of (x/255 − Mean[c])/Std[c], computed in
// float64 and rounded once to float32. A table lookup per pixel also makes
// every worker produce the same float for the same byte.
func (n Normalize) Table() Table {
	t := make(Table, len(n.Mean))
	for c := range t {
		for v := range t[c] {
			t[c][v] = float32((float64(v)/255 - n.Mean[c]) / n.Std[c])
		}
	}
	return t
}

// Channels is the number of channels the table was built for.
func (t Table) Channels() int { return len(t) }

// Apply writes the normalized values of src, whole HWC images (or runs of
// them), into dst (len(dst) ≥ len(src)).
func (t Table) Apply(dst []float32, src []uint8) {
	dst = dst[:len(src)]
	if len(t) == 1 {
		t0 := &t[0]
		for i, v := range src {
			dst[i] = t0[v]
		}
		return
	}
	c := len(t)
	for i := 0; i+c <= len(src); i += c {
		for k := range c {
			dst[i+k] = t[k][src[i+k]]
		}
	}
}

// Denormalize maps a normalized value of channel c back to the nearest pixel
// byte, clamped to [0, 255]: the inverse of Table for the values it holds.
func (n Normalize) Denormalize(c int, v float32) uint8 {
	x := (float64(v)*n.Std[c] + n.Mean[c]) * 255
	return uint8(math.Round(math.Max(0, math.Min(255, x))))
}

// Validate checks that the values can be applied: one finite mean and one
// finite std > 0 per channel (a zero std would turn every pixel into ±Inf or
// NaN), as many means as stds.
func (n Normalize) Validate() error {
	if !n.Mode.Valid() {
		return fmt.Errorf("normalize.mode %q, expected %s", n.Mode, vocab.OrList(vocab.NormalizeModes))
	}
	if len(n.Mean) == 0 || len(n.Std) == 0 {
		return fmt.Errorf("normalize: mean and std need at least one value each, got %d and %d", len(n.Mean), len(n.Std))
	}
	if len(n.Mean) != len(n.Std) {
		return fmt.Errorf("normalize: %d means but %d stds", len(n.Mean), len(n.Std))
	}
	for c := range n.Mean {
		at := ""
		if len(n.Mean) > 1 {
			at = fmt.Sprintf("[%d]", c)
		}
		if m := n.Mean[c]; math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("normalize.mean%s %v is not a finite number", at, m)
		}
		if s := n.Std[c]; !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("normalize.std%s %v, expected a finite number > 0", at, s)
		}
	}
	return nil
}

// ValidateFor is Validate plus the check that there is one value per channel.
func (n Normalize) ValidateFor(channels int) error {
	if err := n.Validate(); err != nil {
		return err
	}
	if len(n.Mean) != channels {
		return fmt.Errorf("normalize: %d mean/std values for %d channels", len(n.Mean), channels)
	}
	return nil
}

// Equal reports whether n and o are the same mode and values.
func (n Normalize) Equal(o Normalize) bool {
	return n.Mode == o.Mode && n.Mean.Equal(o.Mean) && n.Std.Equal(o.Std)
}

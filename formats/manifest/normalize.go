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

// Table maps a pixel byte to its normalized float32.
type Table [256]float32

// Table returns the lookup table of (x/255 − Mean)/Std, computed in float64
// and rounded once to float32. A table lookup per pixel also makes every
// worker produce the same float for the same byte.
func (n Normalize) Table() *Table {
	var t Table
	for v := range t {
		t[v] = float32((float64(v)/255 - n.Mean) / n.Std)
	}
	return &t
}

// Apply writes the normalized values of src into dst (len(dst) ≥ len(src)).
func (t *Table) Apply(dst []float32, src []uint8) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = t[v]
	}
}

// Denormalize maps a normalized value back to the nearest pixel byte,
// clamped to [0, 255]: the inverse of Table for the values it holds.
func (n Normalize) Denormalize(v float32) uint8 {
	x := (float64(v)*n.Std + n.Mean) * 255
	return uint8(math.Round(math.Max(0, math.Min(255, x))))
}

// Validate checks that the values can be applied: a finite mean and a
// finite std > 0 (a zero std would turn every pixel into ±Inf or NaN).
func (n Normalize) Validate() error {
	if !n.Mode.Valid() {
		return fmt.Errorf("normalize.mode %q, expected %s", n.Mode, vocab.OrList(vocab.NormalizeModes))
	}
	if math.IsNaN(n.Mean) || math.IsInf(n.Mean, 0) {
		return fmt.Errorf("normalize.mean %v is not a finite number", n.Mean)
	}
	if !(n.Std > 0) || math.IsInf(n.Std, 0) {
		return fmt.Errorf("normalize.std %v, expected a finite number > 0", n.Std)
	}
	return nil
}

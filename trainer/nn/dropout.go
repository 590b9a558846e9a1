package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// dropChunk is the number of elements that share one random stream. Streams
// are keyed by (step key, chunk index), never by goroutine, so the mask does
// not depend on how the work is split.
const dropChunk = 4096

// Dropout zeroes each element with probability p while training and scales
// the survivors by 1/(1-p) (inverted dropout), so evaluation is the identity.
// Randomness comes from a PCG generator whose state can be saved and
// restored (RNGState), making a resumed run draw the same masks.
type Dropout struct {
	name   string
	p      float64
	rng    rand.PCG
	thresh uint64 // drop when a 32-bit draw is below this
	scale  float32

	key          uint64
	active       bool
	x, dy        *Tensor
	y, dx        Tensor
	mask         []float32
	fwdFn, bwdFn func(lo, hi int)
}

// NewDropout returns a dropout layer with drop probability p in [0, 1) and
// its generator seeded with (seed1, seed2).
func NewDropout(name string, p float64, seed1, seed2 uint64) (*Dropout, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("nn: %s: dropout probability %v outside [0, 1)", name, p)
	}
	d := &Dropout{name: name, p: p,
		thresh: uint64(math.Round(p * (1 << 32))),
		scale:  float32(1 / (1 - p)),
	}
	d.rng.Seed(seed1, seed2)
	d.fwdFn = d.forwardRange
	d.bwdFn = d.backwardRange
	return d, nil
}

func (d *Dropout) Name() string                     { return d.name }
func (d *Dropout) Params() []*Param                 { return nil }
func (d *Dropout) Spec() LayerSpec                  { return LayerSpec{Type: "dropout", Name: d.name, P: d.p} }
func (d *Dropout) OutShape(in []int) ([]int, error) { return append([]int(nil), in...), nil }

// RNGState returns the generator state (PCG binary encoding).
func (d *Dropout) RNGState() ([]byte, error) { return d.rng.MarshalBinary() }

// SetRNGState restores a state returned by RNGState.
func (d *Dropout) SetRNGState(b []byte) error {
	if err := d.rng.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("nn: %s: restoring dropout RNG state: %w", d.name, err)
	}
	return nil
}

func (d *Dropout) Forward(x *Tensor, train bool) *Tensor {
	d.active = train && d.p > 0
	if !d.active {
		return x
	}
	d.x = x
	d.key = d.rng.Uint64()
	d.y.resize(x.Shape...)
	d.y.Layout = x.Layout
	d.mask = growF32(d.mask, len(x.Data))
	chunks := (len(x.Data) + dropChunk - 1) / dropChunk
	parallelFor(chunks, 4, d.fwdFn)
	return &d.y
}

func (d *Dropout) forwardRange(lo, hi int) {
	var r rand.PCG
	n := len(d.x.Data)
	thresh, scale := d.thresh, d.scale
	for c := lo; c < hi; c++ {
		r.Seed(d.key, splitmix64(uint64(c)))
		end := min(n, (c+1)*dropChunk)
		x := d.x.Data[c*dropChunk : end]
		y := d.y.Data[c*dropChunk : end]
		m := d.mask[c*dropChunk : end]
		y = y[:len(x)]
		m = m[:len(x)]
		// Two 32-bit draws per 64-bit output. The keep decision is
		// turned into 0 or 1 without a branch: it is random, so a
		// branch would mispredict a p-sized fraction of the time.
		for i := 0; i < len(x); i += 2 {
			bits := r.Uint64()
			var k0, k1 uint32
			if bits&0xffffffff >= thresh {
				k0 = 1
			}
			if bits>>32 >= thresh {
				k1 = 1
			}
			s0 := float32(k0) * scale
			m[i], y[i] = s0, x[i]*s0
			if i+1 < len(x) {
				s1 := float32(k1) * scale
				m[i+1], y[i+1] = s1, x[i+1]*s1
			}
		}
	}
}

func (d *Dropout) Backward(dy *Tensor, needDX bool) *Tensor {
	if !needDX {
		return nil
	}
	if !d.active {
		return dy
	}
	d.dy = dy
	d.dx.resize(dy.Shape...)
	d.dx.Layout = dy.Layout
	parallelFor(len(dy.Data), elementGrain, d.bwdFn)
	return &d.dx
}

func (d *Dropout) backwardRange(lo, hi int) {
	g := d.dy.Data[lo:hi]
	m := d.mask[lo:hi]
	o := d.dx.Data[lo:hi]
	m = m[:len(g)]
	o = o[:len(g)]
	for i, v := range g {
		o[i] = v * m[i]
	}
}

// splitmix64 is a strong 64-bit mixer (Steele et al.), used to derive
// unrelated stream seeds from consecutive integers.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

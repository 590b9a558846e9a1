// Package augment makes deterministic augmented variants of images, gray or
// with several channels stored HWC (channels interleaved per pixel).
//
// An [Augmenter] is built once from a list of ops (the YAML config's
// `augment:` list, one [Spec] per entry) and then applied to any number of
// images from any number of goroutines. Every random draw for a sample
// depends only on (seed, sourceIndex, copy), so a dataset built with one
// worker is byte-for-byte the dataset built with sixteen, in any order.
//
// # Ops
//
//	rotate    {degrees}            angle uniform in [-degrees, degrees], counter-clockwise positive
//	translate {pixels}             shift uniform in [-pixels, pixels] on x and on y, sub-pixel
//	scale     {min, max}           isotropic zoom factor uniform in [min, max]
//	shear     {degrees}            x-shear angle uniform in [-degrees, degrees]
//	elastic   {alpha, sigma}       Simard et al. 2003 elastic distortion
//	noise     {stddev}             additive Gaussian noise, stddev in [0,1] pixel units, clamped
//	erase     {max_fraction, [min_fraction, value, random]}
//	                               random erasing of a rectangle covering min..max fraction of the image
//
// Every op also takes p, the probability that it is applied (default 1).
// Geometric ops act about the image centre ((W-1)/2, (H-1)/2 in pixel
// indices, the convention torchvision and imaging use); pixels that come from
// outside the source are 0, the MNIST background.
//
// # Which path each op takes, and why
//
// Throughput is the point of this package: a training run wants tens of
// thousands of 28×28 variants per second per core, more than ten times what
// torchvision's RandomAffine delivers through a DataLoader. A general image
// library (github.com/disintegration/imaging) converts to NRGBA, makes one
// full pass per op, allocates a new image per op and fans each op out over
// goroutines, which for a 784-pixel image costs far more than the arithmetic
// (BenchmarkImagingAffine runs the RandomAffine-equivalent that way, about
// 20× slower than BenchmarkRandomAffine). So the hot paths work on []uint8
// directly with per-call scratch from a sync.Pool and no allocation:
//
//   - rotate, translate, scale and shear are affine maps. A run of
//     consecutive affine ops is composed into ONE 2×3 matrix (about the
//     image centre) and the image is resampled once, with bilinear
//     interpolation: source coordinates are stepped in 32.32 fixed point along
//     each row and the four taps are blended with 8-bit integer weights from a
//     zero-bordered copy of the source, so the inner loop has no float maths
//     and a single bounds test. Resampling once is also more accurate than
//     resampling per op. An identity draw (0°, 0 px, scale 1, or every op
//     skipped by p) copies the image unchanged; the warp itself is exact at
//     identity and at integer shifts and quarter turns too.
//   - elastic draws two fields of uniform [-1,1] displacements, smooths them
//     with a separable Gaussian of standard deviation sigma (radius ⌈3σ⌉,
//     reflected borders) on float32 scaled by alpha, and samples the source
//     bilinearly at (x+dx, y+dy). imaging.Blur is not used: it works on 8-bit
//     NRGBA, which would quantise a field whose smoothed magnitude is a few
//     hundredths to a handful of levels, and it spawns goroutines per call. An
//     elastic op directly after affine ops is fused into the same resampling
//     pass (the field is applied in output space, then the composed matrix).
//   - noise adds stddev·255·N(0,1) per pixel, rounded and clamped, in place.
//     Normal deviates come from a 4096-entry inverse-CDF table (tails cut at
//     about ±3.5σ) held in 1/256-level fixed point, five 12-bit draws per
//     64-bit random word: integer-only, several times faster than a Gaussian
//     generator, ample for 8-bit output, and independent of any library's
//     normal-sampling algorithm.
//   - erase fills a rectangle in place (Zhong et al. 2017): area fraction
//     uniform in [min_fraction, max_fraction], aspect ratio log-uniform in
//     [0.3, 1/0.3], position uniform; filled with value (default 0) or, with
//     random: 1, uniform random bytes.
//
// [Augmenter.Describe] prints this per op for a given config.
//
// # Channels
//
// An image of C channels (WithChannels) gets ONE draw per op, shared by its
// channels: one composed matrix and one elastic field, resampled channel by
// channel (each plane is copied out, warped and interleaved back, with the
// same code as a gray image), one erase rectangle covering every channel,
// while noise draws per value, so every channel gets its own deviates. A
// gray image (C = 1) takes exactly the path and draws it always took.
//
// # Determinism
//
// Each op i of a sample gets its own PCG-DXSM stream (math/rand/v2's PCG)
// seeded from a SplitMix64-style hash of (seed, sourceIndex, copy, i), so
// changing one op's p or parameters leaves the other ops' draws untouched.
// Uniform and normal deviates are derived from the raw 64-bit words by this
// package, not by math/rand's helpers, so the output depends only on this
// package's code; [Version] names that code in the dataset hash and changes
// whenever output bytes would.
package augment

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
)

// Version identifies the augmentation algorithm in the dataset hash. It must
// change whenever the bytes produced for a given config could change.
const Version = "augment/2"

// Spec is one op from the config, e.g. `- rotate: {degrees: 12}` at line 7
// becomes Spec{Op: "rotate", Params: {"degrees": 12}, Line: 7}.
type Spec struct {
	Op     string
	Params map[string]float64
	Line   int // config line, for error messages; 0 if unknown
}

// SpecError reports an invalid op in the config.
type SpecError struct {
	Line  int    // config line of the op; 0 if unknown
	Index int    // position of the op in the list, from 0
	Op    string // op name as written
	Msg   string
}

func (e *SpecError) Error() string {
	var where string
	if e.Line > 0 {
		where = fmt.Sprintf("line %d", e.Line)
	} else {
		where = fmt.Sprintf("augment op #%d", e.Index+1)
	}
	if e.Op == "" {
		return where + ": " + e.Msg
	}
	return where + ": " + e.Op + ": " + e.Msg
}

// Augmenter applies a fixed list of ops to images of one size. It is
// immutable after New and safe for concurrent use.
type Augmenter struct {
	seed          uint64
	width, height int
	channels      int
	stages        []stage
	nops          int
	pool          sync.Pool // *scratch
}

// Option configures New.
type Option func(*options) error

type options struct {
	channels int
}

// maxChannels bounds the channels of an image (an IDX item's last dimension
// may be anything; more than this is not an image).
const maxChannels = 64

// WithChannels sets the number of interleaved channels per pixel (default 1).
func WithChannels(c int) Option {
	return func(o *options) error {
		if c < 1 || c > maxChannels {
			return fmt.Errorf("augment: channels must be in [1, %d], got %d", maxChannels, c)
		}
		o.channels = c
		return nil
	}
}

// New validates specs and builds an Augmenter for width×height images.
func New(seed uint64, width, height int, specs []Spec, opts ...Option) (*Augmenter, error) {
	o := options{channels: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("augment: image size must be positive, got %d×%d", width, height)
	}
	if width > maxSide || height > maxSide {
		return nil, fmt.Errorf("augment: image side must be at most %d, got %d×%d", maxSide, width, height)
	}
	a := &Augmenter{seed: seed, width: width, height: height, channels: o.channels, nops: len(specs)}
	var cur *warpStage // open run of geometric ops, nil if none
	for i, s := range specs {
		o, err := parseOp(i, s, width, height)
		if err != nil {
			return nil, err
		}
		switch o := o.(type) {
		case affineOp:
			if cur == nil {
				cur = &warpStage{}
				a.stages = append(a.stages, cur)
			}
			cur.affine = append(cur.affine, o)
		case *elasticOp:
			if cur == nil {
				cur = &warpStage{}
				a.stages = append(a.stages, cur)
			}
			cur.elastic = o
			cur = nil // an affine op after elastic starts a new pass
		case *noiseOp:
			a.stages = append(a.stages, o)
			cur = nil
		case *eraseOp:
			a.stages = append(a.stages, o)
			cur = nil
		}
	}
	a.pool.New = func() any { return a.newScratch() }
	return a, nil
}

// Width, Height and Channels report the image shape the Augmenter was
// built for.
func (a *Augmenter) Width() int    { return a.width }
func (a *Augmenter) Height() int   { return a.height }
func (a *Augmenter) Channels() int { return a.channels }

// Elems is the number of bytes of one image.
func (a *Augmenter) Elems() int { return a.width * a.height * a.channels }

// Apply writes into dst variant number copyIdx of src, the source image
// with index sourceIndex. Both are row-major height×width×channels bytes
// (HWC); dst may be src. The result depends only on (seed, sourceIndex,
// copyIdx) and the ops. Apply panics if a buffer has the wrong length, like
// an out-of-range index.
func (a *Augmenter) Apply(dst, src []uint8, sourceIndex uint64, copyIdx int) {
	n := a.Elems()
	if len(src) != n || len(dst) != n {
		shape := fmt.Sprintf("%d×%d", a.width, a.height)
		if a.channels > 1 {
			shape += fmt.Sprintf("×%d", a.channels)
		}
		panic(fmt.Sprintf("augment: Apply: want %d-byte buffers for %s, got src %d, dst %d",
			n, shape, len(src), len(dst)))
	}
	s := a.pool.Get().(*scratch)
	key := sampleKey(a.seed, sourceIndex, uint64(int64(copyIdx)))
	cur := src // the image so far; becomes dst once any op has written
	for _, st := range a.stages {
		cur = st.apply(a, s, key, dst, cur)
	}
	if &cur[0] != &dst[0] {
		copy(dst, cur)
	}
	a.pool.Put(s)
}

// Describe returns one line per op saying what it draws and which
// implementation path it takes.
func (a *Augmenter) Describe() []string {
	var out []string
	for _, st := range a.stages {
		out = append(out, st.describe()...)
	}
	return out
}

// Ops lists the op names New accepts, sorted.
func Ops() []string {
	names := make([]string, 0, len(schemas))
	for k := range schemas {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// stage is one pass over the image: a fused geometric warp, noise or erase.
type stage interface {
	// apply transforms cur (src or dst) and returns the image it produced,
	// which is dst if it wrote anything and cur otherwise.
	apply(a *Augmenter, s *scratch, key uint64, dst, cur []uint8) []uint8
	describe() []string
}

// scratch is per-call working memory, recycled through the Augmenter's pool.
type scratch struct {
	pcg    rand.PCG
	pad    []uint8   // (w+2)×(h+2) zero-bordered copy of the warp source
	dx, dy []float32 // elastic displacement fields, w×h
	tmp    []float32 // blur intermediate: the row pass's output, h rows of w+2r
	pad32  []float32 // the field being blurred, reflect-padded by r on two sides
	// in and out hold one channel plane of a multi-channel image, w×h.
	in, out []uint8
}

func (a *Augmenter) newScratch() *scratch {
	w, h := a.width, a.height
	s := &scratch{pad: make([]uint8, (w+2)*(h+2))}
	if a.channels > 1 {
		s.in, s.out = make([]uint8, w*h), make([]uint8, w*h)
	}
	for _, st := range a.stages {
		if ws, ok := st.(*warpStage); ok && ws.elastic != nil {
			s.dx = make([]float32, w*h)
			s.dy = make([]float32, w*h)
			r := ws.elastic.radius
			s.tmp = make([]float32, h*(w+2*r))
			s.pad32 = make([]float32, max(h*(w+2*r), (h+2*r)*w))
		}
	}
	return s
}

// rng returns the scratch PCG reseeded for op index i of the sample key.
func (s *scratch) rng(key uint64, i int) *rand.PCG {
	k := mix64(key ^ mix64(uint64(i)+0x632be59bd9b4e019))
	s.pcg.Seed(k, mix64(k^0xd1b54a32d192ed03))
	return &s.pcg
}

// sampleKey hashes (seed, sourceIndex, copy) into one well-mixed word.
func sampleKey(seed, sourceIndex, copyIdx uint64) uint64 {
	k := mix64(seed ^ 0x9e3779b97f4a7c15)
	k = mix64(k ^ sourceIndex)
	k = mix64((k + 0x94d049bb133111eb) ^ copyIdx)
	return k
}

// mix64 is the SplitMix64 finaliser: a bijection with full avalanche.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit returns a uniform float64 in [0, 1) from the top 53 bits of a word.
func unit(r *rand.PCG) float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// symmetric returns a uniform float64 in [-d, d) (exactly 0 when d is 0).
func symmetric(r *rand.PCG, d float64) float64 { return float64((2*unit(r) - 1) * d) }

// gate draws whether an op with probability p fires. It always consumes one
// word so that later draws do not depend on p.
func gate(r *rand.PCG, p float64) bool { return unit(r) < p }

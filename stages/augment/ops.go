package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// maxSide bounds image sides so fixed-point coordinates cannot overflow.
const maxSide = 1 << 16

type param struct {
	name     string
	required bool
}

// schemas lists each op's parameters; every op also takes p.
var schemas = map[string][]param{
	"rotate":    {{"degrees", true}},
	"translate": {{"pixels", true}},
	"scale":     {{"min", true}, {"max", true}},
	"shear":     {{"degrees", true}},
	"elastic":   {{"alpha", true}, {"sigma", true}},
	"noise":     {{"stddev", true}},
	"erase":     {{"max_fraction", true}, {"min_fraction", false}, {"value", false}, {"random", false}},
}

// defaultMinEraseFraction is torchvision RandomErasing's lower area bound.
const defaultMinEraseFraction = 0.02

// parseOp validates one spec and returns an affineOp, *elasticOp, *noiseOp
// or *eraseOp.
func parseOp(index int, s Spec, width, height int) (any, error) {
	fail := func(format string, args ...any) error {
		return &SpecError{Line: s.Line, Index: index, Op: s.Op, Msg: fmt.Sprintf(format, args...)}
	}
	schema, ok := schemas[s.Op]
	if !ok {
		e := &SpecError{Line: s.Line, Index: index,
			Msg: fmt.Sprintf("unknown op %q (known: %s)", s.Op, strings.Join(Ops(), ", "))}
		return nil, e
	}
	known := map[string]bool{"p": true}
	names := make([]string, 0, len(schema)+1)
	for _, p := range schema {
		known[p.name] = true
		names = append(names, p.name)
	}
	names = append(names, "p")
	// Report unknown keys in sorted order so the error is stable.
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return nil, fail("unknown parameter %q (%s takes %s)", k, s.Op, strings.Join(names, ", "))
		}
		if v := s.Params[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fail("%s must be a finite number, got %g", k, v)
		}
	}
	for _, p := range schema {
		if _, ok := s.Params[p.name]; p.required && !ok {
			return nil, fail("missing parameter %q (%s takes %s)", p.name, s.Op, strings.Join(names, ", "))
		}
	}
	prob := 1.0
	if v, ok := s.Params["p"]; ok {
		if v < 0 || v > 1 {
			return nil, fail("p must be in [0, 1], got %g", v)
		}
		prob = v
	}
	get := func(name string) float64 { return s.Params[name] }
	nonNeg := func(name string) error {
		if v := get(name); v < 0 {
			return fail("%s must be ≥ 0, got %g", name, v)
		}
		return nil
	}

	switch s.Op {
	case "rotate", "translate", "shear":
		field := schema[0].name
		if err := nonNeg(field); err != nil {
			return nil, err
		}
		kind := map[string]affineKind{"rotate": opRotate, "translate": opTranslate, "shear": opShear}[s.Op]
		if kind == opShear && get(field) >= 90 {
			return nil, fail("degrees must be < 90, got %g", get(field))
		}
		return affineOp{kind: kind, index: index, p: prob, lo: get(field)}, nil
	case "scale":
		lo, hi := get("min"), get("max")
		if lo <= 0 {
			return nil, fail("min must be > 0, got %g", lo)
		}
		if lo > hi {
			return nil, fail("min must be ≤ max, got min %g > max %g", lo, hi)
		}
		return affineOp{kind: opScale, index: index, p: prob, lo: lo, hi: hi}, nil
	case "elastic":
		if err := nonNeg("alpha"); err != nil {
			return nil, err
		}
		sigma := get("sigma")
		if sigma <= 0 {
			return nil, fail("sigma must be > 0, got %g", sigma)
		}
		if side := max(width, height); sigma > float64(side) {
			return nil, fail("sigma must be at most the image side (%d), got %g", side, sigma)
		}
		return newElasticOp(index, prob, get("alpha"), sigma), nil
	case "noise":
		if err := nonNeg("stddev"); err != nil {
			return nil, err
		}
		return newNoiseOp(index, prob, get("stddev")), nil
	case "erase":
		hi := get("max_fraction")
		if hi <= 0 || hi > 1 {
			return nil, fail("max_fraction must be in (0, 1], got %g", hi)
		}
		lo := min(defaultMinEraseFraction, hi)
		if v, ok := s.Params["min_fraction"]; ok {
			if v < 0 {
				return nil, fail("min_fraction must be ≥ 0, got %g", v)
			}
			if v > hi {
				return nil, fail("min_fraction must be ≤ max_fraction, got min_fraction %g > max_fraction %g", v, hi)
			}
			lo = v
		}
		val := get("value")
		if val < 0 || val > 255 || val != math.Trunc(val) {
			return nil, fail("value must be an integer in [0, 255], got %g", val)
		}
		rnd := get("random")
		if rnd != 0 && rnd != 1 {
			return nil, fail("random must be 0 or 1, got %g", rnd)
		}
		return &eraseOp{index: index, p: prob, lo: lo, hi: hi, value: uint8(val), random: rnd == 1}, nil
	}
	panic("augment: schema without parser for " + s.Op)
}

// ---- affine ops ----

type affineKind uint8

const (
	opRotate affineKind = iota
	opTranslate
	opScale
	opShear
)

var affineNames = [...]string{"rotate", "translate", "scale", "shear"}

// affineOp is rotate, translate, scale or shear. lo is degrees, pixels or the
// scale minimum; hi is the scale maximum.
type affineOp struct {
	kind   affineKind
	index  int
	p      float64
	lo, hi float64
}

func (o affineOp) String() string {
	switch o.kind {
	case opRotate, opShear:
		return fmt.Sprintf("%s degrees=%g p=%g", affineNames[o.kind], o.lo, o.p)
	case opTranslate:
		return fmt.Sprintf("translate pixels=%g p=%g", o.lo, o.p)
	default:
		return fmt.Sprintf("scale min=%g max=%g p=%g", o.lo, o.hi, o.p)
	}
}

// compose draws this op's parameters and appends its inverse to g.
func (o affineOp) compose(g *lin, r *rand.PCG) {
	if !gate(r, o.p) {
		return
	}
	switch o.kind {
	case opRotate:
		g.rotate(symmetric(r, o.lo))
	case opTranslate:
		tx := symmetric(r, o.lo)
		ty := symmetric(r, o.lo)
		g.translate(tx, ty)
	case opScale:
		g.scale(o.lo + float64(unit(r)*(o.hi-o.lo)))
	case opShear:
		g.shear(symmetric(r, o.lo))
	}
}

// lin is the inverse map of the geometric ops drawn so far, in coordinates
// centred on the image centre: source = M·q + t for an output point q.
type lin struct {
	m00, m01, m10, m11 float64
	t0, t1             float64
}

func identity() lin { return lin{m00: 1, m11: 1} }

func (g lin) isIdentity() bool { return g == identity() }

// then appends the inverse of one more forward map: g ← g ∘ (L, u), where
// (L, u) is that map's inverse. Every product is rounded explicitly so that
// no platform fuses it into an FMA and the matrix is the same everywhere.
func (g *lin) then(l00, l01, l10, l11, u0, u1 float64) {
	m00 := float64(g.m00*l00) + float64(g.m01*l10)
	m01 := float64(g.m00*l01) + float64(g.m01*l11)
	m10 := float64(g.m10*l00) + float64(g.m11*l10)
	m11 := float64(g.m10*l01) + float64(g.m11*l11)
	t0 := float64(g.m00*u0) + float64(g.m01*u1) + g.t0
	t1 := float64(g.m10*u0) + float64(g.m11*u1) + g.t1
	*g = lin{m00, m01, m10, m11, t0, t1}
}

// rotate appends a counter-clockwise (as displayed, y down) rotation.
func (g *lin) rotate(degrees float64) {
	sin, cos := sincosDegrees(degrees)
	g.then(cos, -sin, sin, cos, 0, 0)
}

func (g *lin) translate(tx, ty float64) { g.then(1, 0, 0, 1, -tx, -ty) }
func (g *lin) scale(s float64)          { g.then(1/s, 0, 0, 1/s, 0, 0) }

// shear appends x' = x + tan(φ)·y.
func (g *lin) shear(degrees float64) {
	sin, cos := sincosDegrees(degrees)
	g.then(1, -sin/cos, 0, 1, 0, 0)
}

// sincosDegrees is math.Sincos with exact values at multiples of 90°, so a
// quarter turn maps pixel centres exactly onto pixel centres.
func sincosDegrees(d float64) (sin, cos float64) {
	if q := d / 90; q == math.Trunc(q) && math.Abs(q) < 1<<52 {
		switch int64(math.Mod(q, 4)+4) % 4 {
		case 0:
			return 0, 1
		case 1:
			return 1, 0
		case 2:
			return 0, -1
		default:
			return -1, 0
		}
	}
	return math.Sincos(d * (math.Pi / 180))
}

// pixel converts g to a map from output pixel indices to source pixel
// indices for a w×h image: src = [a b c; d e f]·(x, y, 1).
func (g lin) pixel(w, h int) affine {
	cx, cy := float64(w-1)/2, float64(h-1)/2
	return affine{
		a: g.m00, b: g.m01, c: cx + g.t0 - (float64(g.m00*cx) + float64(g.m01*cy)),
		d: g.m10, e: g.m11, f: cy + g.t1 - (float64(g.m10*cx) + float64(g.m11*cy)),
	}
}

// ---- elastic ----

type elasticOp struct {
	index        int
	p            float64
	alpha, sigma float64
	radius       int
	kern         []float32 // kern[i] for offsets ±i, normalised
	kernAlpha    []float32 // kern scaled by alpha, for the second pass
}

func newElasticOp(index int, p, alpha, sigma float64) *elasticOp {
	r := max(1, int(math.Ceil(3*sigma)))
	w := make([]float64, r+1)
	sum := 0.0
	for i := range w {
		w[i] = math.Exp(-float64(i*i) / (2 * sigma * sigma))
		if i == 0 {
			sum += w[i]
		} else {
			sum += 2 * w[i]
		}
	}
	o := &elasticOp{index: index, p: p, alpha: alpha, sigma: sigma, radius: r,
		kern: make([]float32, r+1), kernAlpha: make([]float32, r+1)}
	for i := range w {
		o.kern[i] = float32(w[i] / sum)
		o.kernAlpha[i] = float32(w[i] / sum * alpha)
	}
	return o
}

func (o *elasticOp) String() string {
	return fmt.Sprintf("elastic alpha=%g sigma=%g p=%g", o.alpha, o.sigma, o.p)
}

// draw fills s.dx and s.dy with the displacement field for this sample and
// reports whether the op fired.
func (o *elasticOp) draw(s *scratch, key uint64, w, h int) bool {
	r := s.rng(key, o.index)
	if !gate(r, o.p) {
		return false
	}
	fillUniform(r, s.dx)
	fillUniform(r, s.dy)
	o.smooth(s, s.dx, w, h)
	o.smooth(s, s.dy, w, h)
	return true
}

// fillUniform fills f with uniform values in [-1, 1), two per random word.
func fillUniform(r *rand.PCG, f []float32) {
	const scale = 0x1p-23 // 24-bit mantissa: [0, 2^24) → [0, 2)
	i := 0
	for ; i+1 < len(f); i += 2 {
		u := r.Uint64()
		f[i] = float32(u>>40)*scale - 1
		f[i+1] = float32((u>>8)&0xffffff)*scale - 1
	}
	if i < len(f) {
		f[i] = float32(r.Uint64()>>40)*scale - 1
	}
}

// smooth replaces f (w×h) by its Gaussian blur times alpha.
//
// Each pass pads the whole field once (reflected columns for the row pass,
// reflected rows for the column pass) so that a tap is a single long
// vector operation over the field, kernels.AddScaledSum, rather than one
// short loop per row. The per-pixel arithmetic and its order — the centre
// tap, then the tap pairs ±1, ±2, … each rounded on its own — are those of
// the direct sum, so the bytes do not depend on the kernel set.
func (o *elasticOp) smooth(s *scratch, f []float32, w, h int) {
	r := o.radius
	sw := w + 2*r // row stride of the column-padded field
	// Rows: f → tmp (stride sw; the last 2r values of each row are unused).
	padH := s.pad32[:h*sw]
	for y := 0; y < h; y++ {
		reflectPad(padH[y*sw:(y+1)*sw], f[y*w:y*w+w], r)
	}
	n := (h-1)*sw + w
	tmp := s.tmp[:n]
	copy(tmp, padH[r:r+n])
	kernels.Scal(o.kern[0], tmp)
	for k := 1; k <= r; k++ {
		kernels.AddScaledSum(tmp, padH[r-k:], padH[r+k:], o.kern[k])
	}
	// Columns: tmp → f, scaled by alpha.
	padV := s.pad32[:(h+2*r)*w]
	for j := range h + 2*r {
		src := reflectIndex(j-r, h) * sw
		copy(padV[j*w:(j+1)*w], tmp[src:src+w])
	}
	out := f[:h*w]
	copy(out, padV[r*w:])
	kernels.Scal(o.kernAlpha[0], out)
	for k := 1; k <= r; k++ {
		kernels.AddScaledSum(out, padV[(r-k)*w:], padV[(r+k)*w:], o.kernAlpha[k])
	}
}

// reflectPad copies src into dst[r:r+len(src)] and fills r values either
// side by half-sample symmetric reflection (… c b a | a b c … x y z | z y x …).
func reflectPad(dst, src []float32, r int) {
	copy(dst[r:], src)
	reflectBorders(dst, len(src), r)
}

// reflectBorders fills the r-wide borders of buf around buf[r:r+n].
func reflectBorders(buf []float32, n, r int) {
	if r <= n { // one reflection: the common case, without reflectIndex's modulo
		left, right := buf[:r], buf[r+n:r+n+r]
		for i := range left {
			left[r-1-i] = buf[r+i]
			right[i] = buf[r+n-1-i]
		}
		return
	}
	for i := 1; i <= r; i++ {
		buf[r-i] = buf[r+reflectIndex(-i, n)]
		buf[r+n-1+i] = buf[r+reflectIndex(n-1+i, n)]
	}
}

// reflectIndex maps any integer index onto [0, n) by half-sample symmetric
// reflection, repeating with period 2n.
func reflectIndex(i, n int) int {
	i %= 2 * n
	if i < 0 {
		i += 2 * n
	}
	if i >= n {
		i = 2*n - 1 - i
	}
	return i
}

// ---- noise ----

const noiseTableBits = 12

type noiseOp struct {
	index  int
	p      float64
	stddev float64
	table  [1 << noiseTableBits]int32 // stddev·255·Φ⁻¹((i+½)/4096) in 1/256 levels
}

func newNoiseOp(index int, p, stddev float64) *noiseOp {
	o := &noiseOp{index: index, p: p, stddev: stddev}
	const n = 1 << noiseTableBits
	for i := range o.table {
		u := (float64(i) + 0.5) / n
		v := stddev * 255 * 256 * math.Sqrt2 * math.Erfinv(2*u-1)
		o.table[i] = int32(math.Round(math.Max(-1<<20, math.Min(1<<20, v))))
	}
	return o
}

func (o *noiseOp) apply(a *Augmenter, s *scratch, key uint64, dst, cur []uint8) []uint8 {
	r := s.rng(key, o.index)
	if !gate(r, o.p) {
		return cur
	}
	if &cur[0] != &dst[0] {
		copy(dst, cur)
	}
	const mask = 1<<noiseTableBits - 1
	var u uint64
	left := 0
	for i, v := range dst {
		if left == 0 {
			u, left = r.Uint64(), 64/noiseTableBits
		}
		f := (int32(v)<<8 + o.table[u&mask] + 128) >> 8 // round half up
		u >>= noiseTableBits
		left--
		dst[i] = uint8(min(max(f, 0), 255))
	}
	return dst
}

func (o *noiseOp) describe() []string {
	return []string{fmt.Sprintf("noise stddev=%g p=%g: in place on uint8; N(0,1) from a %d-entry inverse-CDF table "+
		"(5 draws per 64-bit word, tails at ±3.5σ) in 1/256-level fixed point, rounded and clamped to [0, 255]", o.stddev, o.p, 1<<noiseTableBits)}
}

// ---- erase ----

type eraseOp struct {
	index  int
	p      float64
	lo, hi float64 // area fraction bounds
	value  uint8
	random bool
}

// Aspect-ratio bounds of the erased rectangle, as in torchvision RandomErasing.
var (
	logRatioLo = math.Log(0.3)
	logRatioHi = math.Log(1 / 0.3)
)

func (o *eraseOp) apply(a *Augmenter, s *scratch, key uint64, dst, cur []uint8) []uint8 {
	r := s.rng(key, o.index)
	if !gate(r, o.p) {
		return cur
	}
	w, h := a.width, a.height
	area := float64(w*h) * (o.lo + float64(unit(r)*(o.hi-o.lo)))
	ratio := math.Exp(logRatioLo + float64(unit(r)*(logRatioHi-logRatioLo)))
	ew := min(w, max(1, int(math.Round(math.Sqrt(area*ratio)))))
	eh := min(h, max(1, int(math.Round(math.Sqrt(area/ratio)))))
	x0 := int(unit(r) * float64(w-ew+1))
	y0 := int(unit(r) * float64(h-eh+1))
	if area == 0 {
		return cur
	}
	if &cur[0] != &dst[0] {
		copy(dst, cur)
	}
	var u uint64
	left := 0
	c := a.channels // the rectangle covers every channel of its pixels
	for y := y0; y < y0+eh; y++ {
		row := dst[(y*w+x0)*c : (y*w+x0+ew)*c]
		if !o.random {
			for i := range row {
				row[i] = o.value
			}
			continue
		}
		for i := range row {
			if left == 0 {
				u, left = r.Uint64(), 8
			}
			row[i] = uint8(u)
			u >>= 8
			left--
		}
	}
	return dst
}

func (o *eraseOp) describe() []string {
	fill := fmt.Sprintf("value %d", o.value)
	if o.random {
		fill = "uniform random bytes"
	}
	return []string{fmt.Sprintf("erase min_fraction=%g max_fraction=%g p=%g: in place on uint8; one rectangle, "+
		"aspect ratio log-uniform in [0.3, 3.33], filled with %s", o.lo, o.hi, o.p, fill)}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// u8Guard fills the bytes of dst that QuantizeRowsU8 must not write.
const u8Guard = 0xa5

var (
	inf32 = float32(math.Inf(1))
	nan32 = float32(math.NaN())
)

// quantizeRowRef is QuantizeRowsU8's contract for one row, written from its
// documentation: the largest finite value, float32 divisions, a row whose
// 255/mx is not finite all zeros with scale 1, and each byte the float32
// product rounded half to even and clamped, non-finite values 0.
func quantizeRowRef(row []float32) ([]uint8, float32) {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	var mx float32
	for _, v := range row {
		if finite(v) && v > mx {
			mx = v
		}
	}
	q := make([]uint8, len(row))
	inv := float32(255) / mx
	if mx == 0 || math.IsInf(float64(inv), 0) {
		return q, 1
	}
	for j, v := range row {
		if !finite(v) {
			continue
		}
		p := float64(v * inv)
		q[j] = uint8(math.Max(0, math.Min(255, math.RoundToEven(p))))
	}
	return q, mx / float32(255)
}

// u8Row fills row with one of the kinds of rows QuantizeRowsU8 must get
// right: ReLU-like values over many magnitudes, zero rows, rows with no
// positive value, NaN and infinities among positives, subnormals, rows
// whose maximum is near 255/MaxFloat32, exact ties after scaling, values
// near MaxFloat32, and signed zeros.
func u8Row(r *rand.Rand, kind int, row []float32) {
	mag := float32(math.Pow(10, r.Float64()*8-4))
	for j := range row {
		v := float32(math.Abs(r.NormFloat64())) * mag
		if r.IntN(2) == 0 {
			v = 0
		}
		row[j] = v
	}
	switch kind % 10 {
	case 1:
		clear(row)
	case 2:
		for j := range row {
			row[j] = []float32{-1, nan32, -inf32, float32(math.Copysign(0, -1)), -1e-45}[r.IntN(5)]
		}
	case 3:
		for j := range row {
			if r.IntN(4) == 0 {
				row[j] = []float32{nan32, inf32, -inf32, float32(-math.NaN())}[r.IntN(4)]
			}
		}
	case 4:
		for j := range row {
			row[j] = math.Float32frombits(uint32(r.IntN(1 << 23)))
		}
	case 5:
		// mx near 255/MaxFloat32: inv overflows on one side of it.
		t := float32(255 / math.MaxFloat32)
		for j := range row {
			row[j] = t * float32(0.98+0.04*r.Float64())
		}
	case 6:
		// With mx = 255 * 2^e, inv is an exact power of two, and halves
		// of 2^e are exact ties.
		e := r.IntN(20) - 10
		for j := range row {
			row[j] = float32(math.Ldexp(float64(r.IntN(510))/2, e))
		}
		row[r.IntN(len(row))] = float32(math.Ldexp(255, e))
	case 7:
		for j := range row {
			row[j] = math.MaxFloat32 * float32(r.Float64())
		}
	case 8:
		for j := range row {
			if r.IntN(3) == 0 {
				row[j] = float32(math.Copysign(0, -1))
			}
		}
	}
}

// u8Operands returns m rows of k values of mixed kinds with stride ldx
// (1e30 between rows, which would be every row's maximum if read), a
// guarded dst with stride ldd and one guard row past m, and a scale with a
// guard entry past m.
func u8Operands(r *rand.Rand, m, k, ldx, ldd int) (x []float32, dst []uint8, scale []float32) {
	x = make([]float32, (m-1)*ldx+k)
	for i := range x {
		x[i] = 1e30
	}
	for i := 0; i < m; i++ {
		kind := r.IntN(10)
		if i == 0 {
			kind = 6
		}
		u8Row(r, kind, x[i*ldx:i*ldx+k])
	}
	dst = make([]uint8, m*ldd+k)
	for i := range dst {
		dst[i] = u8Guard
	}
	scale = make([]float32, m+1)
	for i := range scale {
		scale[i] = math.Float32frombits(s8Guard)
	}
	return x, dst, scale
}

// checkU8 compares QuantizeRowsU8's output with the reference bit for bit
// and checks that nothing outside the rows was written.
func checkU8(t *testing.T, what string, m, k int, x []float32, ldx int, dst []uint8, ldd int, scale []float32) {
	t.Helper()
	for i := 0; i < m; i++ {
		want, ws := quantizeRowRef(x[i*ldx : i*ldx+k])
		if math.Float32bits(scale[i]) != math.Float32bits(ws) {
			t.Fatalf("%s: scale[%d] = %g (%#x), want %g (%#x)", what, i, scale[i], math.Float32bits(scale[i]), ws, math.Float32bits(ws))
		}
		for j := 0; j < k; j++ {
			if got := dst[i*ldd+j]; got != want[j] {
				t.Fatalf("%s: dst[%d][%d] = %d for x = %g (%#x) with scale %g, want %d", what, i, j, got, x[i*ldx+j], math.Float32bits(x[i*ldx+j]), ws, want[j])
			}
		}
	}
	for i := range dst {
		if i%ldd >= k || i >= m*ldd {
			if dst[i] != u8Guard {
				t.Fatalf("%s: dst[%d] (row %d, column %d) outside the %d×%d rows was written", what, i, i/ldd, i%ldd, m, k)
			}
		}
	}
	if math.Float32bits(scale[m]) != s8Guard {
		t.Fatalf("%s: scale[%d] past m was written", what, m)
	}
}

// u8Shapes are QuantizeRowsU8's test shapes: every masked tail of a
// vector, one and several vectors, strides past the row.
func u8Shapes() (ms, ks []int) {
	for m := 1; m <= 30; m++ {
		ms = append(ms, m)
	}
	ms = append(ms, 128, 257)
	for k := 1; k <= 40; k++ {
		ks = append(ks, k)
	}
	ks = append(ks, 63, 64, 65, 255, 256, 512, 513)
	return ms, ks
}

// Every set matches the documented rule bit for bit on every kind of row,
// so the native kernel and the Go twin agree with each other.
func TestQuantizeRowsU8MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(101, 102))
	ms, ks := u8Shapes()
	for _, m := range ms {
		for ki, k := range ks {
			if m > 30 && ki%3 != 0 && k < 255 {
				continue
			}
			ldx, ldd := k+(m+ki)%3*7, k+(m+ki)%2*5
			x, dst0, scale0 := u8Operands(r, m, k, ldx, ldd)
			for _, set := range s8Sets() {
				dst := append([]uint8(nil), dst0...)
				scale := append([]float32(nil), scale0...)
				quantizeRowsU8(set, m, k, x, ldx, dst, ldd, scale)
				checkU8(t, fmt.Sprintf("%s m=%d k=%d ldx=%d ldd=%d", set.name, m, k, ldx, ldd), m, k, x, ldx, dst, ldd, scale)
			}
		}
	}
}

// Worked cases of the rule: ties to even, the maximum to 255, negatives,
// NaN and infinities to 0 and out of the maximum, zero and all-negative
// rows, and a maximum too small for 255/mx.
func TestQuantizeRowsU8Rules(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	cases := []struct {
		x     []float32
		want  []uint8
		scale float32
	}{
		{[]float32{255, 2.5, 3.5, 0.5, 1.5, 254.5, 0.49999997, -3, 0, negZero}, []uint8{255, 2, 4, 0, 2, 254, 0, 0, 0, 0}, 1},
		{[]float32{nan32, 2.5, inf32, 255, -inf32, 1}, []uint8{0, 2, 0, 255, 0, 1}, 1},
		{[]float32{510, 5, 7, 1, 3}, []uint8{255, 2, 4, 0, 2}, 2},
		{[]float32{0, 0, 0}, []uint8{0, 0, 0}, 1},
		{[]float32{-1, nan32, -inf32, inf32}, []uint8{0, 0, 0, 0}, 1},
		{[]float32{1e-38, 1e-45, 3e-39}, []uint8{0, 0, 0}, 1},
		{[]float32{math.MaxFloat32, inf32, 0}, []uint8{255, 0, 0}, math.MaxFloat32 / 255},
	}
	for _, set := range s8Sets() {
		for _, c := range cases {
			k := len(c.x)
			dst := make([]uint8, k)
			scale := make([]float32, 1)
			quantizeRowsU8(set, 1, k, c.x, k, dst, k, scale)
			if scale[0] != c.scale || fmt.Sprint(dst) != fmt.Sprint(c.want) {
				t.Errorf("%s: %v → %v scale %g, want %v scale %g", set.name, c.x, dst, scale[0], c.want, c.scale)
			}
		}
	}
}

// On ReLU-like rows the row maximum maps to 255 and every value in range to
// a byte within half a step of it.
func TestQuantizeRowsU8Approximates(t *testing.T) {
	r := rand.New(rand.NewPCG(103, 104))
	const m, k = 40, 300
	x := make([]float32, m*k)
	for i := 0; i < m; i++ {
		u8Row(r, 0, x[i*k:(i+1)*k])
	}
	clear(x[3*k : 4*k])
	for _, set := range s8Sets() {
		dst := make([]uint8, m*k)
		scale := make([]float32, m)
		quantizeRowsU8(set, m, k, x, k, dst, k, scale)
		for i := 0; i < m; i++ {
			row := x[i*k : (i+1)*k]
			var mx float32
			for _, v := range row {
				mx = max(mx, v)
			}
			s := float64(scale[i])
			if mx == 0 {
				if s != 1 {
					t.Errorf("%s: zero row %d: scale %g, want 1", set.name, i, s)
				}
			} else if d := math.Abs(s*255 - float64(mx)); d > float64(mx)*1e-6 {
				t.Errorf("%s: row %d: scale %g, 255*scale off the maximum %g by %g", set.name, i, s, mx, d)
			}
			for j, v := range row {
				q := dst[i*k+j]
				if v == mx && mx > 0 && q != 255 {
					t.Errorf("%s: row %d: the maximum %g gives %d, want 255", set.name, i, v, q)
				}
				if mx == 0 && q != 0 {
					t.Errorf("%s: zero row %d: byte %d", set.name, i, q)
				}
				// Half a step, plus the float32 rounding of 255/mx, mx/255
				// and the product.
				if d := math.Abs(float64(q)*s - float64(v)); d > s*(0.5+1e-4) {
					t.Fatalf("%s: x[%d][%d] = %g quantized to %d*%g, off by %g > half a step", set.name, i, j, v, q, s, d)
				}
			}
		}
	}
}

// Bad sizes are refused with messages that say what is wrong; empty inputs
// are fine, and a row of no values is a zero row.
func TestQuantizeRowsU8Panics(t *testing.T) {
	x, dst, scale := make([]float32, 12), make([]uint8, 12), make([]float32, 4)
	expectPanic(t, "negative size", func() { QuantizeRowsU8(-1, 3, x, 3, dst, 3, scale) })
	expectPanic(t, "negative size", func() { QuantizeRowsU8(1, -3, x, 3, dst, 3, scale) })
	expectPanic(t, "x (4×3, ldx=2) does not fit", func() { QuantizeRowsU8(4, 3, x, 2, dst, 3, scale) })
	expectPanic(t, "x (3×3, ldx=5) does not fit len(x)=12", func() { QuantizeRowsU8(3, 3, x, 5, dst, 3, scale) })
	expectPanic(t, "dst (4×3, ldd=2) does not fit", func() { QuantizeRowsU8(4, 3, x, 3, dst, 2, scale) })
	expectPanic(t, "dst (3×3, ldd=5) does not fit len(dst)=12", func() { QuantizeRowsU8(3, 3, x, 3, dst, 5, scale) })
	expectPanic(t, "len(scale)=4 < m=5", func() { QuantizeRowsU8(5, 2, x, 2, dst, 2, scale) })
	QuantizeRowsU8(0, 3, nil, 3, nil, 3, nil)
	QuantizeRowsU8(3, 0, nil, 1, nil, 1, scale)
	if fmt.Sprint(scale) != "[1 1 1 0]" {
		t.Errorf("k=0: scale = %v, want three 1s", scale)
	}
}

// s8RowScales returns m row scales like QuantizeRowsU8's, over many
// magnitudes, with a 1 and a 0 among them.
func s8RowScales(r *rand.Rand, m int) []float32 {
	rs := make([]float32, m)
	for i := range rs {
		rs[i] = float32(math.Pow(10, r.Float64()*8-6))
	}
	rs[0] = 1
	if m > 2 {
		rs[2] = 0
	}
	return rs
}

// s8RowsReference is GemmU8S8Rows's contract in float64, each float64
// product or sum rounded to float32 being float32's correctly rounded one;
// with rowScale nil, GemmU8S8's.
func s8RowsReference(m int, a []uint8, lda int, rowScale []float32, p *PackedS8, bias []float32) []float32 {
	n, k := p.N(), p.K()
	q := make([]float64, n*k)
	for j := 0; j < n; j++ {
		for t := 0; t < k; t++ {
			q[j*k+t] = float64(p.Quantized(j, t))
		}
	}
	out := make([]float32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var acc float64
			for t := 0; t < k; t++ {
				acc += float64(a[i*lda+t]) * q[j*k+t]
			}
			prod := float32(float64(float32(acc)) * float64(p.Scale(j)))
			if rowScale != nil {
				prod = float32(float64(prod) * float64(rowScale[i]))
			}
			out[i*n+j] = float32(float64(prod) + float64(bias[j]))
		}
	}
	return out
}

// Every set, on one goroutine and split, matches the float64 reference bit
// for bit and writes nothing outside the product; with all row scales 1 it
// is GemmU8S8 bit for bit.
func TestGemmU8S8RowsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(105, 106))
	for ci, g := range s8Cases() {
		if g.m <= 30 && ci%3 != 0 {
			continue // every row count, k tail and panel width is still in the third kept
		}
		a, lda, p, c0, ldc := s8Operands(r, g)
		rs := s8RowScales(r, g.m)
		want := s8RowsReference(g.m, a, lda, rs, p, p.bias[:g.n])
		plain := s8Reference(g.m, a, lda, p, p.bias[:g.n])
		for _, ks := range s8Sets() {
			for _, threads := range []int{1, 3} {
				c := append([]float32(nil), c0...)
				gemmU8S8Rows(ks, threads, g.m, a, lda, rs, p, c, ldc)
				checkS8(t, fmt.Sprintf("%s threads=%d", ks.name, threads), g, c, ldc, want)
			}
			ones := make([]float32, g.m)
			for i := range ones {
				ones[i] = 1
			}
			c := append([]float32(nil), c0...)
			gemmU8S8Rows(ks, 1, g.m, a, lda, ones, p, c, ldc)
			checkS8(t, ks.name+" row scales 1 vs GemmU8S8", g, c, ldc, plain)
		}
	}
}

// The comparison must be able to fail: changing one row's scale changes
// that row and no other.
func TestGemmU8S8RowsDetectsChange(t *testing.T) {
	r := rand.New(rand.NewPCG(107, 108))
	g := s8Case{13, 9, 33, 0, 0}
	a, lda, p, c0, ldc := s8Operands(r, g)
	rs := s8RowScales(r, g.m)
	rs[12] = 0.5
	for _, ks := range s8Sets() {
		c := append([]float32(nil), c0...)
		gemmU8S8Rows(ks, 1, g.m, a, lda, rs, p, c, ldc)
		rs2 := append([]float32(nil), rs...)
		rs2[12] = 0.25
		c2 := append([]float32(nil), c0...)
		gemmU8S8Rows(ks, 1, g.m, a, lda, rs2, p, c2, ldc)
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				same := math.Float32bits(c[i*ldc+j]) == math.Float32bits(c2[i*ldc+j])
				if i < 12 && !same {
					t.Fatalf("%s: c[%d][%d] changed with rowScale[12]", ks.name, i, j)
				}
				if i == 12 && same && c[i*ldc+j] != p.bias[j] {
					t.Fatalf("%s: c[12][%d] = %g unchanged after rowScale[12] changed", ks.name, j, c[i*ldc+j])
				}
			}
		}
	}
}

// The result does not depend on GOMAXPROCS, and the MLP's hidden layer is
// split when there are two threads.
func TestGemmU8S8RowsThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(109, 110))
	for _, g := range []s8Case{{256, 512, 256, 0, 0}, {257, 513, 33, 3, 1}} {
		a, lda, p, c0, ldc := s8Operands(r, g)
		rs := s8RowScales(r, g.m)
		sameOnOneAndTwoProcs(t, fmt.Sprint(g), c0, g.m == 256, func(c []float32) { GemmU8S8Rows(g.m, a, lda, rs, p, c, ldc) })
	}
}

// A hidden layer in int8 approximates the float one: quantizing the ReLU
// outputs per row and the weights per output, the error of each output is
// at most Σ_t |x[t]*w[t] - sx*qx[t]*sw*qw[t]| plus float32 rounding.
func TestGemmU8S8RowsApproximates(t *testing.T) {
	r := rand.New(rand.NewPCG(111, 112))
	const m, k, n = 9, 256, 40
	x := make([]float32, m*k)
	for i := 0; i < m; i++ {
		u8Row(r, 0, x[i*k:(i+1)*k])
	}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	bias := make([]float32, n)
	for j := range bias {
		bias[j] = float32(r.NormFloat64())
	}
	p := QuantizeS8(n, k, w, k, bias)
	qx := make([]uint8, m*k)
	sx := make([]float32, m)
	QuantizeRowsU8(m, k, x, k, qx, k, sx)
	c := make([]float32, m*n)
	GemmU8S8Rows(m, qx, k, sx, p, c, n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			exact, bound := float64(bias[j]), 0.0
			for tt := 0; tt < k; tt++ {
				xv, wv := float64(x[i*k+tt]), float64(w[j*k+tt])
				qv := float64(qx[i*k+tt]) * float64(sx[i]) * float64(p.Quantized(j, tt)) * float64(p.Scale(j))
				exact += xv * wv
				bound += math.Abs(xv*wv - qv)
			}
			bound += (math.Abs(exact)+math.Abs(float64(bias[j])))*1e-6 + 1e-30
			if d := math.Abs(float64(c[i*n+j]) - exact); d > bound {
				t.Fatalf("c[%d][%d] = %g, float product %g: off by %g > %g", i, j, c[i*n+j], exact, d, bound)
			}
		}
	}
}

// Bad sizes are refused with messages naming GemmU8S8Rows.
func TestGemmU8S8RowsPanics(t *testing.T) {
	p := QuantizeS8(4, 3, make([]float32, 12), 3, nil)
	a, c, rs := make([]uint8, 9), make([]float32, 12), make([]float32, 3)
	expectPanic(t, "GemmU8S8Rows: len(rowScale)=2 < m=3", func() { GemmU8S8Rows(3, a, 3, rs[:2], p, c, 4) })
	expectPanic(t, "GemmU8S8Rows: len(rowScale)=0 < m=3", func() { GemmU8S8Rows(3, a, 3, nil, p, c, 4) })
	expectPanic(t, "GemmU8S8Rows: a (3×3, lda=4) does not fit len(a)=9", func() { GemmU8S8Rows(3, a, 4, rs, p, c, 4) })
	expectPanic(t, "GemmU8S8Rows: c (3×4, ldc=5) does not fit len(c)=12", func() { GemmU8S8Rows(3, a, 3, rs, p, c, 5) })
	expectPanic(t, "GemmU8S8Rows: negative m", func() { GemmU8S8Rows(-1, a, 3, rs, p, c, 4) })
	expectPanic(t, "GemmU8S8Rows: nil PackedS8", func() { GemmU8S8Rows(1, a, 3, rs, nil, c, 4) })
	GemmU8S8Rows(0, nil, 3, nil, p, nil, 4)
	c2 := []float32{7, 7}
	GemmU8S8Rows(2, nil, 1, []float32{2, 3}, QuantizeS8(1, 0, nil, 1, []float32{0.25}), c2, 1)
	if c2[0] != 0.25 || c2[1] != 0.25 {
		t.Errorf("k=0: c = %v, want the bias", c2)
	}
}

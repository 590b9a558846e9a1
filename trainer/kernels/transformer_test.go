package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func ulpDiff(a, b float32) int64 {
	ia, ib := int64(int32(math.Float32bits(a))), int64(int32(math.Float32bits(b)))
	if ia < 0 {
		ia = math.MinInt32 - ia
	}
	if ib < 0 {
		ib = math.MinInt32 - ib
	}
	d := ia - ib
	if d < 0 {
		d = -d
	}
	return d
}

// TestErfAccuracy sweeps every 3rd float32 in ±[1e-6, 5] (and beyond, where
// erf is ±1) against math.Erf rounded to float32.
func TestErfAccuracy(t *testing.T) {
	step := uint32(3)
	if testing.Short() {
		step = 61
	}
	var worst int64
	var at float32
	for b := math.Float32bits(1e-6); b < math.Float32bits(6); b += step {
		for _, z := range []float32{math.Float32frombits(b), -math.Float32frombits(b)} {
			want := float32(math.Erf(float64(z)))
			if d := ulpDiff(erf32(z), want); d > worst {
				worst, at = d, z
			}
		}
	}
	if worst > 1 {
		t.Errorf("erf32 is %d ulp off math.Erf at %g, want <= 1", worst, at)
	}
	t.Logf("erf32: max error %d ulp", worst)
}

func TestExpAccuracy(t *testing.T) {
	var worst int64
	var at float32
	for x := float32(-87); x < 88; x += 7.3e-4 {
		if d := ulpDiff(exp32(x), float32(math.Exp(float64(x)))); d > worst {
			worst, at = d, x
		}
	}
	if worst > 1 {
		t.Errorf("exp32 is %d ulp off math.Exp at %g, want <= 1", worst, at)
	}
	if got := exp32(-1000); got != exp32(expLo) || got == 0 {
		t.Errorf("exp32(-1000) = %g, want the clamp value e^%g", got, expLo)
	}
}

// geluRef is the float64 GELU and its derivative.
func geluRef(x float64) (y, dy float64) {
	cdf := 0.5 * math.Erfc(-x/math.Sqrt2)
	return x * cdf, cdf + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

func TestGELUAgainstFloat64(t *testing.T) {
	for x := float32(-12); x < 12; x += 1.7e-3 {
		y, dy := geluRef(float64(x))
		var got, gotd [1]float32
		geluGo(got[:], []float32{x})
		geluGradGo(gotd[:], []float32{1}, []float32{x})
		// A few ulp of the result; in the negative tail (x < −3, where
		// erfc comes from a polynomial fitted for erf's absolute error) an
		// absolute 5e-8, still below float32 PyTorch's x·(1+erf)/2 there.
		if e := math.Abs(float64(got[0]) - y); e > 4e-7*math.Abs(y)+5e-8 {
			t.Fatalf("GELU(%g) = %g, want %g", x, got[0], y)
		}
		if e := math.Abs(float64(gotd[0]) - dy); e > 1e-6*math.Abs(dy)+2e-7 {
			t.Fatalf("GELU'(%g) = %g, want %g", x, gotd[0], dy)
		}
	}
}

// TestTransformerKernelsBitwise runs every kernel set against the Go twin
// on lengths that cover the unrolled loop, the single-vector loop and the
// masked tail, with guard values after the slices.
func TestTransformerKernelsBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 50, 64, 100, 257} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 4
		}
		dy := randSlice(r, n)
		g := randSlice(r, n)
		p := randSlice(r, n)
		run := func() [][]float32 {
			out := make([][]float32, 5)
			for i := range out {
				out[i] = make([]float32, n+3)
				out[i][n], out[i][n+1], out[i][n+2] = 7, 8, 9
			}
			ks := active()
			ks.gelu(out[0][:n], x)
			ks.geluGrad(out[1][:n], dy, x)
			ks.expShift(out[2][:n], x, 0.75)
			ks.softmaxGrad(out[3][:n], dy, p, 0.3)
			ks.lnGrad(out[4][:n], dy, x, g, 0.1, 1.7, -0.2, 0.05)
			return out
		}
		onEachSet(t, run, func(set string, want, got [][]float32) {
			for k := range want {
				if i := sameBits(want[k], got[k]); i >= 0 {
					t.Errorf("%s n=%d kernel %d: [%d] = %g, go set %g", set, n, k, i, got[k][i], want[k][i])
				}
			}
		})
	}
}

// TestLayerNormKernelBitwise: each set's LayerNorm forward (the AVX2
// kernel: statistics two rows at a time in float64 lanes, then the
// normalisation in 8 float32 lanes) gives the Go twin's y, mean and rstd
// bit for bit, at every row length to 70 (each tail length of both parts),
// odd and even row counts, on rows with a large common offset, tiny
// values, ±Inf, NaN and ±0, and writes nothing past the rows.
func TestLayerNormKernelBitwise(t *testing.T) {
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		float32(math.Copysign(0, -1)), 0, 1e-40, 3e38}
	r := rand.New(rand.NewPCG(41, 42))
	for d := 1; d <= 70; d++ {
		g, b := randSlice(r, d), randSlice(r, d)
		for _, rows := range []int{1, 2, 3, 6} {
			x := randSlice(r, rows*d)
			for i := range x {
				switch row := i / d; row % 3 {
				case 1:
					x[i] = 1e4 + x[i] // large mean, small spread
				case 2:
					x[i] *= 1e-20
				}
				if rows == 6 && r.IntN(25) == 0 {
					x[i] = specials[r.IntN(len(specials))]
				}
			}
			run := func() [3][]float32 {
				y, mean, rstd := make([]float32, rows*d+3), make([]float32, rows+2), make([]float32, rows+2)
				for _, v := range [][]float32{y[rows*d:], mean[rows:], rstd[rows:]} {
					for i := range v {
						v[i] = 7
					}
				}
				active().layerNorm(y[:rows*d], mean[:rows], rstd[:rows], x, g, b, d, 1e-6)
				return [3][]float32{y, mean, rstd}
			}
			onEachSet(t, run, func(set string, want, got [3][]float32) {
				for k, name := range []string{"y", "mean", "rstd"} {
					if i := sameBits(want[k], got[k]); i >= 0 {
						t.Fatalf("%s d=%d rows=%d: %s[%d] = %g, go set %g", set, d, rows, name, i, got[k][i], want[k][i])
					}
				}
			})
		}
	}
}

// TestSoftmaxShortRowsMatchEachRow: the short-row softmax (all rows' exp in
// one call) gives bitwise the row-by-row result in every kernel set, at
// every short length, on rows with ±Inf, NaN, ±0, a large logit and
// all-equal entries.
func TestSoftmaxShortRowsMatchEachRow(t *testing.T) {
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		float32(math.Copysign(0, -1)), 0, 200, -200}
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(9, uint64(len(ks.name))))
		for cols := 1; cols < shortRow+4; cols++ {
			for rows := 1; rows <= 6; rows++ {
				for trial := 0; trial < 8; trial++ {
					s := randSlice(r, rows*cols)
					for i := range s {
						s[i] *= 8
						if trial > 0 && r.IntN(6) == 0 {
							s[i] = specials[r.IntN(len(specials))]
						}
					}
					if trial == 7 {
						for i := range cols { // one row of equal entries
							s[i] = s[0]
						}
					}
					want, got := append([]float32(nil), s...), append([]float32(nil), s...)
					softmaxEachRow(ks, want, rows, cols)
					softmaxShortRows(ks, got, rows, cols)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%d×%d trial %d: [%d] = %v (%#x), row by row %v (%#x); input %v",
								rows, cols, trial, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]), s)
						}
					}
				}
			}
		}
	})
}

func TestSoftmaxRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// 5 columns take the short-row path, 37 the row-by-row one.
	for _, cols := range []int{5, 37} {
		rows := 5
		s := randSlice(r, rows*cols)
		s[3] = 200 // would overflow exp without the shift
		orig := append([]float32(nil), s...)
		SoftmaxRows(s, rows, cols)
		for i := 0; i < rows; i++ {
			row, in := s[i*cols:(i+1)*cols], orig[i*cols:(i+1)*cols]
			mx := in[0]
			for _, v := range in {
				mx = max(mx, v)
			}
			var z float64
			for _, v := range in {
				z += math.Exp(float64(v - mx))
			}
			for j, v := range in {
				want := math.Exp(float64(v-mx)) / z
				if math.Abs(float64(row[j])-want) > 2e-7*want+1e-37 {
					t.Fatalf("cols %d: row %d [%d] = %g, want %g", cols, i, j, row[j], want)
				}
			}
		}
	}
	rows, cols := 5, 37
	orig := randSlice(r, rows*cols)
	// Gradient: finite differences of L = Σ w∘softmax(s).
	w := randSlice(r, cols)
	in := append([]float32(nil), orig[cols:2*cols]...)
	p := append([]float32(nil), in...)
	SoftmaxRows(p, 1, cols)
	dp := append([]float32(nil), w...)
	SoftmaxRowsGrad(dp, p, 1, cols)
	loss := func(v []float32) float64 {
		q := append([]float32(nil), v...)
		SoftmaxRows(q, 1, cols)
		var l float64
		for j := range q {
			l += float64(w[j] * q[j])
		}
		return l
	}
	for j := 0; j < cols; j += 5 {
		a, b := append([]float32(nil), in...), append([]float32(nil), in...)
		a[j] += 1e-2
		b[j] -= 1e-2
		num := (loss(a) - loss(b)) / 2e-2
		if math.Abs(num-float64(dp[j])) > 1e-3 {
			t.Errorf("dlogit[%d] = %g, finite difference %g", j, dp[j], num)
		}
	}
}

func TestLayerNormKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rows, d := 3, 19
	x, g, b := randSlice(r, rows*d), randSlice(r, d), randSlice(r, d)
	y := make([]float32, rows*d)
	mean, rstd := make([]float32, rows), make([]float32, rows)
	LayerNorm(y, mean, rstd, x, g, b, d, 1e-6)
	for i := 0; i < rows; i++ {
		var mu, v float64
		for _, e := range x[i*d : (i+1)*d] {
			mu += float64(e)
		}
		mu /= float64(d)
		for _, e := range x[i*d : (i+1)*d] {
			v += (float64(e) - mu) * (float64(e) - mu)
		}
		rs := 1 / math.Sqrt(v/float64(d)+1e-6)
		for j := 0; j < d; j++ {
			want := (float64(x[i*d+j])-mu)*rs*float64(g[j]) + float64(b[j])
			if math.Abs(float64(y[i*d+j])-want) > 1e-5 {
				t.Fatalf("y[%d][%d] = %g, want %g", i, j, y[i*d+j], want)
			}
		}
	}
	// dx against finite differences of L = Σ w∘y.
	w := randSlice(r, rows*d)
	dx := make([]float32, rows*d)
	LayerNormGrad(dx, w, x, g, mean, rstd, d)
	loss := func(v []float32) float64 {
		yy := make([]float32, len(v))
		LayerNorm(yy, make([]float32, rows), make([]float32, rows), v, g, b, d, 1e-6)
		var l float64
		for j := range yy {
			l += float64(w[j] * yy[j])
		}
		return l
	}
	for j := 0; j < rows*d; j += 4 {
		a, c := append([]float32(nil), x...), append([]float32(nil), x...)
		a[j] += 1e-2
		c[j] -= 1e-2
		num := (loss(a) - loss(c)) / 2e-2
		if math.Abs(num-float64(dx[j])) > 2e-3*(1+math.Abs(num)) {
			t.Errorf("dx[%d] = %g, finite difference %g", j, dx[j], num)
		}
	}
}

func TestTransformerPanicsOnShortSlices(t *testing.T) {
	for name, f := range map[string]func(){
		"GELU":     func() { GELU(make([]float32, 2), make([]float32, 3)) },
		"GELUGrad": func() { GELUGrad(make([]float32, 3), make([]float32, 3), make([]float32, 2)) },
		"ExpShift": func() { ExpShift(make([]float32, 2), make([]float32, 3), 0) },
		"Softmax":  func() { SoftmaxRows(make([]float32, 5), 2, 3) },
		"LayerNorm": func() {
			LayerNorm(make([]float32, 6), make([]float32, 1), make([]float32, 2), make([]float32, 6), make([]float32, 3), make([]float32, 3), 3, 1e-6)
		},
		"LNGrad": func() {
			LayerNormGrad(make([]float32, 6), make([]float32, 6), make([]float32, 7), make([]float32, 3), make([]float32, 2), make([]float32, 2), 3)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestRowReductions(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := 1; n < 40; n++ {
		x, y := randSlice(r, n), randSlice(r, n)
		var s, d, q, mx float64
		mx = math.Inf(-1)
		for i := range x {
			s += float64(x[i])
			d += float64(x[i] * y[i])
			q += (float64(x[i]) - 0.25) * (float64(x[i]) - 0.25)
			mx = max(mx, float64(x[i]))
		}
		for name, c := range map[string][2]float64{"sum64": {sum64(x), s}, "dot64": {dot64(x, y), d}, "sqdev64": {sqdev64(x, 0.25), q}} {
			if math.Abs(c[0]-c[1]) > 1e-12*(1+math.Abs(c[1])) {
				t.Errorf("n=%d %s = %v, want %v", n, name, c[0], c[1])
			}
		}
		if got := rowMax(x); float64(got) != mx {
			t.Errorf("n=%d rowMax = %v, want %v", n, got, mx)
		}
		x[n/2] = float32(math.NaN())
		if got := rowMax(x); !math.IsNaN(float64(got)) {
			t.Errorf("n=%d rowMax with a NaN = %v", n, got)
		}
	}
}

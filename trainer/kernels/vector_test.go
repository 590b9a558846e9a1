package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// vecLengths covers empty input, every tail length of the 8- and 16-lane
// kernels and the unrolled main loops.
var vecLengths = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 200, 1000, 1031}

// guarded returns a slice of n random values starting at an odd offset in
// a larger buffer whose other elements hold a sentinel, and a function that
// reports whether the sentinels survived.
func guarded(r *rand.Rand, n int) ([]float32, func() bool) {
	buf := make([]float32, n+37)
	for i := range buf {
		buf[i] = sentinel
	}
	s := buf[5 : 5+n : 5+n]
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s, func() bool {
		for i, v := range buf {
			if (i < 5 || i >= 5+n) && v != sentinel {
				return false
			}
		}
		return true
	}
}

func TestAxpyDotScal(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, n := range vecLengths {
			x, _ := guarded(r, n)
			y, ok := guarded(r, n)
			y0 := append([]float32(nil), y...)

			var want, mag float64
			for i := range x {
				want += float64(x[i]) * float64(y[i])
				mag += math.Abs(float64(x[i]) * float64(y[i]))
			}
			if got := Dot(x, y); math.Abs(float64(got)-want) > 2*float64(n+1)*mag/(1<<24) {
				t.Errorf("n=%d: Dot = %g, want %g", n, got, want)
			}

			Axpy(-0.75, x, y)
			for i := range y {
				w := float64(y0[i]) - 0.75*float64(x[i])
				if math.Abs(float64(y[i])-w) > 1e-6*(1+math.Abs(w)) {
					t.Fatalf("n=%d: Axpy y[%d] = %g, want %g", n, i, y[i], w)
				}
			}
			y1 := append([]float32(nil), y...)
			Scal(3, y)
			for i := range y {
				if y[i] != 3*y1[i] {
					t.Fatalf("n=%d: Scal y[%d] = %g, want %g", n, i, y[i], 3*y1[i])
				}
			}
			if !ok() {
				t.Fatalf("n=%d: write outside the slice", n)
			}
		}
	})
}

// special holds the values where max, comparisons and masks can go wrong.
var special = []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.NaN()),
	float32(math.Inf(1)), float32(math.Inf(-1)), 1e-45, -1e-45}

func TestReluAgainstGo(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, n := range vecLengths {
			x, _ := guarded(r, n)
			dy, _ := guarded(r, n)
			for i := range x {
				if i%3 == 0 {
					x[i] = special[(i/3)%len(special)]
				}
			}
			dst, ok := guarded(r, n)
			Relu(dst, x)
			want := make([]float32, n)
			reluGo(want, x)
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d: Relu(%g) = %g, Go twin %g", n, x[i], dst[i], want[i])
				}
				if x[i] > 0 && dst[i] != x[i] || !(x[i] > 0) && math.Float32bits(dst[i]) != 0 {
					t.Fatalf("n=%d: Relu(%g) = %g", n, x[i], dst[i])
				}
			}
			ReluGrad(dst, dy, x)
			reluGradGo(want, dy, x)
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d: ReluGrad(dy=%g, y=%g) = %g, want %g", n, dy[i], x[i], dst[i], want[i])
				}
				if x[i] > 0 && dst[i] != dy[i] || !(x[i] > 0) && dst[i] != 0 {
					t.Fatalf("n=%d: ReluGrad(dy=%g, y=%g) = %g", n, dy[i], x[i], dst[i])
				}
			}
			if !ok() {
				t.Fatalf("n=%d: write outside dst", n)
			}
			// In place.
			reluGo(want, x)
			Relu(x, x)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d: in-place Relu x[%d] = %g, want %g", n, i, x[i], want[i])
				}
			}
		}
	})
}

// adamMatchesTwin runs AdamStep on p, g, m, v (updated in place) and the Go
// twin on copies, failing at the first element whose p, m or v bits differ.
func adamMatchesTwin(t *testing.T, what string, p, g, m, v []float32, lr, b1, b2, eps float32) {
	t.Helper()
	wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
	AdamStep(p, g, m, v, lr, b1, b2, eps)
	adamGo(wp, g, wm, wv, lr, b1, 1-b1, b2, 1-b2, eps)
	for i := range p {
		if math.Float32bits(p[i]) != math.Float32bits(wp[i]) ||
			math.Float32bits(m[i]) != math.Float32bits(wm[i]) ||
			math.Float32bits(v[i]) != math.Float32bits(wv[i]) {
			t.Fatalf("%s i=%d (g %g): p,m,v = %g,%g,%g, Go twin %g,%g,%g", what, i, g[i], p[i], m[i], v[i], wp[i], wm[i], wv[i])
		}
	}
}

// TestAdamBitwise checks every kernel set against the Go twin bit for bit
// and the Go twin against the formula.
func TestAdamBitwise(t *testing.T) {
	const lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(25, 26))
		for _, n := range vecLengths {
			p, okp := guarded(r, n)
			g, _ := guarded(r, n)
			m, okm := guarded(r, n)
			v, okv := guarded(r, n)
			for i := range v {
				v[i] *= v[i]
			}
			p0, m0, v0 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamMatchesTwin(t, fmt.Sprintf("n=%d", n), p, g, m, v, lr, b1, b2, eps)
			for i := range p {
				em := b1*float64(m0[i]) + (1-b1)*float64(g[i])
				ev := b2*float64(v0[i]) + (1-b2)*float64(g[i])*float64(g[i])
				ep := float64(p0[i]) - lr*em/(math.Sqrt(ev)+eps)
				if math.Abs(float64(p[i])-ep) > 1e-6*(1+math.Abs(ep)) || math.Abs(float64(m[i])-em) > 1e-6*(1+math.Abs(em)) {
					t.Fatalf("n=%d i=%d: p=%g m=%g, want %g %g", n, i, p[i], m[i], ep, em)
				}
			}
			if !okp() || !okm() || !okv() {
				t.Fatalf("n=%d: write outside the slices", n)
			}
		}
	})
}

// Adam flushes subnormals, as operands and as results, on every kernel
// set alike: moments decaying through the subnormal range become zeros,
// and the caller's floating-point state is as it was.
func TestAdamFlushesSubnormals(t *testing.T) {
	const lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
	tiny := math.Float32frombits(0x00000400)                   // subnormal
	normal := float32(math.SmallestNonzeroFloat32 * (1 << 23)) // the smallest normal
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(27, 28))
		for _, n := range vecLengths {
			p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range p {
				// Values around the smallest normal, zeros and ordinary ones.
				pick := func() float32 {
					switch r.IntN(4) {
					case 0:
						return 0
					case 1:
						return float32(r.NormFloat64())
					default:
						x := math.Float32frombits(uint32(r.IntN(0x01800000)))
						if r.IntN(2) == 0 {
							x = -x
						}
						return x
					}
				}
				p[i], g[i], m[i], v[i] = pick(), pick(), pick(), pick()
				v[i] = float32(math.Abs(float64(v[i])))
			}
			if n > 0 {
				g[0], m[0], v[0] = 0, tiny, tiny // a moment a zero gradient leaves subnormal
			}
			adamMatchesTwin(t, fmt.Sprintf("n=%d", n), p, g, m, v, lr, b1, b2, eps)
			for i := range p {
				for _, x := range []float32{p[i], m[i], v[i]} {
					if x != 0 && math.Abs(float64(x)) < float64(normal) {
						t.Fatalf("n=%d i=%d: subnormal %g left in the state", n, i, x)
					}
				}
			}
			if n > 0 && (m[0] != 0 || v[0] != 0) {
				t.Fatalf("n=%d: subnormal moments with a zero gradient gave m=%g v=%g, want zeros", n, m[0], v[0])
			}
		}
	})
	// Moments whose decay lands within a few thousand ulps of the smallest
	// normal, where rounding decides between a normal result and a flush.
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		c := math.Float32bits(normal / float32(b1))
		const span = 4096
		p, g, m, v := make([]float32, 2*span), make([]float32, 2*span), make([]float32, 2*span), make([]float32, 2*span)
		for i := range m {
			m[i] = math.Float32frombits(c - span + uint32(i))
			v[i] = math.Float32frombits(math.Float32bits(normal/float32(b2)) - span + uint32(i))
			p[i] = 1
		}
		adamMatchesTwin(t, "sweep", p, g, m, v, lr, b1, b2, eps)
		flushed := 0
		for i := range m {
			if m[i] == 0 {
				flushed++
			}
		}
		if flushed == 0 || flushed == len(m) {
			t.Fatalf("%d of %d decayed moments flushed: the sweep missed the boundary", flushed, len(m))
		}
	})
	// The flush ends with the kernel: Go arithmetic after it underflows
	// gradually again.
	x := []float32{normal, 0.5}
	if y := x[0] * x[1]; y == 0 || y >= normal {
		t.Fatalf("after AdamStep, %g * %g = %g: the floating-point state leaked", x[0], x[1], y)
	}
}

func TestSumRows(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(27, 28))
		for _, s := range [][3]int{{1, 1, 1}, {5, 3, 4}, {128, 10, 10}, {7, 33, 40}} {
			rows, cols, ld := s[0], s[1], s[2]
			x := randSlice(r, (rows-1)*ld+cols)
			dst := randSlice(r, cols)
			want := make([]float64, cols)
			for j := range want {
				want[j] = float64(dst[j])
				for i := 0; i < rows; i++ {
					want[j] += float64(x[i*ld+j])
				}
			}
			SumRows(dst, x, rows, cols, ld)
			for j := range want {
				if math.Abs(float64(dst[j])-want[j]) > 1e-5*float64(rows+1) {
					t.Fatalf("%v: dst[%d] = %g, want %g", s, j, dst[j], want[j])
				}
			}
		}
	})
}

func TestVectorPanicsOnShortSlices(t *testing.T) {
	for name, f := range map[string]func(){
		"Axpy":     func() { Axpy(1, make([]float32, 3), make([]float32, 2)) },
		"Dot":      func() { Dot(make([]float32, 3), make([]float32, 2)) },
		"Relu":     func() { Relu(make([]float32, 2), make([]float32, 3)) },
		"ReluGrad": func() { ReluGrad(make([]float32, 3), make([]float32, 3), make([]float32, 2)) },
		"AdamStep": func() {
			AdamStep(make([]float32, 3), make([]float32, 3), make([]float32, 2), make([]float32, 3), 1, 0.9, 0.99, 1e-8)
		},
		"SumRows": func() { SumRows(make([]float32, 3), make([]float32, 8), 3, 3, 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with short slices did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestTransposePanel checks the packing transposes, assembly and Go, for
// every line count and step count around their block sizes.
func TestTransposePanel(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(29, 30))
		for _, w := range []int{4, 6, 12, 16, 32} {
			for lines := 1; lines <= w; lines++ {
				for _, steps := range []int{1, 7, 8, 9, 16, 21} {
					ld := steps + 3
					src := randSlice(r, 2+lines*ld)
					panel := randSlice(r, steps*w)
					transposePanel(ks, panel, src, 2, ld, lines, steps, w)
					for p := 0; p < steps; p++ {
						for j := 0; j < w; j++ {
							want := float32(0)
							if j < lines {
								want = src[2+j*ld+p]
							}
							if panel[p*w+j] != want {
								t.Fatalf("w=%d lines=%d steps=%d: panel[%d][%d] = %g, want %g", w, lines, steps, p, j, panel[p*w+j], want)
							}
						}
					}
					copyPanel(ks, panel, src, 2, ld, min(steps, lines), min(w, ld-2), w)
					for p := 0; p < min(steps, lines); p++ {
						for j := 0; j < w; j++ {
							want := float32(0)
							if j < min(w, ld-2) {
								want = src[2+p*ld+j]
							}
							if panel[p*w+j] != want {
								t.Fatalf("copyPanel w=%d rows=%d: panel[%d][%d] = %g, want %g", w, min(steps, lines), p, j, panel[p*w+j], want)
							}
						}
					}
				}
			}
		}
	})
}

func TestCopyAddRowsAgainstLoops(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(31, 32))
		for _, cols := range []int{1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 26, 31, 32, 33, 48, 50} {
			for _, rows := range []int{1, 2, 5, 24} {
				lds, ldd := cols+r.IntN(5), cols+r.IntN(5)
				src, srcOK := guarded(r, (rows-1)*lds+cols)
				dst, dstOK := guarded(r, (rows-1)*ldd+cols)
				want := append([]float32(nil), dst...)
				for i := 0; i < rows; i++ {
					for j := 0; j < cols; j++ {
						want[i*ldd+j] += src[i*lds+j]
					}
				}
				AddRows(dst, ldd, src, lds, rows, cols)
				for i := range dst {
					if dst[i] != want[i] {
						t.Fatalf("AddRows %d×%d lds=%d ldd=%d: dst[%d] = %g, want %g", rows, cols, lds, ldd, i, dst[i], want[i])
					}
				}
				for i := 0; i < rows; i++ {
					for j := 0; j < cols; j++ {
						want[i*ldd+j] = src[i*lds+j]
					}
				}
				CopyRows(dst, ldd, src, lds, rows, cols)
				for i := range dst {
					if dst[i] != want[i] {
						t.Fatalf("CopyRows %d×%d lds=%d ldd=%d: dst[%d] = %g, want %g", rows, cols, lds, ldd, i, dst[i], want[i])
					}
				}
				if !srcOK() || !dstOK() {
					t.Fatalf("%d×%d: write outside the slices", rows, cols)
				}
			}
		}
	})
}

func TestCopyRowsRejectsShortSlices(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("CopyRows of a 3×4 block into 10 floats did not panic")
		}
	}()
	CopyRows(make([]float32, 10), 4, make([]float32, 12), 4, 3, 4)
}

func TestSum(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(33, 34))
		for _, n := range append(vecLengths, 4095, 4096, 4097, 10000) {
			x := randSlice(r, n)
			var want, mag float64
			for _, v := range x {
				want += float64(v)
				mag += math.Abs(float64(v))
			}
			if got := Sum(x); math.Abs(float64(got)-want) > 2*float64(n+1)*mag/(1<<24) {
				t.Errorf("n=%d: Sum = %g, want %g", n, got, want)
			}
		}
	})
}

func TestAddBiasAndBiasRelu(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(35, 36))
		for _, n := range vecLengths {
			x, _ := guarded(r, n)
			for i := range x {
				if r.IntN(4) == 0 {
					x[i] = special[r.IntN(len(special))]
				}
			}
			b := float32(r.NormFloat64())
			if n%3 == 0 {
				b = 0 // so that -0 + 0 and NaN reach the ReLU unchanged
			}
			dst, ok := guarded(r, n)
			AddBias(dst, x, b)
			for i, v := range x {
				if w := v + b; math.Float32bits(dst[i]) != math.Float32bits(w) && !(w != w && dst[i] != dst[i]) {
					t.Fatalf("n=%d: AddBias dst[%d] = %g, want %g", n, i, dst[i], w)
				}
			}
			BiasRelu(dst, x, b)
			for i, v := range x {
				w := float32(0)
				if v+b > 0 {
					w = v + b
				}
				if math.Float32bits(dst[i]) != math.Float32bits(w) {
					t.Fatalf("n=%d: BiasRelu(%g + %g) = %g, want %g", n, v, b, dst[i], w)
				}
			}
			BiasRelu(x, x, b) // in place
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(dst[i]) {
					t.Fatalf("n=%d: BiasRelu in place gave x[%d] = %g, out of place %g", n, i, x[i], dst[i])
				}
			}
			if !ok() {
				t.Fatalf("n=%d: write outside the slice", n)
			}
		}
	})
}

func TestMaxPool2x2AgainstGo(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		r := rand.New(rand.NewPCG(37, 38))
		for _, ow := range []int{1, 2, 7, 12, 15, 16, 17, 31, 32, 33, 40} {
			for _, extra := range []int{0, 1, 3} {
				oh, w := 1+r.IntN(5), 2*ow+extra
				x := make([]float32, 2*oh*w)
				for i := range x {
					switch r.IntN(8) {
					case 0:
						x[i] = special[r.IntN(len(special))]
					case 1, 2:
						x[i] = float32(r.IntN(3)) // ties
					default:
						x[i] = float32(r.NormFloat64())
					}
				}
				y, yOK := guarded(r, oh*ow)
				arg := make([]int32, oh*ow+1)
				arg[oh*ow] = -7
				wantY := make([]float32, oh*ow)
				wantArg := make([]int32, oh*ow)
				maxPool2x2Go(wantY, wantArg, x, oh, ow, w)
				MaxPool2x2(y, arg[:oh*ow], x, oh, ow, w)
				for i := range wantY {
					if arg[i] != wantArg[i] || math.Float32bits(y[i]) != math.Float32bits(wantY[i]) {
						t.Fatalf("oh=%d ow=%d w=%d: window %d: y=%g arg=%d, want y=%g arg=%d",
							oh, ow, w, i, y[i], arg[i], wantY[i], wantArg[i])
					}
					if math.Float32bits(y[i]) != math.Float32bits(x[arg[i]]) {
						t.Fatalf("oh=%d ow=%d w=%d: y[%d]=%g is not x[arg]=%g", oh, ow, w, i, y[i], x[arg[i]])
					}
				}
				if !yOK() || arg[oh*ow] != -7 {
					t.Fatalf("oh=%d ow=%d w=%d: write outside y or arg", oh, ow, w)
				}
			}
		}
	})
}

// TestMaxPool2x2Windows checks the Go twin itself on a hand-made plane:
// the maximum of each window, its index, and ties going to the first.
func TestMaxPool2x2Windows(t *testing.T) {
	x := []float32{
		1, 5, 2, 2, 9,
		3, 4, 2, 1, 9,
		0, 0, -1, -2, 9,
		0, 7, -3, -1, 9,
	}
	y, arg := make([]float32, 4), make([]int32, 4)
	maxPool2x2Go(y, arg, x, 2, 2, 5)
	if !slices.Equal(y, []float32{5, 2, 7, -1}) || !slices.Equal(arg, []int32{1, 2, 16, 12}) {
		t.Fatalf("y=%v arg=%v, want [5 2 7 -1] [1 2 16 12]", y, arg)
	}
}

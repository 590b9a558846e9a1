package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// Differential fuzzing of the kernel sets: every set this machine runs is
// checked against the pure-Go twin on shapes and values the fuzzer picks,
// bit for bit (NaN payloads aside) where the package doc promises it (AdamStep, Relu, ReluGrad,
// Scal, AddBias, BiasRelu, CopyRows, AddRows, MaxPool2x2, GELU, GELUGrad,
// ExpShift, SoftmaxRows, SoftmaxRowsGrad, LayerNorm, LayerNormGrad) and within the
// rounding bound of a float32 sum elsewhere (Axpy, Dot, Sum, SumRows,
// Sgemm). Values come from the fuzzer's bytes as raw float32 bits (NaN,
// infinities, subnormals, -0) with the rest from a seeded generator.

// fuzzOps are the vector kernels FuzzVectorKernelSets exercises, by number.
var fuzzOps = []string{"relu", "addbias", "biasrelu", "relugrad", "scal", "adam", "copyrows", "addrows", "maxpool", "axpy", "dot", "sum", "sumrows",
	"gelu", "gelugrad", "expshift", "softmax", "softmaxgrad", "layernorm", "layernormgrad"}

// fuzzValues returns n values: the first len(raw)/4 are raw's float32 bits,
// the rest normal deviates from r.
func fuzzValues(r *rand.Rand, raw []byte, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if 4*i+4 <= len(raw) {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		} else {
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

// onEachSet runs f under the Go set and under every other set this machine
// has, and hands check the Go set's result and each other set's.
func onEachSet[T any](t *testing.T, f func() T, check func(set string, goRes, got T)) {
	t.Helper()
	prev := Impl()
	defer SetImpl(prev)
	if err := SetImpl("go"); err != nil {
		t.Fatal(err)
	}
	want := f()
	for _, name := range Impls() {
		if name == "go" {
			continue
		}
		if err := SetImpl(name); err != nil {
			t.Fatal(err)
		}
		check(name, want, f())
	}
}

// sameBits returns the first index where a and b differ in their bits, or
// -1. Two NaNs count as the same whatever their payloads, which the package
// doc leaves undefined (see Determinism).
func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

func finite(xs ...[]float32) bool {
	for _, x := range xs {
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e15 {
				return false
			}
		}
	}
	return true
}

func FuzzVectorKernelSets(f *testing.F) {
	nan := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN())))
	specials := append(append(binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.Inf(-1)))), nan...), 0, 0, 0, 0x80)
	for op := range fuzzOps {
		f.Add(uint8(op), uint16(1+op*37), uint64(op), float32(0.5), []byte(nil))
		f.Add(uint8(op), uint16(17), uint64(op+100), float32(-3), specials)
	}
	f.Fuzz(func(t *testing.T, op uint8, size uint16, seed uint64, s float32, raw []byte) {
		r := rand.New(rand.NewPCG(seed, 7))
		n := int(size) % 1100
		name := fuzzOps[int(op)%len(fuzzOps)]
		x := fuzzValues(r, raw, n)
		y := fuzzValues(r, nil, n)
		z := fuzzValues(r, nil, n)
		bitwise := func(what string) func(string, []float32, []float32) {
			return func(set string, want, got []float32) {
				if i := sameBits(want, got); i >= 0 {
					t.Fatalf("%s n=%d s=%g: %s[%d] = %g (%#x) on %s, %g (%#x) on go",
						name, n, s, what, i, got[i], math.Float32bits(got[i]), set, want[i], math.Float32bits(want[i]))
				}
			}
		}
		switch name {
		case "gelu":
			onEachSet(t, func() []float32 { d := make([]float32, n); GELU(d, x); return d }, bitwise("dst"))
		case "gelugrad":
			onEachSet(t, func() []float32 { d := make([]float32, n); GELUGrad(d, y, x); return d }, bitwise("dst"))
		case "expshift":
			onEachSet(t, func() []float32 { d := make([]float32, n); ExpShift(d, x, s); return d }, bitwise("dst"))
		case "softmax", "softmaxgrad", "layernorm", "layernormgrad":
			cols := 1 + n%67
			rows := n / cols
			if rows == 0 {
				return
			}
			m := rows * cols
			onEachSet(t, func() []float32 {
				switch name {
				case "softmax":
					d := append([]float32(nil), x[:m]...)
					SoftmaxRows(d, rows, cols)
					return d
				case "softmaxgrad":
					d := append([]float32(nil), x[:m]...)
					SoftmaxRowsGrad(d, y[:m], rows, cols)
					return d
				}
				g, b := z[:cols], y[:cols]
				d, mean, rstd := make([]float32, m), make([]float32, rows), make([]float32, rows)
				LayerNorm(d, mean, rstd, x[:m], g, b, cols, 1e-6)
				if name == "layernorm" {
					return append(append(d, mean...), rstd...)
				}
				LayerNormGrad(d, y[:m], x[:m], g, mean, rstd, cols)
				return d
			}, bitwise("dst"))
		case "relu":
			onEachSet(t, func() []float32 { d := make([]float32, n); Relu(d, x); return d }, bitwise("dst"))
		case "addbias":
			onEachSet(t, func() []float32 { d := make([]float32, n); AddBias(d, x, s); return d }, bitwise("dst"))
		case "biasrelu":
			onEachSet(t, func() []float32 { d := make([]float32, n); BiasRelu(d, x, s); return d }, bitwise("dst"))
		case "relugrad":
			onEachSet(t, func() []float32 { d := make([]float32, n); ReluGrad(d, y, x); return d }, bitwise("dst"))
		case "scal":
			onEachSet(t, func() []float32 { d := append([]float32(nil), x...); Scal(s, d); return d }, bitwise("x"))
		case "adam":
			for i := range z {
				z[i] *= z[i] // a second moment is ≥ 0
			}
			lr := float32(math.Abs(float64(s)))
			onEachSet(t, func() []float32 {
				p, m, v := append([]float32(nil), y...), append([]float32(nil), x...), append([]float32(nil), z...)
				AdamStep(p, x, m, v, lr, 0.9, 0.999, 1e-8)
				return append(append(p, m...), v...)
			}, bitwise("p|m|v"))
		case "copyrows", "addrows":
			rows, cols := 1+r.IntN(9), n%70
			lds, ldd := cols+r.IntN(5), cols+r.IntN(5)
			src := fuzzValues(r, raw, rows*lds)
			dst0 := fuzzValues(r, nil, rows*ldd)
			onEachSet(t, func() []float32 {
				d := append([]float32(nil), dst0...)
				if name == "copyrows" {
					CopyRows(d, ldd, src, lds, rows, cols)
				} else {
					AddRows(d, ldd, src, lds, rows, cols)
				}
				return d
			}, bitwise("dst"))
		case "maxpool":
			ow := n % 45
			oh, w := 1+r.IntN(4), 2*ow+r.IntN(4)
			if w == 0 {
				return
			}
			px := fuzzValues(r, raw, 2*oh*w)
			for i := range px {
				if r.IntN(4) == 0 {
					px[i] = float32(r.IntN(3)) // ties
				}
			}
			onEachSet(t, func() []float32 {
				yv, arg := make([]float32, oh*ow), make([]int32, oh*ow)
				MaxPool2x2(yv, arg, px, oh, ow, w)
				for _, a := range arg {
					yv = append(yv, math.Float32frombits(uint32(a)))
				}
				return yv
			}, bitwise("y|arg"))
		case "axpy", "dot", "sum", "sumrows":
			if !finite(x) || math.IsNaN(float64(s)) || math.Abs(float64(s)) > 1e6 {
				return // within-rounding promises hold for finite operands
			}
			within := func(set string, want, got []float32, mag []float64) {
				for i := range want {
					tol := 4*float64(n+2)*mag[i]/(1<<24) + 1e-30
					if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
						t.Fatalf("%s n=%d s=%g: [%d] = %g on %s, %g on go (± %g)", name, n, s, i, got[i], set, want[i], tol)
					}
				}
			}
			switch name {
			case "axpy":
				mag := make([]float64, n)
				for i := range mag {
					mag[i] = math.Abs(float64(s)*float64(x[i])) + math.Abs(float64(y[i]))
				}
				onEachSet(t, func() []float32 { d := append([]float32(nil), y...); Axpy(s, x, d); return d },
					func(set string, want, got []float32) { within(set, want, got, mag) })
			case "dot", "sum":
				var mag float64
				for i := range x {
					if name == "dot" {
						mag += math.Abs(float64(x[i]) * float64(y[i]))
					} else {
						mag += math.Abs(float64(x[i]))
					}
				}
				onEachSet(t, func() []float32 {
					if name == "dot" {
						return []float32{Dot(x, y)}
					}
					return []float32{Sum(x)}
				}, func(set string, want, got []float32) { within(set, want, got, []float64{mag}) })
			case "sumrows":
				cols := 1 + r.IntN(40)
				rows := n / cols
				if rows == 0 {
					return
				}
				mag := make([]float64, cols)
				for i := 0; i < rows*cols; i++ {
					mag[i%cols] += math.Abs(float64(x[i]))
				}
				onEachSet(t, func() []float32 { d := make([]float32, cols); SumRows(d, x, rows, cols, cols); return d },
					func(set string, want, got []float32) { within(set, want, got, mag) })
			}
		}
	})
}

// FuzzSgemmKernelSets checks Sgemm of every set against a float64
// reference within rounding, and Sgemm against SgemmSerial bit for bit
// (the package's determinism promise), on shapes around the micro-kernel
// tile and depth-block edges.
func FuzzSgemmKernelSets(f *testing.F) {
	f.Add(uint8(13), uint8(33), uint16(257), false, true, float32(1), float32(0), uint64(1))
	f.Add(uint8(64), uint8(7), uint16(5), true, false, float32(-2.5), float32(0.5), uint64(2))
	f.Add(uint8(1), uint8(1), uint16(1), true, true, float32(0.75), float32(-1), uint64(3))
	f.Fuzz(func(t *testing.T, m8, n8 uint8, k16 uint16, ta, tb bool, alpha, beta float32, seed uint64) {
		m, n, k := 1+int(m8)%80, 1+int(n8)%80, 1+int(k16)%600
		if !finite([]float32{alpha, beta}) || math.Abs(float64(alpha)) > 1e6 || math.Abs(float64(beta)) > 1e6 {
			return
		}
		g := newGemmCase(rand.New(rand.NewPCG(seed, 11)), ta, tb, m, n, k, 3, alpha, beta)
		prev := Impl()
		defer SetImpl(prev)
		for _, name := range Impls() {
			if err := SetImpl(name); err != nil {
				t.Fatal(err)
			}
			par, ser := g.run(false), g.run(true)
			if i := sameBits(par, ser); i >= 0 {
				t.Fatalf("%s on %s: Sgemm and SgemmSerial differ at %d: %g, %g", g, name, i, par[i], ser[i])
			}
			g.check(t, g.c, par)
			if t.Failed() {
				t.Fatalf("on %s", name)
			}
		}
	})
}

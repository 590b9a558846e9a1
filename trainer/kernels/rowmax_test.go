package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rowMax keeps four running maxima: the largest element and a NaN are
// found at every position of every length, whichever of the four lanes or
// the tail holds them, and equal maxima in several lanes change nothing.
func TestRowMaxEveryPosition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 21; n++ {
		for p := 0; p < n; p++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = -1 + 2*r.Float32()
			}
			x[p] = 7
			if got := rowMax(x); got != 7 {
				t.Fatalf("n=%d max at %d: rowMax = %v, want 7", n, p, got)
			}
			x[(p+1)%n] = 7
			if got := rowMax(x); got != 7 {
				t.Fatalf("n=%d max at %d and %d: rowMax = %v, want 7", n, p, (p+1)%n, got)
			}
			x[p] = float32(math.NaN())
			if got := rowMax(x); !math.IsNaN(float64(got)) {
				t.Fatalf("n=%d NaN at %d: rowMax = %v, want NaN", n, p, got)
			}
			for i := range x {
				x[i] = float32(math.Inf(-1))
			}
			if got := rowMax(x); !math.IsInf(float64(got), -1) {
				t.Fatalf("n=%d all -Inf: rowMax = %v", n, got)
			}
		}
	}
}

// TestRowMaxKernels checks each kernel set's rowMax against the Go one at
// every length to 70 (main loop, single vectors, tail), with the maximum,
// a NaN or all −Inf at every position, and on all-negative rows, where a
// tail lane filled with zero would win.
func TestRowMaxKernels(t *testing.T) {
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		if ks.rowMax == nil {
			t.Skip("no rowMax kernel in this set")
		}
		r := rand.New(rand.NewPCG(5, 6))
		for n := 1; n <= 70; n++ {
			x := make([]float32, n+16)
			for i := range x {
				x[i] = 100 // beyond the row: must not be read
			}
			row := x[:n]
			for p := 0; p < n; p++ {
				for i := range row {
					row[i] = -5 - r.Float32()
				}
				if got, want := ks.rowMax(row), rowMax(row); got != want {
					t.Fatalf("n=%d all negative: %v, want %v", n, got, want)
				}
				row[p] = -1
				if got := ks.rowMax(row); got != -1 {
					t.Fatalf("n=%d max -1 at %d: %v", n, p, got)
				}
				row[p] = float32(math.NaN())
				if got := ks.rowMax(row); !math.IsNaN(float64(got)) {
					t.Fatalf("n=%d NaN at %d: %v", n, p, got)
				}
				for i := range row {
					row[i] = float32(math.Inf(-1))
				}
				if got := ks.rowMax(row); !math.IsInf(float64(got), -1) {
					t.Fatalf("n=%d all -Inf: %v", n, got)
				}
			}
		}
	})
}

// TestShortRowMaxMatchesRowMax: the branch-free maximum of short rows is
// rowMax's at every length to 20, on random rows and rows with ±Inf, NaN,
// ±0, subnormals and ties; of +0 and −0 either may win.
func TestShortRowMaxMatchesRowMax(t *testing.T) {
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		float32(math.Copysign(0, -1)), 0, 1e-45, -1e-45, math.MaxFloat32, -math.MaxFloat32, 3, -3}
	r := rand.New(rand.NewPCG(21, 22))
	for n := 1; n <= 20; n++ {
		for trial := 0; trial < 400; trial++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = 10 * (r.Float32() - 0.5)
				if trial%2 == 1 && r.IntN(3) == 0 {
					x[i] = specials[r.IntN(len(specials))]
				}
			}
			got, want := shortRowMax(x), rowMax(x)
			if math.IsNaN(float64(want)) {
				if !math.IsNaN(float64(got)) {
					t.Fatalf("%v: shortRowMax = %v, want NaN", x, got)
				}
				continue
			}
			if got != want {
				t.Fatalf("%v: shortRowMax = %v, rowMax %v", x, got, want)
			}
		}
	}
}

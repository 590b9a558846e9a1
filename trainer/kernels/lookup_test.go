package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// LookupU8 gives the table's floats bit for bit on every kernel set, for
// every tail length, with every byte value as an index, and writes nothing
// past len(src).
func TestLookupU8AgainstGo(t *testing.T) {
	var table [256]float32
	r := rand.New(rand.NewPCG(31, 32))
	for i := range table {
		table[i] = float32(r.NormFloat64())
	}
	table[0], table[255] = float32(math.NaN()), float32(math.Inf(-1))
	forEachImpl(t, func(t *testing.T, ks *kernelSet) {
		for _, n := range append(vecLengths, 256, 784) {
			src := make([]uint8, n+1)[1:] // odd start
			for i := range src {
				src[i] = uint8(r.Uint32())
			}
			if n >= 256 {
				for i := range 256 {
					src[i] = uint8(i)
				}
			}
			dst, ok := guarded(r, n)
			LookupU8(dst, src, &table)
			want := make([]float32, n)
			lookupU8Go(want, src, &table)
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) || math.Float32bits(dst[i]) != math.Float32bits(table[src[i]]) {
					t.Fatalf("n=%d: dst[%d] = %g for byte %d, want %g", n, i, dst[i], src[i], table[src[i]])
				}
			}
			if !ok() {
				t.Fatalf("n=%d: write outside dst", n)
			}
		}
	})
}

func BenchmarkLookupU8(b *testing.B) {
	var table [256]float32
	for i := range table {
		table[i] = float32(i) / 255
	}
	src, dst := make([]uint8, 128*784), make([]float32, 128*784)
	for i := range src {
		src[i] = uint8(i * 7)
	}
	b.SetBytes(int64(len(src)))
	defer SetImpl(Impl())
	for _, name := range Impls() {
		b.Run(name, func(b *testing.B) {
			if err := SetImpl(name); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				LookupU8(dst, src, &table)
			}
		})
	}
}

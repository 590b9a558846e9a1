package idx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var allTypes = []Type{U8, I8, I16, I32, F32, F64}

// genData returns n pseudo-random elements of type t, including the
// extremes of the type among the first values.
func genData(t Type, n int, seed uint64) any {
	r := rand.New(rand.NewPCG(seed, 7))
	switch t {
	case U8:
		d := make([]uint8, n)
		for i := range d {
			d[i] = uint8(r.Uint32())
		}
		setEdges(d, 0, math.MaxUint8)
		return d
	case I8:
		d := make([]int8, n)
		for i := range d {
			d[i] = int8(r.Uint32())
		}
		setEdges(d, math.MinInt8, math.MaxInt8)
		return d
	case I16:
		d := make([]int16, n)
		for i := range d {
			d[i] = int16(r.Uint32())
		}
		setEdges(d, math.MinInt16, math.MaxInt16)
		return d
	case I32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(r.Uint32())
		}
		setEdges(d, math.MinInt32, math.MaxInt32)
		return d
	case F32:
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64() * 1000)
		}
		setEdges(d, -math.MaxFloat32, math.SmallestNonzeroFloat32)
		return d
	case F64:
		d := make([]float64, n)
		for i := range d {
			d[i] = r.NormFloat64() * 1e6
		}
		setEdges(d, -math.MaxFloat64, math.SmallestNonzeroFloat64)
		return d
	}
	panic(fmt.Sprintf("genData: type %v", t))
}

func setEdges[T any](d []T, lo, hi T) {
	if len(d) > 0 {
		d[0] = lo
	}
	if len(d) > 1 {
		d[1] = hi
	}
}

// toFloat64 converts typed data to float64 exactly.
func toFloat64(data any) []float64 {
	switch d := data.(type) {
	case []uint8:
		return conv(d, func(v uint8) float64 { return float64(v) })
	case []int8:
		return conv(d, func(v int8) float64 { return float64(v) })
	case []int16:
		return conv(d, func(v int16) float64 { return float64(v) })
	case []int32:
		return conv(d, func(v int32) float64 { return float64(v) })
	case []float32:
		return conv(d, func(v float32) float64 { return float64(v) })
	case []float64:
		return d
	}
	panic(fmt.Sprintf("toFloat64: %T", data))
}

// toFloat32 converts typed data to float32 with Go's conversion rules.
func toFloat32(data any) []float32 {
	switch d := data.(type) {
	case []uint8:
		return conv(d, func(v uint8) float32 { return float32(v) })
	case []int8:
		return conv(d, func(v int8) float32 { return float32(v) })
	case []int16:
		return conv(d, func(v int16) float32 { return float32(v) })
	case []int32:
		return conv(d, func(v int32) float32 { return float32(v) })
	case []float32:
		return d
	case []float64:
		return conv(d, func(v float64) float32 { return float32(v) })
	}
	panic(fmt.Sprintf("toFloat32: %T", data))
}

func conv[S, D any](s []S, f func(S) D) []D {
	d := make([]D, len(s))
	for i, v := range s {
		d[i] = f(v)
	}
	return d
}

// decodeTyped decodes big-endian elements of type t, independently of the
// package's own decoders.
func decodeTyped(t Type, raw []byte) any {
	switch t {
	case U8:
		return append([]uint8{}, raw...)
	case I8:
		return conv(raw, func(v byte) int8 { return int8(v) })
	case I16:
		d := make([]int16, len(raw)/2)
		binary.Read(bytes.NewReader(raw), binary.BigEndian, d)
		return d
	case I32:
		d := make([]int32, len(raw)/4)
		binary.Read(bytes.NewReader(raw), binary.BigEndian, d)
		return d
	case F32:
		d := make([]float32, len(raw)/4)
		binary.Read(bytes.NewReader(raw), binary.BigEndian, d)
		return d
	case F64:
		d := make([]float64, len(raw)/8)
		binary.Read(bytes.NewReader(raw), binary.BigEndian, d)
		return d
	}
	panic(fmt.Sprintf("decodeTyped: %v", t))
}

// encode returns the IDX encoding of h and data, gzip-compressed if gz.
func encode(t testing.TB, h Header, data any, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	write := Write
	if gz {
		write = WriteGzip
	}
	if err := write(&buf, h, data); err != nil {
		t.Fatalf("encode %v: %v", h, err)
	}
	return buf.Bytes()
}

// sameFloat64 compares bit patterns, treating all NaNs as equal.
func sameFloat64(a, b float64) bool {
	return a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b)
}

func sameFloat32(a, b float32) bool {
	return sameFloat64(float64(a), float64(b))
}

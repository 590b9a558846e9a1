package idx

import (
	"encoding/binary"
	"math"
)

// Element decoders: each converts the big-endian elements in src into the
// first len(src)/size elements of dst.

func u8ToF32(dst []float32, src []byte) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(v)
	}
}

func i8ToF32(dst []float32, src []byte) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(int8(v))
	}
}

func i16ToF32(dst []float32, src []byte) {
	dst = dst[:len(src)/2]
	for i := range dst {
		dst[i] = float32(int16(binary.BigEndian.Uint16(src[2*i:])))
	}
}

func i32ToF32(dst []float32, src []byte) {
	dst = dst[:len(src)/4]
	for i := range dst {
		dst[i] = float32(int32(binary.BigEndian.Uint32(src[4*i:])))
	}
}

func f32ToF32(dst []float32, src []byte) {
	dst = dst[:len(src)/4]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.BigEndian.Uint32(src[4*i:]))
	}
}

func f64ToF32(dst []float32, src []byte) {
	dst = dst[:len(src)/8]
	for i := range dst {
		dst[i] = float32(math.Float64frombits(binary.BigEndian.Uint64(src[8*i:])))
	}
}

func u8ToF64(dst []float64, src []byte) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float64(v)
	}
}

func i8ToF64(dst []float64, src []byte) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float64(int8(v))
	}
}

func i16ToF64(dst []float64, src []byte) {
	dst = dst[:len(src)/2]
	for i := range dst {
		dst[i] = float64(int16(binary.BigEndian.Uint16(src[2*i:])))
	}
}

func i32ToF64(dst []float64, src []byte) {
	dst = dst[:len(src)/4]
	for i := range dst {
		dst[i] = float64(int32(binary.BigEndian.Uint32(src[4*i:])))
	}
}

func f32ToF64(dst []float64, src []byte) {
	dst = dst[:len(src)/4]
	for i := range dst {
		dst[i] = float64(math.Float32frombits(binary.BigEndian.Uint32(src[4*i:])))
	}
}

func f64ToF64(dst []float64, src []byte) {
	dst = dst[:len(src)/8]
	for i := range dst {
		dst[i] = math.Float64frombits(binary.BigEndian.Uint64(src[8*i:]))
	}
}

package idx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/gzip"
)

// writeChunk is the size of the encoding buffer used by Write.
const writeChunk = 64 << 10

// Write encodes an uncompressed IDX file with header h and elements data to
// w. data must be a []uint8, []int8, []int16, []int32, []float32 or
// []float64 matching h.Type, with exactly product(h.Dims) elements.
func Write(w io.Writer, h Header, data any) error {
	if _, _, se := h.shapeBytes(math.MaxInt); se != nil {
		return fmt.Errorf("idx: Write: header %v: expected %s, got %s", h, se.expected, se.got)
	}
	var typ Type
	var n int
	switch d := data.(type) {
	case []uint8:
		typ, n = U8, len(d)
	case []int8:
		typ, n = I8, len(d)
	case []int16:
		typ, n = I16, len(d)
	case []int32:
		typ, n = I32, len(d)
	case []float32:
		typ, n = F32, len(d)
	case []float64:
		typ, n = F64, len(d)
	default:
		return fmt.Errorf("idx: Write: unsupported data type %T", data)
	}
	if typ != h.Type {
		return fmt.Errorf("idx: Write: header type is %v but data is %T", h.Type, data)
	}
	if n != h.Len() {
		return fmt.Errorf("idx: Write: header %v needs %d elements, data has %d", h, h.Len(), n)
	}

	hdr := make([]byte, h.Size())
	hdr[2], hdr[3] = byte(h.Type), byte(len(h.Dims))
	for i, d := range h.Dims {
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	switch d := data.(type) {
	case []uint8:
		_, err := w.Write(d)
		return err
	case []int8:
		return writeElems(w, d, 1, func(b []byte, s []int8) {
			for i, v := range s {
				b[i] = byte(v)
			}
		})
	case []int16:
		return writeElems(w, d, 2, func(b []byte, s []int16) {
			for i, v := range s {
				binary.BigEndian.PutUint16(b[2*i:], uint16(v))
			}
		})
	case []int32:
		return writeElems(w, d, 4, func(b []byte, s []int32) {
			for i, v := range s {
				binary.BigEndian.PutUint32(b[4*i:], uint32(v))
			}
		})
	case []float32:
		return writeElems(w, d, 4, func(b []byte, s []float32) {
			for i, v := range s {
				binary.BigEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		})
	default: // []float64, checked above
		return writeElems(w, data.([]float64), 8, func(b []byte, s []float64) {
			for i, v := range s {
				binary.BigEndian.PutUint64(b[8*i:], math.Float64bits(v))
			}
		})
	}
}

// WriteGzip is Write followed by gzip compression at the default level.
func WriteGzip(w io.Writer, h Header, data any) error {
	return WriteGzipLevel(w, h, data, gzip.DefaultCompression)
}

// WriteGzipLevel is Write followed by gzip compression at the given level
// (gzip.BestSpeed … gzip.BestCompression, or gzip.DefaultCompression).
func WriteGzipLevel(w io.Writer, h Header, data any, level int) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return fmt.Errorf("idx: WriteGzip: %w", err)
	}
	if err := Write(zw, h, data); err != nil {
		return err
	}
	return zw.Close()
}

// writeElems encodes data in chunks of writeChunk bytes with enc and writes
// them to w.
func writeElems[T any](w io.Writer, data []T, size int, enc func([]byte, []T)) error {
	buf := make([]byte, min(writeChunk, len(data)*size))
	per := len(buf) / size
	for len(data) > 0 {
		k := min(per, len(data))
		enc(buf, data[:k])
		if _, err := w.Write(buf[:k*size]); err != nil {
			return err
		}
		data = data[k:]
	}
	return nil
}

package idx

import (
	"fmt"
	"math"
)

// Type is the element type of an IDX file, stored in the third magic byte.
type Type byte

// Element types defined by the IDX format. All multi-byte types are
// big-endian on disk.
const (
	U8  Type = 0x08 // unsigned byte
	I8  Type = 0x09 // signed byte
	I16 Type = 0x0B // 16-bit signed integer
	I32 Type = 0x0C // 32-bit signed integer
	F32 Type = 0x0D // IEEE 754 single precision
	F64 Type = 0x0E // IEEE 754 double precision
)

// Valid reports whether t is one of the types defined by the format.
func (t Type) Valid() bool { return t.Size() != 0 }

// Size returns the size of one element in bytes, or 0 for an undefined type.
func (t Type) Size() int {
	switch t {
	case U8, I8:
		return 1
	case I16:
		return 2
	case I32, F32:
		return 4
	case F64:
		return 8
	}
	return 0
}

// String returns the short name of t ("u8", "i8", "i16", "i32", "f32",
// "f64"), or "Type(0xNN)" for an undefined type.
func (t Type) String() string {
	switch t {
	case U8:
		return "u8"
	case I8:
		return "i8"
	case I16:
		return "i16"
	case I32:
		return "i32"
	case F32:
		return "f32"
	case F64:
		return "f64"
	}
	return fmt.Sprintf("Type(0x%02x)", byte(t))
}

// Header describes an IDX file: the element type and the dimensions.
// Dims[0] is the number of items; Dims[1:] is the shape of one item.
type Header struct {
	Type Type
	Dims []int
}

// Items returns the number of items, Dims[0] (0 for an empty Dims).
func (h Header) Items() int {
	if len(h.Dims) == 0 {
		return 0
	}
	return h.Dims[0]
}

// ItemElems returns the number of elements in one item: the product of
// Dims[1:], which is 1 for a rank-1 file.
func (h Header) ItemElems() int {
	n := 1
	if len(h.Dims) > 1 {
		for _, d := range h.Dims[1:] {
			n *= d
		}
	}
	return n
}

// Len returns the total number of elements, the product of all Dims.
func (h Header) Len() int { return h.Items() * h.ItemElems() }

// Size returns the encoded size of the header in bytes: 4 + 4*rank.
func (h Header) Size() int { return 4 + 4*len(h.Dims) }

// String formats h as "u8[60000 28 28]".
func (h Header) String() string { return fmt.Sprintf("%v%v", h.Type, h.Dims) }

// maxDim is the largest dimension an IDX header can store.
const maxDim = math.MaxUint32

// shapeError says which part of a header is out of bounds.
type shapeError struct {
	dim      int // offending dimension, -1 when the type is at fault
	expected string
	got      string
}

// shapeBytes checks the type and dimensions of h and returns the size in
// bytes of one item and of the whole data section. It fails when the type is
// undefined, the rank is 0 or above 255, a dimension does not fit in a
// uint32, an item dimension is zero (only the item count may be), or a size
// exceeds limit.
func (h Header) shapeBytes(limit int64) (itemBytes, dataBytes int64, se *shapeError) {
	size := int64(h.Type.Size())
	if size == 0 {
		return 0, 0, &shapeError{-1, "element type 08, 09, 0b, 0c, 0d or 0e", fmt.Sprintf("0x%02x", byte(h.Type))}
	}
	if len(h.Dims) == 0 {
		return 0, 0, &shapeError{-1, "rank of at least 1", "rank 0"}
	}
	if len(h.Dims) > math.MaxUint8 {
		return 0, 0, &shapeError{-1, "rank of at most 255", fmt.Sprintf("rank %d", len(h.Dims))}
	}
	for i, d := range h.Dims {
		if d < 0 || uint64(d) > maxDim {
			return 0, 0, &shapeError{i, fmt.Sprintf("dimension %d in 0..%d", i, uint32(maxDim)), fmt.Sprint(d)}
		}
		if i > 0 && d == 0 {
			return 0, 0, &shapeError{i, fmt.Sprintf("dimension %d of at least 1 (only the item count may be 0)", i), "0"}
		}
	}
	itemBytes = size
	for i := 1; i < len(h.Dims); i++ {
		d := int64(h.Dims[i])
		if itemBytes > limit/d {
			return 0, 0, &shapeError{i, fmt.Sprintf("item size of at most %d bytes", limit), "item of " + h.shapeText(1, i+1) + " or more"}
		}
		itemBytes *= d
	}
	n := int64(h.Dims[0])
	if n != 0 && itemBytes > limit/n {
		return 0, 0, &shapeError{0, fmt.Sprintf("data size of at most %d bytes", limit), h.shapeText(0, len(h.Dims))}
	}
	return itemBytes, n * itemBytes, nil
}

// shapeText renders Dims[from:to] with the element size, as "28×28×1 bytes".
func (h Header) shapeText(from, to int) string {
	s := ""
	for _, d := range h.Dims[from:to] {
		s += fmt.Sprintf("%d×", d)
	}
	return fmt.Sprintf("%s%d bytes", s, h.Type.Size())
}

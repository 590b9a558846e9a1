package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// The safetensors format (as read by the Python `safetensors` package): an
// 8-byte little-endian header length N, N bytes of JSON mapping each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
// "__metadata__" string map, then the raw little-endian tensor bytes, with
// offsets relative to the end of the header.

// maxHeader is the largest header accepted, as in the reference reader.
const maxHeader = 100_000_000

const metadataKey = "__metadata__"

// Tensor is a named float32 tensor to write.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// dtypeSize gives the element size of every dtype the format defines.
var dtypeSize = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

type headerEntry struct {
	DType       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// EncodeSafetensors writes tensors (as F32, sorted by name) and metadata in
// safetensors format. The output depends only on the arguments.
func EncodeSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	header := make(map[string]any, len(sorted)+1)
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	off := 0
	for i, t := range sorted {
		if t.Name == "" || t.Name == metadataKey {
			return fmt.Errorf("checkpoint: invalid tensor name %q", t.Name)
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return fmt.Errorf("checkpoint: tensor %q given twice", t.Name)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("checkpoint: tensor %q has negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("checkpoint: tensor %q: shape %v needs %d values, has %d", t.Name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = headerEntry{DType: "F32", Shape: shape, DataOffsets: [2]int{off, off + 4*n}}
		off += 4 * n
	}
	js, err := json.Marshal(header) // map keys come out sorted
	if err != nil {
		return fmt.Errorf("checkpoint: encoding safetensors header: %w", err)
	}
	if pad := (8 - len(js)%8) % 8; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	bw.Write(lenBuf[:])
	bw.Write(js)
	var word [4]byte
	for _, t := range sorted {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(word[:], math.Float32bits(v))
			bw.Write(word[:])
		}
	}
	return bw.Flush()
}

// WriteSafetensors encodes tensors into path atomically (see WriteFileAtomic).
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	_, err := writeAtomic(path, func(w io.Writer) error { return EncodeSafetensors(w, tensors, metadata) })
	return err
}

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Name       string
	DType      string
	Shape      []int
	Begin, End int // byte range within the data section
}

// Safetensors is a decoded, validated safetensors file.
type Safetensors struct {
	Name     string // file name used in errors
	Metadata map[string]string
	Tensors  []TensorInfo // sorted by name
	data     []byte
}

// ReadSafetensors reads and validates a safetensors file.
func ReadSafetensors(path string) (*Safetensors, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return DecodeSafetensors(b, path)
}

// DecodeSafetensors validates b as a safetensors file: header length within
// bounds, a JSON object without duplicate names, known dtypes, non-negative
// shapes whose byte size matches data_offsets, and offsets that tile the data
// section exactly (no gap, no overlap, nothing past the end). name is used in
// error messages. The result refers to b.
func DecodeSafetensors(b []byte, name string) (*Safetensors, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint: %s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(b) < 8 {
		return nil, fail("%d bytes is too short for a safetensors file (need an 8-byte header length)", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader {
		return nil, fail("header length %d exceeds the %d-byte limit", n, maxHeader)
	}
	if n > uint64(len(b)-8) {
		return nil, fail("header length %d runs past the end of the file (%d bytes after the length)", n, len(b)-8)
	}
	hdr := b[8 : 8+n]
	data := b[8+n:]
	if len(bytes.TrimLeft(hdr, " \t\r\n")) == 0 || bytes.TrimLeft(hdr, " \t\r\n")[0] != '{' {
		return nil, fail("header at offset 8 is not a JSON object")
	}
	f := &Safetensors{Name: name, data: data}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fail("header: %v", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("header at byte %d: %v", 8+dec.InputOffset(), jsonErr(err))
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return nil, fail("header names %q twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			if err := dec.Decode(&f.Metadata); err != nil {
				return nil, fail("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var raw struct {
			DType       *string       `json:"dtype"`
			Shape       []json.Number `json:"shape"`
			DataOffsets []json.Number `json:"data_offsets"`
		}
		if err := dec.Decode(&raw); err != nil {
			return nil, fail("header entry %q: %v", key, jsonErr(err))
		}
		t, err := checkEntry(key, raw.DType, raw.Shape, raw.DataOffsets)
		if err != nil {
			return nil, fail("%v", err)
		}
		f.Tensors = append(f.Tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail("header: %v", jsonErr(err))
	}
	if rest := bytes.TrimSpace(hdr[dec.InputOffset():]); len(rest) > 0 {
		return nil, fail("header has trailing data after the JSON object at byte %d", 8+dec.InputOffset())
	}
	// Offsets must tile the data section.
	byOffset := slices.Clone(f.Tensors)
	sort.SliceStable(byOffset, func(i, j int) bool {
		if byOffset[i].Begin != byOffset[j].Begin {
			return byOffset[i].Begin < byOffset[j].Begin
		}
		return byOffset[i].End < byOffset[j].End
	})
	pos := 0
	for _, t := range byOffset {
		if t.Begin != pos {
			if t.Begin < pos {
				return nil, fail("tensor %q at data bytes [%d, %d) overlaps the previous tensor ending at %d", t.Name, t.Begin, t.End, pos)
			}
			return nil, fail("gap in data section: tensor %q starts at byte %d, previous data ends at %d", t.Name, t.Begin, pos)
		}
		pos = t.End
	}
	if pos != len(data) {
		return nil, fail("tensors cover %d data bytes but the data section (at offset %d) has %d", pos, 8+n, len(data))
	}
	slices.SortFunc(f.Tensors, func(a, b TensorInfo) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// jsonErr names a truncated header as such rather than as a bare EOF.
func jsonErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of JSON")
	}
	return err
}

func checkEntry(name string, dtype *string, shape, offsets []json.Number) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	if dtype == nil {
		return t, fmt.Errorf("tensor %q has no dtype", name)
	}
	size, ok := dtypeSize[*dtype]
	if !ok {
		return t, fmt.Errorf("tensor %q has unknown dtype %q", name, *dtype)
	}
	t.DType = *dtype
	if shape == nil {
		return t, fmt.Errorf("tensor %q has no shape", name)
	}
	bytes := uint64(size)
	t.Shape = make([]int, len(shape))
	for i, d := range shape {
		v, err := d.Int64()
		if err != nil || v < 0 {
			return t, fmt.Errorf("tensor %q: dimension %d is %s, want a non-negative integer", name, i, d)
		}
		if v > 0 && bytes > math.MaxInt64/uint64(v) {
			return t, fmt.Errorf("tensor %q: shape %v overflows", name, shape)
		}
		bytes *= uint64(v)
		t.Shape[i] = int(v)
	}
	if len(offsets) != 2 {
		return t, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(offsets))
	}
	b, err1 := offsets[0].Int64()
	e, err2 := offsets[1].Int64()
	if err1 != nil || err2 != nil || b < 0 || e < b {
		return t, fmt.Errorf("tensor %q: invalid data_offsets [%s, %s]", name, offsets[0], offsets[1])
	}
	if uint64(e-b) != bytes {
		return t, fmt.Errorf("tensor %q: %s shape %v needs %d bytes, data_offsets [%d, %d] give %d", name, t.DType, t.Shape, bytes, b, e, e-b)
	}
	t.Begin, t.End = int(b), int(e)
	return t, nil
}

// Info returns the description of a tensor.
func (f *Safetensors) Info(name string) (TensorInfo, bool) {
	i, ok := slices.BinarySearchFunc(f.Tensors, name, func(t TensorInfo, n string) int { return strings.Compare(t.Name, n) })
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Raw returns a tensor's bytes (aliasing the file).
func (f *Safetensors) Raw(name string) ([]byte, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("checkpoint: %s: no tensor %q", f.Name, name)
	}
	return f.data[t.Begin:t.End], nil
}

// Float32 returns a copy of a tensor as float32. F32 is copied; F16, BF16 and
// F64 are converted; other dtypes are an error.
func (f *Safetensors) Float32(name string) ([]float32, []int, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, nil, fmt.Errorf("checkpoint: %s: no tensor %q", f.Name, name)
	}
	raw := f.data[t.Begin:t.End]
	var out []float32
	switch t.DType {
	case "F32":
		out = make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "F64":
		out = make([]float32, len(raw)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case "BF16":
		out = make([]float32, len(raw)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case "F16":
		out = make([]float32, len(raw)/2)
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	default:
		return nil, nil, fmt.Errorf("checkpoint: %s: tensor %q has dtype %s, not a float type", f.Name, name, t.DType)
	}
	return out, slices.Clone(t.Shape), nil
}

// halfToFloat32 converts an IEEE 754 binary16 value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | mant<<13)
}

package idx

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/klauspost/compress/gzip"
)

const (
	// DefaultMaxBytes is the default limit on the declared data size of a
	// file (16 GiB). It protects against headers that claim absurd shapes.
	DefaultMaxBytes int64 = 1 << 34

	// DefaultBufferSize is the default size of the input buffer and of the
	// scratch buffer used for element conversions.
	DefaultBufferSize = 128 << 10

	// trailingLimit bounds how many trailing bytes are counted for an
	// error message before giving up.
	trailingLimit = 1 << 20
)

// Option configures a Reader.
type Option func(*options) error

type options struct {
	maxBytes int64
	bufSize  int
}

// WithMaxBytes sets the largest data size, in bytes, that a header may
// declare; larger files are rejected before any data is read. n must be
// positive. The default is DefaultMaxBytes.
func WithMaxBytes(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("idx: WithMaxBytes(%d): limit must be positive", n)
		}
		o.maxBytes = n
		return nil
	}
}

// WithBufferSize sets the size of the input buffer and of the conversion
// scratch buffer. n must be at least 16. The default is DefaultBufferSize.
func WithBufferSize(n int) Option {
	return func(o *options) error {
		if n < 16 {
			return fmt.Errorf("idx: WithBufferSize(%d): size must be at least 16", n)
		}
		o.bufSize = n
		return nil
	}
}

// errClosed is returned by reads after Close.
var errClosed = errors.New("idx: read from closed Reader")

// Reader decodes an IDX stream item by item. It holds only fixed-size
// buffers, whatever the size of the file, and fills caller-owned slices.
//
// A Reader is not safe for concurrent use. It can be reused for another
// stream with Reset, which keeps its buffers.
type Reader struct {
	name string
	opt  options

	file *os.File      // opened by Open, closed by Close
	in   *bufio.Reader // buffered raw input
	gz   *gzip.Reader  // kept for reuse across Reset; used only for gzip input
	src  io.Reader     // decompressed stream: in, or gzipSource wrapping gz

	hdr       Header
	itemElems int
	itemBytes int
	dataStart int64 // offset of the first data byte (header size)
	// avail is how many bytes the input holds from where the header starts,
	// when that is known (an uncompressed regular file), else -1.
	avail int64

	item    int   // index of the next item to read
	off     int64 // offset of the next byte in the decompressed stream
	scratch []byte
	err     error // sticky: an *Error, io.EOF, or errClosed
}

// NewReader returns a Reader for the IDX stream r, raw or gzip-compressed
// (recognised by the gzip magic bytes 1f 8b). It reads and validates the
// header before returning. name identifies the stream in errors, usually
// the file name. Closing the Reader does not close r.
//
// Malformed headers are reported as *Error.
func NewReader(r io.Reader, name string, opts ...Option) (*Reader, error) {
	o := options{maxBytes: DefaultMaxBytes, bufSize: DefaultBufferSize}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	rd := &Reader{opt: o}
	if err := rd.Reset(r, name); err != nil {
		return nil, err
	}
	return rd, nil
}

// Open opens the IDX file at path, raw or gzip-compressed, and reads its
// header. Close closes the file.
func Open(path string, opts ...Option) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rd, err := NewReader(f, path, opts...)
	if err != nil {
		f.Close()
		return nil, err
	}
	rd.file = f
	return rd, nil
}

// Reset makes rd read the IDX stream r, named name in errors, keeping its
// options and buffers. A file opened by Open is closed first. Reset reads
// and validates the header like NewReader.
func (rd *Reader) Reset(r io.Reader, name string) error {
	if rd.file != nil {
		rd.file.Close()
		rd.file = nil
	}
	rd.name = name
	rd.hdr = Header{}
	rd.itemElems, rd.itemBytes, rd.dataStart = 0, 0, 0
	rd.item, rd.off, rd.err = 0, 0, nil
	if rd.in == nil {
		// Not NewReaderSize(r, …), which would adopt a caller's
		// *bufio.Reader that a later Reset must not touch.
		rd.in = bufio.NewReaderSize(nil, rd.opt.bufSize)
	}
	rd.avail = inputSize(r)
	rd.in.Reset(r)
	rd.src = rd.in
	if m, _ := rd.in.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		rd.avail = -1 // the compressed size says little about the data size
		var err error
		if rd.gz == nil {
			rd.gz, err = gzip.NewReader(rd.in)
		} else {
			err = rd.gz.Reset(rd.in)
		}
		if err != nil {
			got := describe(err)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				got = "truncated gzip stream"
			}
			return rd.fail(&Error{File: name, Offset: 0, Expected: "gzip header", Got: got, Err: err})
		}
		rd.src = gzipSource{rd.gz}
	}
	if err := rd.readHeader(); err != nil {
		rd.hdr = Header{}
		return rd.fail(err)
	}
	return nil
}

// readHeader parses and validates the magic and dimensions.
func (rd *Reader) readHeader() error {
	var magic [4]byte
	if k, err := rd.readFull(magic[:]); err != nil {
		got := fmt.Sprintf("end of data after %d bytes", k)
		if k == 0 {
			got = "empty input"
		}
		return rd.streamErr(err, "4-byte IDX magic 00 00 TT RR", got)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return &Error{File: rd.name, Offset: 0, Expected: "IDX magic 00 00 (or gzip magic 1f 8b)",
			Got: fmt.Sprintf("%02x %02x", magic[0], magic[1])}
	}
	t := Type(magic[2])
	if !t.Valid() {
		return &Error{File: rd.name, Offset: 2, Expected: "element type 08, 09, 0b, 0c, 0d or 0e",
			Got: fmt.Sprintf("0x%02x", magic[2])}
	}
	rank := int(magic[3])
	if rank == 0 {
		return &Error{File: rd.name, Offset: 3, Expected: "rank of at least 1", Got: "rank 0"}
	}
	var raw [4 * math.MaxUint8]byte
	dimBytes := raw[:4*rank]
	if k, err := rd.readFull(dimBytes); err != nil {
		return rd.streamErr(err, fmt.Sprintf("%d dimensions of 4 bytes", rank),
			fmt.Sprintf("end of data after %d of %d bytes", k, len(dimBytes)))
	}
	h := Header{Type: t, Dims: make([]int, rank)}
	for i := range h.Dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if uint64(d) > math.MaxInt { // only where int has 32 bits
			return &Error{File: rd.name, Offset: 4 + 4*int64(i),
				Expected: fmt.Sprintf("dimension %d of at most %d on this platform", i, math.MaxInt), Got: fmt.Sprint(d)}
		}
		h.Dims[i] = int(d)
	}
	itemBytes, dataBytes, se := h.shapeBytes(min(rd.opt.maxBytes, math.MaxInt))
	if se != nil {
		return &Error{File: rd.name, Offset: 4 + 4*int64(max(se.dim, 0)), Expected: se.expected, Got: se.got}
	}
	// A raw file's size is known: a header declaring more data than the file
	// holds is refused now, before a caller sizes anything by its counts.
	if rd.avail >= 0 && int64(h.Size())+dataBytes > rd.avail {
		return &Error{File: rd.name, Offset: 4, Expected: fmt.Sprintf("dimensions whose data fits the file (%d bytes after the %d-byte header)", rd.avail-int64(h.Size()), h.Size()),
			Got: fmt.Sprintf("%v, %d bytes of data", h, dataBytes)}
	}
	rd.hdr = h
	rd.itemElems = h.ItemElems()
	rd.itemBytes = int(itemBytes)
	rd.dataStart = int64(h.Size())
	return nil
}

// Header returns the header of the stream. The Dims slice is a copy.
func (rd *Reader) Header() Header {
	h := rd.hdr
	h.Dims = append([]int(nil), h.Dims...)
	return h
}

// Item returns the index of the next item to be read, which is also the
// number of items read so far.
func (rd *Reader) Item() int { return rd.item }

// Name returns the name the reader's errors use for its file.
func (rd *Reader) Name() string { return rd.name }

// Offset returns the offset of the next byte in the decompressed stream.
func (rd *Reader) Offset() int64 { return rd.off }

// ReadU8 reads up to len(dst)/ItemElems whole items of a U8 file into dst
// and returns the number of items read. After the last item it verifies the
// end of the stream and returns 0, io.EOF; a truncated or corrupt stream
// yields an *Error, together with the number of whole items read before it.
// dst must hold at least one item. Other types are rejected: use
// ReadFloat32, ReadFloat64 or ReadBytes.
func (rd *Reader) ReadU8(dst []uint8) (n int, err error) {
	if rd.err == nil && rd.hdr.Type != U8 {
		return 0, fmt.Errorf("idx: %s: ReadU8 on a %v file", rd.name, rd.hdr.Type)
	}
	return rd.ReadBytes(dst)
}

// ReadBytes reads up to len(dst)/(ItemElems*Type.Size()) whole items into
// dst in their encoded form (big-endian elements), for any element type.
// It returns the number of items read, with the same end-of-stream and
// error behaviour as ReadU8.
func (rd *Reader) ReadBytes(dst []byte) (n int, err error) {
	if rd.err != nil {
		return 0, rd.err
	}
	n, err = rd.begin(len(dst)/rd.hdr.Type.Size(), "ReadBytes")
	if n == 0 {
		return 0, err
	}
	if _, err := rd.readFull(dst[:n*rd.itemBytes]); err != nil {
		return rd.dataFail(err)
	}
	rd.item += n
	return n, nil
}

// ReadFloat32 reads up to len(dst)/ItemElems whole items into dst,
// converting every element type to float32 (values are not rescaled; i32
// and f64 values are rounded to the nearest float32). It returns the number
// of items read, with the same end-of-stream and error behaviour as ReadU8.
func (rd *Reader) ReadFloat32(dst []float32) (n int, err error) {
	var conv func([]float32, []byte)
	switch rd.hdr.Type {
	case U8:
		conv = u8ToF32
	case I8:
		conv = i8ToF32
	case I16:
		conv = i16ToF32
	case I32:
		conv = i32ToF32
	case F32:
		conv = f32ToF32
	case F64:
		conv = f64ToF32
	}
	return readConverted(rd, dst, conv)
}

// ReadFloat64 reads up to len(dst)/ItemElems whole items into dst,
// converting every element type to float64 exactly. It returns the number
// of items read, with the same end-of-stream and error behaviour as ReadU8.
func (rd *Reader) ReadFloat64(dst []float64) (n int, err error) {
	var conv func([]float64, []byte)
	switch rd.hdr.Type {
	case U8:
		conv = u8ToF64
	case I8:
		conv = i8ToF64
	case I16:
		conv = i16ToF64
	case I32:
		conv = i32ToF64
	case F32:
		conv = f32ToF64
	case F64:
		conv = f64ToF64
	}
	return readConverted(rd, dst, conv)
}

// readConverted reads whole items through the scratch buffer, converting
// each chunk of encoded elements into dst with conv.
func readConverted[T float32 | float64](rd *Reader, dst []T, conv func([]T, []byte)) (int, error) {
	n, err := rd.begin(len(dst), "Read")
	if n == 0 {
		return 0, err
	}
	size := rd.hdr.Type.Size()
	if rd.scratch == nil {
		rd.scratch = make([]byte, rd.opt.bufSize)
	}
	chunk := len(rd.scratch) / size * size
	pos := 0
	for rem := n * rd.itemBytes; rem > 0; {
		k, err := rd.readFull(rd.scratch[:min(chunk, rem)])
		conv(dst[pos:], rd.scratch[:k/size*size])
		if err != nil {
			return rd.dataFail(err)
		}
		pos += k / size
		rem -= k
	}
	rd.item += n
	return n, nil
}

// begin starts a read into a destination of dstElems elements and returns
// how many items to read. A result of 0 comes with an error: the sticky
// error, io.EOF once the end of the stream has been verified, or a usage
// error when the destination cannot hold one item.
func (rd *Reader) begin(dstElems int, method string) (int, error) {
	if rd.err != nil {
		return 0, rd.err
	}
	remaining := rd.hdr.Items() - rd.item
	if remaining == 0 {
		if err := rd.checkEnd(); err != nil {
			return 0, rd.fail(err)
		}
		rd.err = io.EOF
		return 0, io.EOF
	}
	n := dstElems / rd.itemElems
	if n == 0 {
		return 0, fmt.Errorf("idx: %s: %s: destination holds %d elements, less than one item of %d",
			rd.name, method, dstElems, rd.itemElems)
	}
	return min(n, remaining), nil
}

// checkEnd verifies that the stream ends right after the declared data.
// For gzip input this also verifies the checksum and length trailer.
func (rd *Reader) checkEnd() error {
	extra, err := io.CopyN(io.Discard, rd.src, trailingLimit+1)
	if extra > 0 {
		got := fmt.Sprintf("%d trailing bytes", extra)
		if extra > trailingLimit {
			got = fmt.Sprintf("more than %d trailing bytes", trailingLimit)
		}
		return &Error{File: rd.name, Offset: rd.off,
			Expected: fmt.Sprintf("end of data after %d items", rd.hdr.Items()), Got: got}
	}
	if err == io.EOF {
		return nil
	}
	return rd.streamErr(err, "end of data", "")
}

// readFull fills p from the decompressed stream and advances the offset.
func (rd *Reader) readFull(p []byte) (int, error) {
	k, err := io.ReadFull(rd.src, p)
	rd.off += int64(k)
	return k, err
}

// dataFail records a failure inside the data section at the current
// offset and returns the number of whole items completed by this call.
func (rd *Reader) dataFail(err error) (int, error) {
	done := int((rd.off - rd.dataStart) / int64(rd.itemBytes))
	n := done - rd.item
	rd.item = done
	pos := (rd.off - rd.dataStart) % int64(rd.itemBytes)
	return n, rd.fail(rd.streamErr(err, fmt.Sprintf("%d bytes of item %d (of %d items)", rd.itemBytes, done, rd.hdr.Items()),
		fmt.Sprintf("end of data %d bytes into the item", pos)))
}

// streamErr describes a failed read at the current offset: a gzip error,
// a premature end of data (described by eofGot), or an I/O error.
func (rd *Reader) streamErr(err error, expected, eofGot string) *Error {
	e := &Error{File: rd.name, Offset: rd.off, Expected: expected, Got: describe(err), Err: err}
	if (err == io.EOF || err == io.ErrUnexpectedEOF) && eofGot != "" {
		e.Got = eofGot
	}
	var ge gzipError
	if errors.As(err, &ge) {
		e.Expected = "valid gzip data (while reading " + expected + ")"
		e.Err = ge.err
		e.Got = describe(ge.err)
		if errors.Is(ge.err, io.ErrUnexpectedEOF) {
			e.Got = "truncated gzip stream"
		}
	}
	return e
}

// fail makes err sticky and returns it.
func (rd *Reader) fail(err error) error {
	rd.err = err
	return err
}

// describe renders an error as the "got" part of an Error.
func describe(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "end of data"
	}
	return err.Error()
}

// Close releases the Reader and closes the file opened by Open, if any. It
// does not report decoding errors again; read until io.EOF to verify the
// whole stream.
func (rd *Reader) Close() error {
	rd.err = errClosed
	if rd.gz != nil {
		rd.gz.Close()
	}
	if rd.file != nil {
		err := rd.file.Close()
		rd.file = nil
		return err
	}
	return nil
}

// gzipSource tags errors from the gzip decompressor so that they are not
// mistaken for a premature end of the IDX data.
type gzipSource struct{ z *gzip.Reader }

func (s gzipSource) Read(p []byte) (int, error) {
	n, err := s.z.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError{err}
	}
	return n, err
}

type gzipError struct{ err error }

func (e gzipError) Error() string { return "gzip: " + e.err.Error() }
func (e gzipError) Unwrap() error { return e.err }

// StatSeeker is an input whose size is known: an *os.File, or a wrapper
// that reports its file's size and current offset.
type StatSeeker interface {
	Stat() (os.FileInfo, error)
	Seek(offset int64, whence int) (int64, error)
}

// inputSize returns how many bytes remain in r when r is a regular file
// (its size less the current offset), else -1.
func inputSize(r io.Reader) int64 {
	f, ok := r.(StatSeeker)
	if !ok {
		return -1
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	return max(fi.Size()-pos, 0)
}

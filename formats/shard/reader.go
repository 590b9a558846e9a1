package shard

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reader reads one shard file. It is not safe for concurrent use.
type Reader struct {
	path string
	src  io.Closer // closed by Close; nil for a shard in memory
	fr   *ipc.FileReader
	meta Meta
	mem  memory.Allocator
}

// Open opens a shard and validates its schema. Options: WithAllocator.
func Open(path string, opts ...Option) (*Reader, error) {
	o, err := readOptions(opts)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shard: %w", err)
	}
	r, err := newReader(f, fi.Size(), path, o.mem)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.src = f
	return r, nil
}

// ipcBytes opens a shard held in memory; name stands for its path in errors.
// The fuzz tests use it.
func ipcBytes(data []byte, name string, mem memory.Allocator) (*Reader, error) {
	return newReader(bytes.NewReader(data), int64(len(data)), name, mem)
}

// ipcSource is what the IPC reader reads from.
type ipcSource = ipc.ReadAtSeeker

// newReader checks and opens the IPC file of size bytes in src.
func newReader(src ipcSource, size int64, path string, mem memory.Allocator) (*Reader, error) {
	// arrow-go trusts the footer's vector lengths and allocates them before
	// reading anything; checkIPC checks every table it will read first.
	if err := checkIPC(src, size); err != nil {
		return nil, fmt.Errorf("shard %s: not a readable Arrow IPC file: %w", path, err)
	}
	// Arrow trusts the lengths a file declares; a damaged length would ask
	// for terabytes and kill the process. The bound turns that into a
	// recoverable panic, reported as a malformed file.
	mem = &boundedAllocator{Allocator: mem, max: maxBuffer}
	fr, err := openIPC(src, mem)
	if err != nil {
		return nil, fmt.Errorf("shard %s: not a readable Arrow IPC file: %w", path, err)
	}
	meta, err := MetaFromSchema(fr.Schema())
	if err != nil {
		fr.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Reader{path: path, fr: fr, meta: meta, mem: mem}, nil
}

// openIPC opens an IPC file, turning a panic inside the decoder on malformed
// input into an error.
func openIPC(src ipcSource, mem memory.Allocator) (fr *ipc.FileReader, err error) {
	defer func() {
		if p := recover(); p != nil {
			fr, err = nil, fmt.Errorf("malformed file: %v", p)
		}
	}()
	return ipc.NewFileReader(src, ipc.WithAllocator(mem))
}

// Meta returns the shard's metadata.
func (r *Reader) Meta() Meta { return r.meta }

// Schema returns the shard's Arrow schema.
func (r *Reader) Schema() *arrow.Schema { return r.fr.Schema() }

// NumBatches is the number of record batches in the shard.
func (r *Reader) NumBatches() int { return r.fr.NumRecords() }

// Batch returns record batch i; the caller owns it and must Release it.
func (r *Reader) Batch(i int) (rec arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			rec, err = nil, fmt.Errorf("shard %s: batch %d: malformed: %v", r.path, i, p)
		}
	}()
	rec, err = r.fr.RecordBatchAt(i)
	if err != nil {
		return nil, fmt.Errorf("shard %s: batch %d: %w", r.path, i, err)
	}
	if err := validate(rec, r.meta); err != nil {
		rec.Release()
		return nil, fmt.Errorf("shard %s: batch %d: %w", r.path, i, err)
	}
	return rec, nil
}

// ReadRows appends the rows of batch i to dst as Go slices (copying).
func (r *Reader) ReadRows(i int, dst *Rows) error { return readRows(r.Batch, i, dst) }

// ReadAll reads every row of the shard.
func (r *Reader) ReadAll() (Rows, error) { return readAll(r.NumBatches(), r.ReadRows) }

// Close releases the reader and closes the file.
func (r *Reader) Close() error {
	r.fr.Close()
	if r.src == nil {
		return nil
	}
	return r.src.Close()
}

func validate(rec arrow.RecordBatch, m Meta) error {
	want := 4
	if m.SourcePaths {
		want = 5
	}
	if int(rec.NumCols()) != want {
		return fmt.Errorf("%d columns, want %d", rec.NumCols(), want)
	}
	n := int(rec.NumRows())
	for i := 0; i < want; i++ {
		c := rec.Column(i)
		if c.Len() != n {
			return fmt.Errorf("column %s has %d rows, batch has %d", rec.ColumnName(i), c.Len(), n)
		}
		if c.NullN() != 0 {
			return fmt.Errorf("column %s has %d nulls", rec.ColumnName(i), c.NullN())
		}
	}
	img := rec.Column(3).(*array.FixedSizeList)
	if got, want := img.ListValues().Len(), (img.Offset()+n)*m.Elems(); got < want {
		return fmt.Errorf("image column has %d values, want %d", got, want)
	}
	for _, l := range rec.Column(1).(*array.Uint8).Uint8Values() {
		if int(l) >= len(m.Classes) {
			return fmt.Errorf("label %d outside the %d classes", l, len(m.Classes))
		}
	}
	if m.SourcePaths {
		paths := rec.Column(4).(*array.String)
		for i := 0; i < n; i++ {
			if !utf8.ValidString(paths.Value(i)) {
				return fmt.Errorf("row %d: source_path is not valid UTF-8", i)
			}
		}
	}
	return nil
}

// AppendRows appends the rows of a validated shard record batch to dst.
func AppendRows(dst *Rows, rec arrow.RecordBatch) {
	dst.SourceIndex = append(dst.SourceIndex, rec.Column(0).(*array.Uint64).Uint64Values()...)
	dst.Label = append(dst.Label, rec.Column(1).(*array.Uint8).Uint8Values()...)
	dst.Copy = append(dst.Copy, rec.Column(2).(*array.Uint16).Uint16Values()...)
	img := rec.Column(3).(*array.FixedSizeList)
	elems := int(img.DataType().(*arrow.FixedSizeListType).Len())
	lo, hi := img.Offset()*elems, (img.Offset()+img.Len())*elems
	switch v := img.ListValues().(type) {
	case *array.Float32:
		dst.ImageF32 = append(dst.ImageF32, v.Float32Values()[lo:hi]...)
	case *array.Uint8:
		dst.ImageU8 = append(dst.ImageU8, v.Uint8Values()[lo:hi]...)
	}
	if rec.NumCols() > 4 {
		paths := rec.Column(4).(*array.String)
		if dst.SourcePath == nil {
			dst.SourcePath = make([]string, 0, paths.Len())
		}
		for i := 0; i < paths.Len(); i++ {
			dst.SourcePath = append(dst.SourcePath, strings.Clone(paths.Value(i)))
		}
	}
}

// maxBuffer bounds a single Arrow buffer of a shard (1 GiB: a record batch of
// 1024 rows of 65536 float32 pixels each needs 256 MiB). Tests lower it.
var maxBuffer = 1 << 30

// boundedAllocator refuses (by panicking, which the reader recovers into an
// error) any single allocation above max.
type boundedAllocator struct {
	memory.Allocator
	max int
}

func (b *boundedAllocator) Allocate(n int) []byte {
	if n < 0 || n > b.max {
		panic(fmt.Sprintf("a buffer of %d bytes (the file declares an impossible length)", n))
	}
	return b.Allocator.Allocate(n)
}

func (b *boundedAllocator) Reallocate(n int, old []byte) []byte {
	if n < 0 || n > b.max {
		panic(fmt.Sprintf("a buffer of %d bytes (the file declares an impossible length)", n))
	}
	return b.Allocator.Reallocate(n, old)
}

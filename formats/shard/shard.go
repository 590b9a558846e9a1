// Package shard writes and reads dataset shards: ordinary Arrow IPC files
// (the "file" format, with footer) whose record-batch bodies are compressed
// with zstd.
//
// A shard has the columns
//
//	source_index uint64                          position of the row's image in the source files
//	label        uint8
//	copy         uint16                          0 = the original, k = k-th augmented variant
//	image        fixed_size_list<float32|uint8, H·W·C>
//	source_path  utf8                            only for image tree and list sources: the file, relative to the split's root, '/'-separated
//
// and its schema metadata carries what a reader needs to use the pixels
// (height, width, channels, mean, std, normalization mode, class names,
// dataset name and version). Fixed-size lists rather than binary keep the
// pixels typed for every Arrow reader, including ones that cannot hand binary
// columns to their users.
//
// Besides the file bytes, a writer reports a SHA-256 of the uncompressed
// column data (DataSHA256). Two shards with equal data hashes hold the same
// rows even when a different compressor produced different file bytes.
package shard

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Version is the shard writer's output version; it enters the dataset hash
// and is bumped whenever the same rows would be written as different bytes.
const Version = "shard/1"

// ZstdLibrary names the zstd implementation (and its version) that arrow-go
// compresses IPC bodies with. zstd promises identical output only for the
// same library version and level, so both enter the dataset hash. A test
// checks it against go.mod.
const ZstdLibrary = "github.com/klauspost/compress@v1.20.4"

// ArrowLibrary names the Arrow implementation that lays out the IPC bytes.
const ArrowLibrary = "github.com/apache/arrow-go/v18@v18.9.0"

// ZstdLevel is the level arrow-go's IPC writer uses (klauspost's SpeedDefault,
// comparable to zstd level 3); arrow-go offers no knob for it.
const ZstdLevel = "SpeedDefault"

// Column names.
const (
	ColSourceIndex = "source_index"
	ColLabel       = "label"
	ColCopy        = "copy"
	ColImage       = "image"
	ColSourcePath  = "source_path"
)

// Meta is what the schema metadata of a shard says.
type Meta struct {
	Dataset  string
	Version  string
	Split    vocab.Split
	Height   int
	Width    int
	Channels int
	// Normalize is the mode; with vocab.NormalizeNone the image column is
	// uint8 and Mean/Std are the train statistics a reader should apply
	// itself, one value per channel. In the schema metadata they are the
	// manifest.Values text form: a number's text for one channel, a JSON
	// array otherwise.
	Normalize vocab.NormalizeMode
	Mean      manifest.Values
	Std       manifest.Values
	Classes   []string
	// SourcePaths says the shard has the source_path column (image tree and
	// list sources; IDX shards do not).
	SourcePaths bool
}

// Float reports whether the image column holds normalized float32 pixels.
func (m Meta) Float() bool { return m.Normalize.Float() }

// Elems is the number of pixel values per image.
func (m Meta) Elems() int { return m.Height * m.Width * m.Channels }

// Schema returns the Arrow schema of shards described by m.
func Schema(m Meta) *arrow.Schema {
	var pix arrow.DataType = arrow.PrimitiveTypes.Uint8
	if m.Float() {
		pix = arrow.PrimitiveTypes.Float32
	}
	classes, _ := json.Marshal(m.Classes)
	md := arrow.NewMetadata(
		[]string{"dataset", "version", "split", "height", "width", "channels", "normalize", "mean", "std", "classes", "shard_format"},
		[]string{m.Dataset, m.Version, string(m.Split), strconv.Itoa(m.Height), strconv.Itoa(m.Width), strconv.Itoa(m.Channels),
			string(m.Normalize), m.Mean.Text(), m.Std.Text(), string(classes), Version},
	)
	fields := []arrow.Field{
		{Name: ColSourceIndex, Type: arrow.PrimitiveTypes.Uint64},
		{Name: ColLabel, Type: arrow.PrimitiveTypes.Uint8},
		{Name: ColCopy, Type: arrow.PrimitiveTypes.Uint16},
		{Name: ColImage, Type: arrow.FixedSizeListOf(int32(m.Elems()), pix)},
	}
	if m.SourcePaths {
		fields = append(fields, arrow.Field{Name: ColSourcePath, Type: arrow.BinaryTypes.String})
	}
	return arrow.NewSchema(fields, &md)
}

// MetaFromSchema parses the metadata of a shard schema and checks that the
// columns are the ones a shard has.
func MetaFromSchema(s *arrow.Schema) (Meta, error) {
	md := s.Metadata()
	get := func(k string) (string, error) {
		i := md.FindKey(k)
		if i < 0 {
			return "", fmt.Errorf("schema metadata has no %q", k)
		}
		return md.Values()[i], nil
	}
	var m Meta
	var err error
	str := func(k string, dst *string) {
		if err == nil {
			*dst, err = get(k)
		}
	}
	num := func(k string, dst *int) {
		var v string
		str(k, &v)
		if err == nil {
			*dst, err = strconv.Atoi(v)
			if err == nil && (*dst < 1 || *dst > 1<<16) {
				err = fmt.Errorf("metadata %s=%d out of range", k, *dst)
			}
		}
	}
	flt := func(k string, dst *manifest.Values) {
		var v string
		str(k, &v)
		if err == nil {
			if *dst, err = manifest.ParseValues(v); err != nil {
				err = fmt.Errorf("metadata %s: %v", k, err)
			}
		}
	}
	var classes, format, split, normalize string
	str("shard_format", &format)
	if err == nil && format != Version {
		err = fmt.Errorf("shard_format %q, this reader reads %q", format, Version)
	}
	str("dataset", &m.Dataset)
	str("version", &m.Version)
	str("split", &split)
	m.Split = vocab.Split(split)
	num("height", &m.Height)
	num("width", &m.Width)
	num("channels", &m.Channels)
	str("normalize", &normalize)
	m.Normalize = vocab.NormalizeMode(normalize)
	flt("mean", &m.Mean)
	flt("std", &m.Std)
	str("classes", &classes)
	if err == nil {
		err = json.Unmarshal([]byte(classes), &m.Classes)
	}
	if err == nil {
		err = checkMeta(m)
	}
	m.SourcePaths = s.NumFields() == 5 && s.Field(4).Name == ColSourcePath
	if err != nil {
		return Meta{}, fmt.Errorf("shard schema: %w", err)
	}
	if want := Schema(m); !want.Equal(s) {
		return Meta{}, fmt.Errorf("shard schema: columns are %v, want %v", s.Fields(), want.Fields())
	}
	return m, nil
}

// Rows is a run of shard rows held in plain Go slices. Exactly one of
// ImageF32 and ImageU8 is set, with len = rows × Meta.Elems().
type Rows struct {
	SourceIndex []uint64
	Label       []uint8
	Copy        []uint16
	ImageF32    []float32
	ImageU8     []uint8
	// SourcePath is set exactly when Meta.SourcePaths is.
	SourcePath []string
}

// Len is the number of rows.
func (r *Rows) Len() int { return len(r.Label) }

// Reset empties r, keeping its capacity.
func (r *Rows) Reset() {
	r.SourceIndex, r.Label, r.Copy = r.SourceIndex[:0], r.Label[:0], r.Copy[:0]
	r.ImageF32, r.ImageU8 = r.ImageF32[:0], r.ImageU8[:0]
	if r.SourcePath != nil {
		r.SourcePath = r.SourcePath[:0]
	}
}

// Slice returns rows [i, j) sharing r's memory; elems is pixels per image.
func (r *Rows) Slice(i, j, elems int) Rows {
	s := Rows{SourceIndex: r.SourceIndex[i:j], Label: r.Label[i:j], Copy: r.Copy[i:j]}
	if r.SourcePath != nil {
		s.SourcePath = r.SourcePath[i:j]
	}
	if r.ImageF32 != nil {
		s.ImageF32 = r.ImageF32[i*elems : j*elems]
	} else {
		s.ImageU8 = r.ImageU8[i*elems : j*elems]
	}
	return s
}

// Result describes a written shard.
type Result struct {
	Rows int
	// DataSHA256 is the hash of the uncompressed column data (see DataHasher).
	DataSHA256 string
}

// Write writes rows as one shard in Arrow IPC file format to w.
func Write(w io.Writer, meta Meta, rows Rows, opts ...Option) (Result, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Result{}, err
	}
	if err := checkWritable(meta, &rows); err != nil {
		return Result{}, err
	}
	schema := Schema(meta)
	ipcOpts := []ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(o.mem)}
	switch o.compression {
	case vocab.CompressionZstd:
		ipcOpts = append(ipcOpts, ipc.WithZstd())
	case vocab.CompressionLZ4:
		ipcOpts = append(ipcOpts, ipc.WithLZ4())
	}
	fw, err := ipc.NewFileWriter(w, ipcOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("shard: %w", err)
	}
	res, err := writeBatches(fw, schema, meta, rows, o.batchRows)
	if err != nil {
		return Result{}, fmt.Errorf("shard: %w", err)
	}
	return res, nil
}

// checkMeta checks what a shard's metadata must be for a reader to get it
// back unchanged: image sizes in range, and strings of valid UTF-8 (Parquet
// key/value metadata is UTF-8, and arrow-go's Parquet writer silently drops
// an entry that is not; the class names are JSON, which would replace such
// bytes with U+FFFD).
func checkMeta(m Meta) error {
	for _, d := range []struct {
		name string
		v    int
	}{{"height", m.Height}, {"width", m.Width}, {"channels", m.Channels}} {
		if d.v < 1 || d.v > 1<<16 {
			return fmt.Errorf("metadata %s=%d out of range", d.name, d.v)
		}
	}
	if len(m.Mean) != m.Channels || len(m.Std) != m.Channels {
		return fmt.Errorf("metadata mean/std have %d/%d values for %d channels", len(m.Mean), len(m.Std), m.Channels)
	}
	strs := []struct{ name, v string }{{"dataset", m.Dataset}, {"version", m.Version}, {"split", string(m.Split)}, {"normalize", string(m.Normalize)}}
	for i, c := range m.Classes {
		strs = append(strs, struct{ name, v string }{fmt.Sprintf("class %d", i), c})
	}
	for _, s := range strs {
		if !utf8.ValidString(s.v) {
			return fmt.Errorf("metadata %s %q is not valid UTF-8", s.name, s.v)
		}
	}
	return nil
}

func checkRows(meta Meta, r *Rows) error {
	if err := checkMeta(meta); err != nil {
		return fmt.Errorf("shard: %w", err)
	}
	n := r.Len()
	if len(r.SourceIndex) != n || len(r.Copy) != n {
		return fmt.Errorf("shard: column lengths differ: source_index %d, label %d, copy %d", len(r.SourceIndex), n, len(r.Copy))
	}
	if meta.SourcePaths != (r.SourcePath != nil) || (r.SourcePath != nil && len(r.SourcePath) != n) {
		return fmt.Errorf("shard: source_path column has %d values (present: %v), want %d (present: %v)", len(r.SourcePath), r.SourcePath != nil, n, meta.SourcePaths)
	}
	for i, p := range r.SourcePath {
		if !utf8.ValidString(p) {
			return fmt.Errorf("shard: row %d: source_path %q is not valid UTF-8", i, p)
		}
	}
	want := n * meta.Elems()
	if meta.Float() {
		if len(r.ImageF32) != want || r.ImageU8 != nil {
			return fmt.Errorf("shard: float32 image column has %d values, want %d", len(r.ImageF32), want)
		}
	} else if len(r.ImageU8) != want || r.ImageF32 != nil {
		return fmt.Errorf("shard: uint8 image column has %d values, want %d", len(r.ImageU8), want)
	}
	return nil
}

// checkWritable is checkRows plus what only writers refuse: NaN pixels. A
// shard holds numbers, and Parquet's dictionary encoding keeps one NaN
// payload for all NaNs of a column chunk, so the two formats would read
// back different bits. (Readers accept NaN pixels a file holds.)
func checkWritable(meta Meta, r *Rows) error {
	if err := checkRows(meta, r); err != nil {
		return err
	}
	for i, v := range r.ImageF32 {
		if v != v {
			return fmt.Errorf("shard: row %d pixel %d is NaN: a shard holds numbers (and Parquet's dictionary encoding keeps one NaN payload for all)", i/meta.Elems(), i%meta.Elems())
		}
	}
	return nil
}

// Record wraps rows as an Arrow record batch without copying: the record
// points into the slices, which must outlive it.
func Record(schema *arrow.Schema, r Rows) arrow.RecordBatch {
	n := r.Len()
	imgType := schema.Field(3).Type.(*arrow.FixedSizeListType)
	var pixBuf []byte
	if r.ImageF32 != nil {
		pixBuf = bytesOf(r.ImageF32)
	} else {
		pixBuf = r.ImageU8
	}
	elems := int(imgType.Len())
	child := array.NewData(imgType.Elem(), n*elems, []*memory.Buffer{nil, memory.NewBufferBytes(pixBuf)}, nil, 0, 0)
	defer child.Release()
	imgData := array.NewData(imgType, n, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
	defer imgData.Release()
	cols := []arrow.Array{
		primitive(arrow.PrimitiveTypes.Uint64, n, bytesOf(r.SourceIndex)),
		primitive(arrow.PrimitiveTypes.Uint8, n, r.Label),
		primitive(arrow.PrimitiveTypes.Uint16, n, bytesOf(r.Copy)),
		array.NewFixedSizeListData(imgData),
	}
	if r.SourcePath != nil {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		b.AppendValues(r.SourcePath, nil)
		cols = append(cols, b.NewArray())
		b.Release()
	}
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

func primitive(t arrow.DataType, n int, b []byte) arrow.Array {
	d := array.NewData(t, n, []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// bytesOf views a slice of fixed-size numbers as its little-endian bytes
// (every platform Arrow's Go IPC writer supports natively is little-endian).
func bytesOf[T uint16 | uint64 | float32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// DataHasher hashes uncompressed shard rows column by column, so the result
// depends only on the values, not on batch boundaries or compression. Rows
// may be added in several runs; the hash equals that of one run with all rows.
type DataHasher struct {
	cols [5]hash.Hash
	// paths: rows with a source_path column were added.
	paths bool
}

// NewDataHasher returns an empty hasher.
func NewDataHasher() *DataHasher {
	var h DataHasher
	for i := range h.cols {
		h.cols[i] = sha256.New()
	}
	return &h
}

// Add hashes a run of rows.
func (h *DataHasher) Add(r Rows) {
	h.cols[0].Write(bytesOf(r.SourceIndex))
	h.cols[1].Write(r.Label)
	h.cols[2].Write(bytesOf(r.Copy))
	if r.ImageF32 != nil {
		h.cols[3].Write(bytesOf(r.ImageF32))
	} else {
		h.cols[3].Write(r.ImageU8)
	}
	if r.SourcePath != nil {
		h.paths = true
		var l [8]byte
		for _, p := range r.SourcePath {
			binary.LittleEndian.PutUint64(l[:], uint64(len(p)))
			h.cols[4].Write(l[:])
			h.cols[4].Write([]byte(p))
		}
	}
}

// Sum returns the hex SHA-256 over the column names and their hashes.
func (h *DataHasher) Sum() string {
	top := sha256.New()
	names := []string{ColSourceIndex, ColLabel, ColCopy, ColImage}
	if h.paths { // shards without the column keep their hash
		names = append(names, ColSourcePath)
	}
	for i, name := range names {
		var l [8]byte
		binary.LittleEndian.PutUint64(l[:], uint64(len(name)))
		top.Write(l[:])
		top.Write([]byte(name))
		top.Write(h.cols[i].Sum(nil))
	}
	return hex.EncodeToString(top.Sum(nil))
}

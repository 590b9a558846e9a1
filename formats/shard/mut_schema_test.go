package shard

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ipcFile writes an Arrow IPC file of the schema and records with arrow-go's
// own writer (zstd-compressed when zstd is set).
func ipcFile(t *testing.T, schema *arrow.Schema, zstd bool, recs ...arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	opts := []ipc.Option{ipc.WithSchema(schema)}
	if zstd {
		opts = append(opts, ipc.WithZstd())
	}
	w, err := ipc.NewFileWriter(&buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// nestedField is a chain of n fields, each a struct holding the next, the
// last a uint8.
func nestedField(n int) arrow.Field {
	f := arrow.Field{Name: "leaf", Type: arrow.PrimitiveTypes.Uint8}
	for i := 1; i < n; i++ {
		f = arrow.Field{Name: "s" + strconv.Itoa(i), Type: arrow.StructOf(f)}
	}
	return f
}

// Fields nest up to 32 levels below the top (33 fields in a chain); one more
// is refused, at any position in the schema.
func TestIPCNestingLimit(t *testing.T) {
	for _, lead := range []int{0, 2} {
		var fields []arrow.Field
		for i := range lead {
			fields = append(fields, arrow.Field{Name: "x" + strconv.Itoa(i), Type: arrow.PrimitiveTypes.Int64})
		}
		ok := ipcFile(t, arrow.NewSchema(append(fields, nestedField(maxNesting+1)), nil), false)
		if err := checkBytes(ok); err != nil {
			t.Errorf("%d levels below the top refused: %v", maxNesting, err)
		}
		deep := ipcFile(t, arrow.NewSchema(append(fields, nestedField(maxNesting+2)), nil), false)
		want := fmt.Sprintf("fields nested more than %d deep", maxNesting)
		if err := checkBytes(deep); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%d levels: %v, want %q", maxNesting+1, err, want)
		}
	}
}

// A schema holds at most 256 fields, children included.
func TestIPCFieldCountLimit(t *testing.T) {
	schemaOf := func(total int) *arrow.Schema {
		// One int64, then a struct with the rest of the fields as children.
		var kids []arrow.Field
		for i := 0; i < total-2; i++ {
			kids = append(kids, arrow.Field{Name: "k" + strconv.Itoa(i), Type: arrow.PrimitiveTypes.Uint8})
		}
		return arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.StructOf(kids...)}}, nil)
	}
	if err := checkBytes(ipcFile(t, schemaOf(maxFields), false)); err != nil {
		t.Errorf("%d fields refused: %v", maxFields, err)
	}
	want := fmt.Sprintf("more than %d fields in the schema", maxFields)
	if err := checkBytes(ipcFile(t, schemaOf(maxFields+1), false)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%d fields: %v, want %q", maxFields+1, err, want)
	}
}

// The uncompressed-length bound of a batch is what its widest row takes in
// one buffer, whichever column that is: here the first of three, a
// fixed-size list of 16 float32 (16 × 8 bytes a row, the bound counting 8
// bytes a number).
func TestUncompressedBoundOfTheFirstColumn(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "img", Type: arrow.FixedSizeListOf(16, arrow.PrimitiveTypes.Float32)},
		{Name: "a", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "b", Type: arrow.PrimitiveTypes.Uint8},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	const rows = 5
	img := b.Field(0).(*array.FixedSizeListBuilder)
	for i := range rows {
		img.Append(true)
		for j := range 16 {
			img.ValueBuilder().(*array.Float32Builder).Append(float32(i*16 + j))
		}
		b.Field(1).(*array.Uint8Builder).Append(uint8(i))
		b.Field(2).(*array.Uint8Builder).Append(uint8(2 * i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	data := ipcFile(t, schema, true, rec)
	l := layoutOf(t, data)
	_, body := l.batch(0)
	// Buffers: the list's validity, the child's validity and values, then
	// validity and values of a and of b.
	_, off, length := l.buffer(0, 2)
	if length < 8 {
		t.Fatalf("pixel buffer of %d bytes", length)
	}
	limit := int64(rows+1)*16*8 + 64
	checkPrefixBound(t, data, body+int(off), uint64(limit), "holds at most "+strconv.FormatInt(limit, 10))
}

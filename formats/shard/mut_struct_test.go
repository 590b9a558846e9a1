package shard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A struct's row takes in one buffer what its widest child's row takes: a
// struct of one int64 bounds a compressed buffer of 5 rows at
// (5 + 1) × 8 + 64 = 112 bytes, like a plain int64 column.
func TestUncompressedBoundOfAStruct(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64})}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	const rows = 5
	s := b.Field(0).(*array.StructBuilder)
	for i := range rows {
		s.Append(true)
		s.FieldBuilder(0).(*array.Int64Builder).Append(int64(i) << 40)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	data := ipcFile(t, schema, true, rec)
	l := layoutOf(t, data)
	_, body := l.batch(0)
	// Buffers: the struct's validity, the child's validity and values.
	_, off, length := l.buffer(0, 2)
	if length < 8 {
		t.Fatalf("value buffer of %d bytes", length)
	}
	const limit = (rows+1)*8 + 64
	checkPrefixBound(t, data, body+int(off), limit, "a batch of 5 rows holds at most "+strconv.Itoa(limit))
}

// A struct holding a string has no bound per row: strings far longer than
// any fixed-width bound pass, compressed or not.
func TestStructOfLongStringsUnbounded(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "p", Type: arrow.BinaryTypes.String})},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	s := b.Field(1).(*array.StructBuilder)
	for i := range 4 {
		b.Field(0).(*array.Uint8Builder).Append(uint8(i))
		s.Append(true)
		s.FieldBuilder(0).(*array.StringBuilder).Append(strings.Repeat(strconv.Itoa(i), 1000))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	for _, zstd := range []bool{false, true} {
		if err := checkBytes(ipcFile(t, schema, zstd, rec)); err != nil {
			t.Errorf("zstd=%v: %v", zstd, err)
		}
	}
}

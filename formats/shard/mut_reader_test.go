package shard

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// readBytes opens an IPC shard held in memory and reads all its rows.
func readBytes(t *testing.T, data []byte) (Rows, error) {
	t.Helper()
	r, err := ipcBytes(data, "s.arrow", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.ReadAll()
}

// Labels run from 0 to the class count less one: a label equal to the
// count is refused when read.
func TestLabelEqualToTheClassCountRefused(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(7, 7)), 5, meta)
	rows.Label[3] = uint8(len(meta.Classes) - 1)
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := readBytes(t, buf.Bytes()); err != nil {
		t.Fatalf("label %d refused: %v", len(meta.Classes)-1, err)
	}
	rows.Label[3] = uint8(len(meta.Classes))
	buf.Reset()
	if _, err := Write(&buf, meta, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := readBytes(t, buf.Bytes()); err == nil || !strings.HasSuffix(err.Error(), "batch 0: label 3 outside the 3 classes") {
		t.Fatalf("label 3: %v", err)
	}
}

// A source path that is not UTF-8 in the file is refused when read,
// whichever row it is in.
func TestSourcePathNotUTF8Refused(t *testing.T) {
	meta := testMeta(false)
	meta.SourcePaths = true
	rows := randomRows(rand.New(rand.NewPCG(7, 8)), 3, meta)
	rows.SourcePath = []string{"a/0.png", "a/1.png", "a/MARK.png"}
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, rows, WithCompression("none")); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	i := bytes.Index(data, []byte("MARK"))
	if i < 0 {
		t.Fatal("the path is not in the file")
	}
	data[i] = 0xff
	if _, err := readBytes(t, data); err == nil || !strings.HasSuffix(err.Error(), "batch 0: row 2: source_path is not valid UTF-8") {
		t.Fatalf("%v", err)
	}
}

// AppendRows of a record sliced from a larger one appends the slice's rows.
func TestAppendRowsOfASlicedRecord(t *testing.T) {
	for _, float := range []bool{true, false} {
		meta := testMeta(float)
		rows := randomRows(rand.New(rand.NewPCG(7, 9)), 6, meta)
		rec := Record(Schema(meta), rows)
		part := rec.NewSlice(2, 5)
		var got Rows
		AppendRows(&got, part)
		part.Release()
		rec.Release()
		if want := rows.Slice(2, 5, meta.Elems()); !equalRows(got, want) {
			t.Errorf("float=%v: rows differ from rows 2 to 5", float)
		}
	}
}

// The reader's allocator allows a buffer of up to its bound and empty ones,
// and refuses one byte more.
func TestBoundedAllocatorLimit(t *testing.T) {
	b := &boundedAllocator{Allocator: memory.NewGoAllocator(), max: 64}
	refused := func(f func()) (p any) {
		defer func() { p = recover() }()
		f()
		return nil
	}
	if p := refused(func() { b.Free(b.Allocate(64)); b.Free(b.Reallocate(64, b.Allocate(0))) }); p != nil {
		t.Errorf("0 and 64 bytes: %v", p)
	}
	if p := refused(func() { b.Allocate(65) }); p == nil || !strings.Contains(p.(string), "a buffer of 65 bytes") {
		t.Errorf("Allocate(65): %v", p)
	}
	if p := refused(func() { b.Reallocate(65, b.Allocate(8)) }); p == nil || !strings.Contains(p.(string), "a buffer of 65 bytes") {
		t.Errorf("Reallocate(65): %v", p)
	}
	if p := refused(func() { b.Reallocate(0, b.Allocate(8)) }); p != nil {
		t.Errorf("Reallocate(0): %v", p)
	}
}

// A dimension that is not a number is reported with the parse error.
func TestMetaDimensionNotANumber(t *testing.T) {
	s := Schema(testMeta(true))
	md := s.Metadata()
	keys, vals := md.Keys(), md.Values()
	for i, k := range keys {
		if k == "width" {
			vals[i] = "two"
		}
	}
	nm := arrow.NewMetadata(keys, vals)
	_, err := MetaFromSchema(arrow.NewSchema(s.Fields(), &nm))
	if err == nil || !strings.Contains(err.Error(), `parsing "two"`) {
		t.Fatalf("%v", err)
	}
}

package shard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// typeOf returns the Type table of field i of the schema.
func (l *shardLayout) typeOf(i int) fbTable {
	return l.must(l.field(i).table(fieldType, "type"))
}

// A scalar of a type table that lies outside its table is refused: here
// is_signed (the second field) of a signed Int type, moved past the table's
// end.
func TestIPCTypeScalarOutsideItsTable(t *testing.T) {
	data := ipcFile(t, arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, nil), false)
	l := layoutOf(t, data)
	typ := l.typeOf(0)
	if _, ok, err := typ.field(1, 1); !ok || err != nil {
		t.Fatalf("the Int type has no is_signed: %v", err)
	}
	if err := checkBytes(data); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(data[l.footerStart+typ.vt+6:], uint16(typ.objLen))
	want := fmt.Sprintf("field 1 at %d+1 lies outside the %d-byte table", typ.objLen, typ.objLen)
	if err := checkBytes(data); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%v, want %q", err, want)
	}
}

// Strings have no bound per row: a shard whose source paths take many more
// bytes than its images is read back, uncompressed or not.
func TestLongSourcePathsReadBack(t *testing.T) {
	meta := testMeta(false)
	meta.SourcePaths = true
	rows := randomRows(rand.New(rand.NewPCG(8, 1)), 9, meta)
	for i := range rows.Len() {
		rows.SourcePath = append(rows.SourcePath, fmt.Sprintf("%s/%03d.png", strings.Repeat("deep/", 60), i))
	}
	for _, comp := range vocab.Compressions {
		var buf bytes.Buffer
		if _, err := Write(&buf, meta, rows, WithCompression(comp), WithBatchRows(4)); err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r, err := ipcBytes(buf.Bytes(), "s.arrow", mem)
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		back, err := r.ReadAll()
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		mem.AssertSize(t, 0)
		if !slices.Equal(back.SourcePath, rows.SourcePath) || !equalRows(back, rows) {
			t.Fatalf("%s: rows differ after the round trip", comp)
		}
	}
}

// A fixed-size list of width 0 is valid Arrow (the shard reader then
// refuses the schema, whose image has H·W·C values); a negative width is not.
func TestIPCFixedWidthZero(t *testing.T) {
	for _, w := range []uint32{0, 0xffffffff} {
		data := seedShard(t, true, "none")
		l := layoutOf(t, data)
		typ := l.typeOf(3) // the image: fixed_size_list<float32, 6>
		p, ok, err := typ.field(0, 4)
		if !ok || err != nil {
			t.Fatalf("no list size: %v", err)
		}
		put32(data, l.footerStart+p, w)
		err = checkBytes(data)
		if w == 0 && err != nil {
			t.Errorf("width 0 refused: %v", err)
		}
		if w != 0 && (err == nil || !strings.Contains(err.Error(), "negative width -1")) {
			t.Errorf("width -1: %v", err)
		}
	}
}

// The length prefix of a message's metadata fits the block: the writer's
// own (the block less the 8-byte prefix) is read, one byte more is refused,
// as are 3 bytes (shorter than a flatbuffer's root offset).
func TestIPCMessagePrefixBounds(t *testing.T) {
	seed := seedShard(t, true, "zstd")
	b, _ := layoutOf(t, seed).block(1)
	at := int(b.offset) + 4
	if got := int64(binary.LittleEndian.Uint32(seed[at:])); got != int64(b.meta)-8 {
		t.Fatalf("the writer's prefix is %d for a %d-byte block", got, b.meta)
	}
	for _, n := range []uint32{uint32(b.meta) - 8 + 1, uint32(b.meta), 3, 0} {
		data := slices.Clone(seed)
		put32(data, at, n)
		want := fmt.Sprintf("recordBatches[1]: message at offset %d: metadata length prefix %d, the block holds %d", b.offset, n, b.meta-8)
		if err := checkBytes(data); err == nil || err.Error() != want {
			t.Errorf("prefix %d: %v, want %q", n, err, want)
		}
	}
	// 4 bytes: a root offset and no table, which the flatbuffer check reports.
	data := slices.Clone(seed)
	put32(data, at, 4)
	if err := checkBytes(data); err == nil || strings.Contains(err.Error(), "length prefix") || !strings.Contains(err.Error(), "message at offset") {
		t.Errorf("prefix 4: %v", err)
	}
}

// Errors inside a message name file offsets: a record batch whose header
// type is changed to a dictionary batch's is reported at its root table.
func TestIPCMessageErrorsNameFileOffsets(t *testing.T) {
	data := seedShard(t, true, "zstd")
	l := layoutOf(t, data)
	b, _ := l.block(2)
	start := int(b.offset) + 8
	n := int(binary.LittleEndian.Uint32(data[start-4:]))
	fb := &fbuf{b: data[start : start+n], base: int64(start), what: "message"}
	msg, err := fb.root()
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := msg.field(messageHeaderType, 1)
	if !ok || err != nil || data[start+p] != headerRecordBatch {
		t.Fatalf("no record-batch header type: %v", err)
	}
	data[start+p] = headerDictionaryBatch
	want := fmt.Sprintf("recordBatches[2]: message at offset %d: header type 2, want 3", start+msg.pos)
	if err := checkBytes(data); err == nil || err.Error() != want {
		t.Fatalf("%v, want %q", err, want)
	}
	p2 := filepath.Join(t.TempDir(), "s.arrow")
	if err := os.WriteFile(p2, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p2); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("Open: %v, want it to end with %q", err, want)
	}
}

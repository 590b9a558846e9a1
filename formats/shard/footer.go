package shard

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	flatbuffers "github.com/google/flatbuffers/go"
)

// An Arrow IPC file is "ARROW1", two bytes of padding, the schema and
// record-batch messages, a flatbuffer footer, the footer's length (int32) and
// "ARROW1" again. The footer lists the schema and, for every record batch, a
// Block: where its message starts, the length of its metadata and of its body.
//
// arrow-go trusts what the footer says: it makes slices as long as the
// vectors the flatbuffer declares before reading a single element, so one
// damaged length asks for terabytes and kills the process with an
// out-of-memory error that recover cannot catch. checkIPC therefore walks
// every flatbuffer table arrow-go will read — footer, schema, fields and
// their types, the metadata message of every block — and checks each offset,
// each vector length × element size and each block against the bytes it must
// lie in, before the file reaches arrow-go. It also bounds what arrow-go
// would allocate for a compressed buffer by what the schema allows for the
// batch's row count. The tables and slots are those of Arrow's File.fbs,
// Schema.fbs and Message.fbs.

const (
	ipcMagic = "ARROW1"
	// ipcTrailer is the footer length (int32) and the closing magic.
	ipcTrailer = 4 + 6
	// ipcLeader is the opening magic padded to 8 bytes.
	ipcLeader = 8

	maxFooterBytes  = 64 << 20 // a footer holds a schema and 24 bytes per batch
	maxMessageBytes = 1 << 20  // a record batch's metadata: a few hundred bytes
	maxFields       = 256      // fields in a schema, children included
	maxNesting      = 32       // depth of nested fields
	maxKeyValues    = 1024     // entries of one custom_metadata list
	maxTables       = 1 << 16  // tables visited in one flatbuffer
	maxNodes        = 64       // field nodes of one record batch (a shard has 5)
	maxBuffers      = 192      // buffers of one record batch (a shard has 8)
	maxFeatures     = 64       // Schema.features entries
	maxUnionTypes   = 128      // Union.typeIds entries
)

// Slots of the tables read here, from Arrow's .fbs files.
const (
	footerSchema, footerDictionaries, footerRecordBatches, footerCustomMetadata = 1, 2, 3, 4
	schemaEndianness, schemaFields, schemaCustomMetadata, schemaFeatures        = 0, 1, 2, 3

	fieldName, fieldNullable, fieldTypeType, fieldType, fieldDictionary, fieldChildren, fieldCustomMetadata = 0, 1, 2, 3, 4, 5, 6

	messageVersion, messageHeaderType, messageHeader, messageBodyLength, messageCustomMetadata = 0, 1, 2, 3, 4

	batchLength, batchNodes, batchBuffers, batchCompression, batchVariadicCounts = 0, 1, 2, 3, 4

	blockSize  = 24 // Block: offset long, metaDataLength int, padding, bodyLength long
	nodeSize   = 16 // FieldNode: length long, null_count long
	bufferSize = 16 // Buffer: offset long, length long

	headerDictionaryBatch, headerRecordBatch = 2, 3
)

// Arrow's Type union (Schema.fbs).
const (
	typeNull = 1 + iota
	typeInt
	typeFloatingPoint
	typeBinary
	typeUtf8
	typeBool
	typeDecimal
	typeDate
	typeTime
	typeTimestamp
	typeInterval
	typeList
	typeStruct
	typeUnion
	typeFixedSizeBinary
	typeFixedSizeList
	typeMap
	typeDuration
	typeLargeBinary
	typeLargeUtf8
	typeLargeList
	typeRunEndEncoded
	typeBinaryView
	typeUtf8View
	typeListView
	typeLargeListView
)

// unbounded marks a field whose buffers' sizes do not follow from the row
// count (strings, lists, unions).
const unbounded = -1

// ipcBlock is one entry of the footer's dictionaries or recordBatches.
type ipcBlock struct {
	offset int64
	meta   int32
	body   int64
}

// checkIPC validates the framing, the footer and the metadata of every block
// of the Arrow IPC file r of size bytes. Errors name the file offset.
func checkIPC(r io.ReaderAt, size int64) error {
	if size < ipcLeader+ipcTrailer {
		return fmt.Errorf("%d bytes: too short for an Arrow IPC file", size)
	}
	head := make([]byte, len(ipcMagic))
	if _, err := r.ReadAt(head, 0); err != nil {
		return fmt.Errorf("reading offset 0: %w", err)
	}
	if string(head) != ipcMagic {
		return fmt.Errorf("offset 0: magic %q, want %q", head, ipcMagic)
	}
	tail := make([]byte, ipcTrailer)
	if _, err := r.ReadAt(tail, size-ipcTrailer); err != nil {
		return fmt.Errorf("reading offset %d: %w", size-ipcTrailer, err)
	}
	if string(tail[4:]) != ipcMagic {
		return fmt.Errorf("offset %d: closing magic %q, want %q (the file is truncated or was not finished)", size-int64(len(ipcMagic)), tail[4:], ipcMagic)
	}
	footerLen := int64(int32(binary.LittleEndian.Uint32(tail)))
	room := size - ipcLeader - ipcTrailer
	if footerLen <= 0 || footerLen > room || footerLen > maxFooterBytes {
		return fmt.Errorf("offset %d: footer length %d, want 1 to %d", size-ipcTrailer, footerLen, min(room, maxFooterBytes))
	}
	footerStart := size - ipcTrailer - footerLen
	buf := make([]byte, footerLen)
	if _, err := r.ReadAt(buf, footerStart); err != nil {
		return fmt.Errorf("reading the footer at offset %d: %w", footerStart, err)
	}
	fb := &fbuf{b: buf, base: footerStart, what: "footer"}
	footer, err := fb.root()
	if err != nil {
		return err
	}
	if _, _, err := footer.field(0, 2); err != nil { // version
		return err
	}
	schema, ok, err := footer.table(footerSchema, "schema")
	if err != nil {
		return err
	}
	if !ok {
		return fb.errf(footer.pos, "the footer has no schema")
	}
	rowBytes, err := checkSchema(schema)
	if err != nil {
		return err
	}
	if err := footer.keyValues(footerCustomMetadata, "custom_metadata"); err != nil {
		return err
	}
	c := &msgChecker{r: r, dataEnd: footerStart, rowBytes: rowBytes}
	for _, v := range []struct {
		slot   int
		name   string
		header byte
	}{{footerDictionaries, "dictionaries", headerDictionaryBatch}, {footerRecordBatches, "recordBatches", headerRecordBatch}} {
		blocks, err := footer.blocks(v.slot, v.name)
		if err != nil {
			return err
		}
		for i, b := range blocks {
			if err := c.check(b, v.header); err != nil {
				return fmt.Errorf("%s[%d]: %w", v.name, i, err)
			}
		}
	}
	return nil
}

// checkSchema walks a Schema table and returns the most bytes one row can
// take in any single buffer of a record batch (unbounded if that does not
// follow from the row count).
func checkSchema(s fbTable) (rowBytes int64, err error) {
	if _, _, err := s.field(schemaEndianness, 2); err != nil {
		return 0, err
	}
	nfields := 0
	rowBytes = 1
	err = s.tables(schemaFields, "fields", maxFields, func(f fbTable) error {
		rb, err := checkField(f, 0, &nfields)
		if rb == unbounded || rowBytes == unbounded {
			rowBytes = unbounded
		} else {
			rowBytes = max(rowBytes, rb)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := s.keyValues(schemaCustomMetadata, "custom_metadata"); err != nil {
		return 0, err
	}
	if _, _, err := s.vector(schemaFeatures, 8, maxFeatures, "features"); err != nil {
		return 0, err
	}
	return rowBytes, nil
}

// checkField walks a Field table, its type and its children, and returns the
// most bytes a row takes in one of its buffers (or unbounded).
func checkField(f fbTable, depth int, count *int) (int64, error) {
	if depth > maxNesting {
		return 0, f.fb.errf(f.pos, "%s: fields nested more than %d deep", f.name, maxNesting)
	}
	if *count++; *count > maxFields {
		return 0, f.fb.errf(f.pos, "%s: more than %d fields in the schema", f.name, maxFields)
	}
	if err := f.str(fieldName, "name"); err != nil {
		return 0, err
	}
	if _, _, err := f.field(fieldNullable, 1); err != nil {
		return 0, err
	}
	tt, err := f.byteField(fieldTypeType)
	if err != nil {
		return 0, err
	}
	typ, ok, err := f.table(fieldType, "type")
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, f.fb.errf(f.pos, "%s: no type", f.name)
	}
	own, err := checkType(tt, typ)
	if err != nil {
		return 0, err
	}
	dict, ok, err := f.table(fieldDictionary, "dictionary")
	if err != nil {
		return 0, err
	}
	if ok {
		// DictionaryEncoding{id: long, indexType: Int, isOrdered: bool, dictionaryKind: short}
		for _, s := range []struct{ slot, size int }{{0, 8}, {2, 1}, {3, 2}} {
			if _, _, err := dict.field(s.slot, s.size); err != nil {
				return 0, err
			}
		}
		idx, ok, err := dict.table(1, "indexType")
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, f.fb.errf(dict.pos, "%s: dictionary encoding without an index type", f.name)
		}
		if _, err := checkType(typeInt, idx); err != nil {
			return 0, err
		}
		own = unbounded // the values live in a dictionary batch of any length
	}
	var kids []int64
	err = f.tables(fieldChildren, "children", maxFields, func(c fbTable) error {
		rb, err := checkField(c, depth+1, count)
		kids = append(kids, rb)
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := f.keyValues(fieldCustomMetadata, "custom_metadata"); err != nil {
		return 0, err
	}
	switch {
	case own == unbounded:
		return unbounded, nil
	case tt == typeFixedSizeList:
		// own is the list size; each row holds that many child rows.
		if len(kids) != 1 || kids[0] == unbounded {
			return unbounded, nil
		}
		return satMul(max(own, 1), kids[0]), nil
	case tt == typeStruct:
		for _, k := range kids {
			if k == unbounded {
				return unbounded, nil
			}
			own = max(own, k)
		}
	}
	return own, nil
}

// checkType checks the table of a Type union member. It returns the most
// bytes one value takes in a buffer, the list size for a FixedSizeList, or
// unbounded.
func checkType(tt byte, t fbTable) (int64, error) {
	scalars := func(sizes ...int) error {
		for slot, size := range sizes {
			if _, _, err := t.field(slot, size); err != nil {
				return err
			}
		}
		return nil
	}
	switch tt {
	case typeNull, typeBool, typeBinary, typeUtf8, typeLargeBinary, typeLargeUtf8,
		typeList, typeLargeList, typeStruct, typeRunEndEncoded, typeBinaryView, typeUtf8View,
		typeListView, typeLargeListView, typeMap:
		if err := scalars(1); err != nil { // Map.keysSorted; the others have no fields
			return 0, err
		}
		switch tt {
		case typeNull, typeBool:
			return 8, nil
		case typeStruct:
			return 1, nil
		}
		return unbounded, nil
	case typeInt:
		return 8, scalars(4, 1)
	case typeFloatingPoint, typeDate, typeDuration:
		return 8, scalars(2)
	case typeInterval:
		return 16, scalars(2)
	case typeDecimal:
		return 32, scalars(4, 4, 4)
	case typeTime:
		return 8, scalars(2, 4)
	case typeTimestamp:
		if err := scalars(2); err != nil {
			return 0, err
		}
		return 8, t.str(1, "timezone")
	case typeUnion:
		if err := scalars(2); err != nil {
			return 0, err
		}
		_, _, err := t.vector(1, 4, maxUnionTypes, "typeIds")
		return unbounded, err
	case typeFixedSizeBinary, typeFixedSizeList:
		p, ok, err := t.field(0, 4)
		if err != nil || !ok {
			return 0, err
		}
		n := int64(int32(flatbuffers.GetInt32(t.fb.b[p:])))
		if n < 0 {
			return 0, t.fb.errf(p, "%s: negative width %d", t.name, n)
		}
		return n, nil
	}
	return 0, t.fb.errf(t.pos, "%s: unknown type %d", t.name, tt)
}

// msgChecker checks the message of each block.
type msgChecker struct {
	r        io.ReaderAt
	dataEnd  int64 // where the footer starts: every block ends before it
	rowBytes int64 // from the schema, or unbounded
}

func (c *msgChecker) check(b ipcBlock, header byte) error {
	end := c.dataEnd
	switch {
	case b.offset < ipcLeader || b.offset%8 != 0:
		return fmt.Errorf("message offset %d: want a multiple of 8 from %d", b.offset, ipcLeader)
	case b.meta < 8 || b.meta > maxMessageBytes:
		return fmt.Errorf("message at offset %d: metadata length %d, want 8 to %d", b.offset, b.meta, maxMessageBytes)
	case b.body < 0:
		return fmt.Errorf("message at offset %d: body length %d", b.offset, b.body)
	case b.offset > end || int64(b.meta) > end-b.offset || b.body > end-b.offset-int64(b.meta):
		return fmt.Errorf("message at offset %d with %d + %d bytes runs past the data, which ends at offset %d", b.offset, b.meta, b.body, end)
	}
	meta := make([]byte, b.meta)
	if _, err := c.r.ReadAt(meta, b.offset); err != nil {
		return fmt.Errorf("reading the message at offset %d: %w", b.offset, err)
	}
	prefix := 4
	if binary.LittleEndian.Uint32(meta) == 0xFFFFFFFF { // continuation marker
		prefix = 8
	}
	n := int64(binary.LittleEndian.Uint32(meta[prefix-4:]))
	if n < 4 || n > int64(b.meta)-int64(prefix) {
		return fmt.Errorf("message at offset %d: metadata length prefix %d, the block holds %d", b.offset, n, int64(b.meta)-int64(prefix))
	}
	fb := &fbuf{b: meta[prefix : int64(prefix)+n], base: b.offset + int64(prefix), what: "message"}
	msg, err := fb.root()
	if err != nil {
		return err
	}
	if _, _, err := msg.field(messageVersion, 2); err != nil {
		return err
	}
	ht, err := msg.byteField(messageHeaderType)
	if err != nil {
		return err
	}
	if ht != header {
		return fb.errf(msg.pos, "header type %d, want %d", ht, header)
	}
	p, ok, err := msg.field(messageBodyLength, 8)
	if err != nil {
		return err
	}
	var bodyLen int64
	if ok {
		bodyLen = flatbuffers.GetInt64(fb.b[p:])
	}
	if bodyLen != b.body {
		return fb.errf(msg.pos, "body length %d, the footer says %d", bodyLen, b.body)
	}
	if err := msg.keyValues(messageCustomMetadata, "custom_metadata"); err != nil {
		return err
	}
	hdr, ok, err := msg.table(messageHeader, "header")
	if err != nil {
		return err
	}
	if !ok {
		return fb.errf(msg.pos, "no header")
	}
	rowBytes := c.rowBytes
	if header == headerDictionaryBatch {
		// DictionaryBatch{id: long, data: RecordBatch, isDelta: bool}
		for _, s := range []struct{ slot, size int }{{0, 8}, {2, 1}} {
			if _, _, err := hdr.field(s.slot, s.size); err != nil {
				return err
			}
		}
		if hdr, ok, err = hdr.table(1, "data"); err != nil {
			return err
		} else if !ok {
			return fb.errf(msg.pos, "dictionary batch without data")
		}
		rowBytes = unbounded
	}
	return c.checkBatch(hdr, b.offset+int64(b.meta), b.body, rowBytes)
}

// checkBatch checks a RecordBatch table whose body of bodyLen bytes starts at
// file offset body.
func (c *msgChecker) checkBatch(rb fbTable, body, bodyLen, rowBytes int64) error {
	fb := rb.fb
	var rows int64
	if p, ok, err := rb.field(batchLength, 8); err != nil {
		return err
	} else if ok {
		rows = flatbuffers.GetInt64(fb.b[p:])
	}
	if rows < 0 {
		return fb.errf(rb.pos, "record batch of %d rows", rows)
	}
	start, n, err := rb.vector(batchNodes, nodeSize, maxNodes, "nodes")
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		p := start + i*nodeSize
		length, nulls := flatbuffers.GetInt64(fb.b[p:]), flatbuffers.GetInt64(fb.b[p+8:])
		if length < 0 || nulls < 0 || nulls > length {
			return fb.errf(p, "node %d: length %d with %d nulls", i, length, nulls)
		}
	}
	compressed := false
	if comp, ok, err := rb.table(batchCompression, "compression"); err != nil {
		return err
	} else if ok {
		// BodyCompression{codec: byte (LZ4_FRAME, ZSTD), method: byte (BUFFER)}
		codec, err := comp.byteField(0)
		if err != nil {
			return err
		}
		method, err := comp.byteField(1)
		if err != nil {
			return err
		}
		if codec > 1 || method != 0 {
			return fb.errf(comp.pos, "unknown compression codec %d, method %d", codec, method)
		}
		compressed = true
	}
	if _, _, err := rb.vector(batchVariadicCounts, 8, maxBuffers, "variadicBufferCounts"); err != nil {
		return err
	}
	// The most bytes one buffer of the batch can hold uncompressed; 64 covers
	// the padding of validity bitmaps and offsets.
	limit := int64(math.MaxInt64)
	if rowBytes != unbounded {
		limit = satAdd(satMul(satAdd(rows, 1), rowBytes), 64)
	}
	start, n, err = rb.vector(batchBuffers, bufferSize, maxBuffers, "buffers")
	if err != nil {
		return err
	}
	var prefix [8]byte
	for i := 0; i < n; i++ {
		p := start + i*bufferSize
		off, length := flatbuffers.GetInt64(fb.b[p:]), flatbuffers.GetInt64(fb.b[p+8:])
		if off < 0 || length < 0 || off > bodyLen || length > bodyLen-off {
			return fb.errf(p, "buffer %d at %d with %d bytes lies outside the %d-byte body", i, off, length, bodyLen)
		}
		if !compressed || length == 0 {
			if length > limit {
				return fb.errf(p, "buffer %d of %d bytes; a batch of %d rows holds at most %d", i, length, rows, limit)
			}
			continue
		}
		if length < 8 {
			return fb.errf(p, "compressed buffer %d of %d bytes has no length prefix", i, length)
		}
		if _, err := c.r.ReadAt(prefix[:], body+off); err != nil {
			return fmt.Errorf("reading offset %d: %w", body+off, err)
		}
		raw := int64(binary.LittleEndian.Uint64(prefix[:]))
		if raw < -1 || raw > limit {
			return fmt.Errorf("offset %d: compressed buffer %d declares %d bytes uncompressed; a batch of %d rows holds at most %d", body+off, i, raw, rows, limit)
		}
	}
	return nil
}

// fbuf is a flatbuffer being checked. base is the file offset of b[0], so
// that errors name offsets in the file.
type fbuf struct {
	b      []byte
	base   int64
	what   string
	tables int
}

func (f *fbuf) errf(pos int, format string, args ...any) error {
	return fmt.Errorf("%s at offset %d: %s", f.what, f.base+int64(pos), fmt.Sprintf(format, args...))
}

// fits reports whether n bytes at pos lie inside the buffer.
func (f *fbuf) fits(pos, n int) bool {
	return pos >= 0 && n >= 0 && pos <= len(f.b) && n <= len(f.b)-pos
}

// root checks the root table.
func (f *fbuf) root() (fbTable, error) {
	if !f.fits(0, flatbuffers.SizeUOffsetT) {
		return fbTable{}, f.errf(0, "%d bytes: too short for a flatbuffer", len(f.b))
	}
	return f.tableAt(int(flatbuffers.GetUOffsetT(f.b)), f.what)
}

// fbTable is a checked table: its vtable and object lie inside the buffer.
type fbTable struct {
	fb            *fbuf
	pos, vt       int
	vtLen, objLen int
	name          string // path for errors, e.g. fields[2].children[0]
}

// tableAt checks the table at pos.
func (f *fbuf) tableAt(pos int, name string) (fbTable, error) {
	if f.tables++; f.tables > maxTables {
		return fbTable{}, f.errf(pos, "%s: more than %d tables", name, maxTables)
	}
	if !f.fits(pos, flatbuffers.SizeSOffsetT) {
		return fbTable{}, f.errf(pos, "%s: table outside the %d-byte buffer", name, len(f.b))
	}
	vt := pos - int(flatbuffers.GetSOffsetT(f.b[pos:]))
	if !f.fits(vt, 2*flatbuffers.SizeVOffsetT) {
		return fbTable{}, f.errf(pos, "%s: vtable at %d outside the %d-byte buffer", name, vt, len(f.b))
	}
	vtLen := int(flatbuffers.GetVOffsetT(f.b[vt:]))
	objLen := int(flatbuffers.GetVOffsetT(f.b[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || !f.fits(vt, vtLen) {
		return fbTable{}, f.errf(vt, "%s: vtable of %d bytes", name, vtLen)
	}
	if objLen < flatbuffers.SizeSOffsetT || !f.fits(pos, objLen) {
		return fbTable{}, f.errf(pos, "%s: table of %d bytes runs past the %d-byte buffer", name, objLen, len(f.b))
	}
	return fbTable{fb: f, pos: pos, vt: vt, vtLen: vtLen, objLen: objLen, name: name}, nil
}

// field returns the buffer position of a size-byte field in slot, and
// whether it is present.
func (t fbTable) field(slot, size int) (int, bool, error) {
	vo := 4 + 2*slot
	if vo >= t.vtLen {
		return 0, false, nil
	}
	off := int(flatbuffers.GetVOffsetT(t.fb.b[t.vt+vo:]))
	if off == 0 {
		return 0, false, nil
	}
	if off < flatbuffers.SizeSOffsetT || off+size > t.objLen {
		return 0, false, t.fb.errf(t.pos, "%s: field %d at %d+%d lies outside the %d-byte table", t.name, slot, off, size, t.objLen)
	}
	return t.pos + off, true, nil
}

func (t fbTable) byteField(slot int) (byte, error) {
	p, ok, err := t.field(slot, 1)
	if err != nil || !ok {
		return 0, err
	}
	return t.fb.b[p], nil
}

// target follows the offset field in slot.
func (t fbTable) target(slot int, name string) (int, bool, error) {
	p, ok, err := t.field(slot, flatbuffers.SizeUOffsetT)
	if err != nil || !ok {
		return 0, ok, err
	}
	u := int(flatbuffers.GetUOffsetT(t.fb.b[p:]))
	if u == 0 || !t.fb.fits(p+u, flatbuffers.SizeUOffsetT) {
		return 0, false, t.fb.errf(p, "%s.%s: offset %d points outside the %d-byte buffer", t.name, name, u, len(t.fb.b))
	}
	return p + u, true, nil
}

// table follows the table field in slot.
func (t fbTable) table(slot int, name string) (fbTable, bool, error) {
	p, ok, err := t.target(slot, name)
	if err != nil || !ok {
		return fbTable{}, false, err
	}
	sub, err := t.fb.tableAt(p, t.name+"."+name)
	return sub, err == nil, err
}

// vector checks the vector in slot: at most maxLen elements of elemSize
// bytes, all inside the buffer. It returns the position of the first element
// and the length.
func (t fbTable) vector(slot, elemSize, maxLen int, name string) (start, n int, err error) {
	p, ok, err := t.target(slot, name)
	if err != nil || !ok {
		return 0, 0, err
	}
	n64 := int64(flatbuffers.GetUOffsetT(t.fb.b[p:]))
	start = p + flatbuffers.SizeUOffsetT
	if n64 > int64(maxLen) {
		return 0, 0, t.fb.errf(p, "%s.%s: %d entries, at most %d", t.name, name, n64, maxLen)
	}
	if !t.fb.fits(start, int(n64)*elemSize) {
		return 0, 0, t.fb.errf(p, "%s.%s: %d entries of %d bytes run past the %d-byte buffer", t.name, name, n64, elemSize, len(t.fb.b))
	}
	return start, int(n64), nil
}

// str checks the string in slot.
func (t fbTable) str(slot int, name string) error {
	p, ok, err := t.target(slot, name)
	if err != nil || !ok {
		return err
	}
	n := int64(flatbuffers.GetUOffsetT(t.fb.b[p:]))
	if n > int64(len(t.fb.b)-p-flatbuffers.SizeUOffsetT) {
		return t.fb.errf(p, "%s.%s: string of %d bytes runs past the %d-byte buffer", t.name, name, n, len(t.fb.b))
	}
	return nil
}

// tables checks the vector of tables in slot and calls fn with each.
func (t fbTable) tables(slot int, name string, maxLen int, fn func(fbTable) error) error {
	start, n, err := t.vector(slot, flatbuffers.SizeUOffsetT, maxLen, name)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		p := start + i*flatbuffers.SizeUOffsetT
		u := int(flatbuffers.GetUOffsetT(t.fb.b[p:]))
		elem, err := t.fb.tableAt(p+u, fmt.Sprintf("%s.%s[%d]", t.name, name, i))
		if err != nil {
			return err
		}
		if err := fn(elem); err != nil {
			return err
		}
	}
	return nil
}

// keyValues checks a [KeyValue{key: string, value: string}] in slot.
func (t fbTable) keyValues(slot int, name string) error {
	return t.tables(slot, name, maxKeyValues, func(kv fbTable) error {
		if err := kv.str(0, "key"); err != nil {
			return err
		}
		return kv.str(1, "value")
	})
}

// blocks checks and decodes a [Block] in slot.
func (t fbTable) blocks(slot int, name string) ([]ipcBlock, error) {
	start, n, err := t.vector(slot, blockSize, len(t.fb.b)/blockSize, name)
	if err != nil {
		return nil, err
	}
	out := make([]ipcBlock, n)
	for i := range out {
		p := t.fb.b[start+i*blockSize:]
		out[i] = ipcBlock{offset: flatbuffers.GetInt64(p), meta: flatbuffers.GetInt32(p[8:]), body: flatbuffers.GetInt64(p[16:])}
	}
	return out, nil
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// checkFile runs checkIPC on an open file.
func checkFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkIPC(f, fi.Size())
}

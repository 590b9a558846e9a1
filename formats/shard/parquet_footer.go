package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A Parquet file ends with its footer, a Thrift struct (FileMetaData) in the
// compact protocol, the footer's length (4 bytes, little-endian) and "PAR1".
// The footer's schema is a list of SchemaElements, a tree in depth-first
// order in which every group element says how many children follow it.
//
// arrow-go (parquet/schema.FromParquet) makes a slice with the capacity an
// element's num_children declares before it checks that so many elements
// follow, so one damaged count asks for gigabytes and kills the process with
// an out-of-memory error that recover cannot catch. checkParquetFooter
// therefore walks the footer's Thrift encoding before arrow-go decodes it
// and checks every declared child count against the elements that follow.

// Thrift compact protocol types.
const (
	tcStop      = 0
	tcTrue      = 1
	tcFalse     = 2
	tcByte      = 3
	tcI16       = 4
	tcI32       = 5
	tcI64       = 6
	tcDouble    = 7
	tcBinary    = 8
	tcList      = 9
	tcSet       = 10
	tcMap       = 11
	tcStruct    = 12
	tcUUID      = 13
	tcMaxDepth  = 64 // as the Thrift library's default recursion limit
	parquetTail = 8  // footer length and "PAR1"
)

// Field ids of the footer structs read here (parquet.thrift).
const (
	fmdSchema         = 2 // FileMetaData.schema: list<SchemaElement>
	schemaNumChildren = 5 // SchemaElement.num_children: i32
)

// checkParquetFooter checks the child counts of the schema in the footer of
// the Parquet file r of size bytes. Errors name the footer offset.
func checkParquetFooter(r io.ReaderAt, size int64) error {
	if size < 4+parquetTail {
		return fmt.Errorf("%d bytes, too short for a Parquet file", size)
	}
	var tail [parquetTail]byte
	if _, err := r.ReadAt(tail[:], size-parquetTail); err != nil {
		return err
	}
	if string(tail[4:]) != "PAR1" {
		return errors.New(`no "PAR1" at the end`)
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-4-parquetTail {
		return fmt.Errorf("footer of %d bytes in a file of %d", n, size)
	}
	footer := make([]byte, n)
	if _, err := r.ReadAt(footer, size-parquetTail-n); err != nil {
		return err
	}
	t := &thriftReader{b: footer}
	counts, err := t.schemaChildCounts()
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	for i, c := range counts {
		if c < 0 || c > int64(len(counts)-1-i) {
			return fmt.Errorf("footer: schema element %d declares %d children, but only %d elements follow it", i, c, len(counts)-1-i)
		}
	}
	return nil
}

// thriftReader walks a compact-protocol Thrift encoding.
type thriftReader struct {
	b   []byte
	pos int
}

func (t *thriftReader) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", t.pos, fmt.Sprintf(format, args...))
}

func (t *thriftReader) byte1() (byte, error) {
	if t.pos >= len(t.b) {
		return 0, t.errf("unexpected end")
	}
	c := t.b[t.pos]
	t.pos++
	return c, nil
}

func (t *thriftReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(t.b[t.pos:])
	if n <= 0 {
		return 0, t.errf("bad varint")
	}
	t.pos += n
	return v, nil
}

// skipBytes skips n bytes.
func (t *thriftReader) skipBytes(n uint64) error {
	if n > uint64(len(t.b)-t.pos) {
		return t.errf("%d bytes declared, %d left", n, len(t.b)-t.pos)
	}
	t.pos += int(n)
	return nil
}

// fieldHeader reads a struct field header; typ is tcStop at the end.
func (t *thriftReader) fieldHeader(last int16) (id int16, typ byte, err error) {
	c, err := t.byte1()
	if err != nil || c&0x0f == tcStop {
		return 0, tcStop, err
	}
	typ = c & 0x0f
	if delta := c >> 4; delta != 0 {
		return last + int16(delta), typ, nil
	}
	v, err := t.uvarint()
	return int16(int64(v>>1) ^ -int64(v&1)), typ, err
}

// listHeader reads a list or set header.
func (t *thriftReader) listHeader() (n uint64, elem byte, err error) {
	c, err := t.byte1()
	if err != nil {
		return 0, 0, err
	}
	n, elem = uint64(c>>4), c&0x0f
	if n == 15 {
		if n, err = t.uvarint(); err != nil {
			return 0, 0, err
		}
	}
	if n > uint64(len(t.b)-t.pos) { // every element takes a byte or more
		return 0, 0, t.errf("list of %d elements in %d bytes", n, len(t.b)-t.pos)
	}
	return n, elem, nil
}

// i32 reads a zigzag varint.
func (t *thriftReader) i32() (int64, error) {
	v, err := t.uvarint()
	return int64(v>>1) ^ -int64(v&1), err
}

// skip skips one value of type typ (inList: a bool is then one byte).
func (t *thriftReader) skip(typ byte, inList bool, depth int) error {
	if depth > tcMaxDepth {
		return t.errf("nested deeper than %d", tcMaxDepth)
	}
	switch typ {
	case tcTrue, tcFalse:
		if inList {
			_, err := t.byte1()
			return err
		}
		return nil
	case tcByte:
		_, err := t.byte1()
		return err
	case tcI16, tcI32, tcI64:
		_, err := t.uvarint()
		return err
	case tcDouble:
		return t.skipBytes(8)
	case tcUUID:
		return t.skipBytes(16)
	case tcBinary:
		n, err := t.uvarint()
		if err != nil {
			return err
		}
		return t.skipBytes(n)
	case tcList, tcSet:
		n, elem, err := t.listHeader()
		for i := uint64(0); err == nil && i < n; i++ {
			err = t.skip(elem, true, depth+1)
		}
		return err
	case tcMap:
		n, err := t.uvarint()
		if err != nil || n == 0 {
			return err
		}
		if n > uint64(len(t.b)-t.pos) {
			return t.errf("map of %d entries in %d bytes", n, len(t.b)-t.pos)
		}
		kv, err := t.byte1()
		for i := uint64(0); err == nil && i < n; i++ {
			if err = t.skip(kv>>4, true, depth+1); err == nil {
				err = t.skip(kv&0x0f, true, depth+1)
			}
		}
		return err
	case tcStruct:
		var last int16
		for {
			id, ft, err := t.fieldHeader(last)
			if err != nil || ft == tcStop {
				return err
			}
			if err := t.skip(ft, false, depth+1); err != nil {
				return err
			}
			last = id
		}
	}
	return t.errf("unknown type %d", typ)
}

// schemaChildCounts reads the FileMetaData struct and returns the
// num_children of every element of its schema (0 where absent).
func (t *thriftReader) schemaChildCounts() ([]int64, error) {
	var counts []int64
	var last int16
	for {
		id, typ, err := t.fieldHeader(last)
		if err != nil {
			return nil, err
		}
		if typ == tcStop {
			return counts, nil
		}
		last = id
		if id != fmdSchema || typ != tcList {
			if err := t.skip(typ, false, 1); err != nil {
				return nil, err
			}
			continue
		}
		n, elem, err := t.listHeader()
		if err != nil {
			return nil, err
		}
		if elem != tcStruct {
			return nil, t.errf("schema is a list of type %d, not of structs", elem)
		}
		for i := uint64(0); i < n; i++ {
			c, err := t.schemaElement()
			if err != nil {
				return nil, fmt.Errorf("schema element %d: %w", i, err)
			}
			counts = append(counts, c)
		}
	}
}

// schemaElement reads one SchemaElement struct and returns its
// num_children.
func (t *thriftReader) schemaElement() (int64, error) {
	var children int64
	var last int16
	for {
		id, typ, err := t.fieldHeader(last)
		if err != nil || typ == tcStop {
			return children, err
		}
		last = id
		if id == schemaNumChildren && typ == tcI32 {
			if children, err = t.i32(); err != nil {
				return 0, err
			}
			continue
		}
		if err := t.skip(typ, false, 2); err != nil {
			return 0, err
		}
	}
}

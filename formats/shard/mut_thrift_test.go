package shard

import (
	"encoding/binary"
	"strings"
	"testing"
)

// parquetWithFooter is a Parquet file of the two magics around footer.
func parquetWithFooter(footer string) []byte {
	b := append([]byte("PAR1"), footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
	return append(b, "PAR1"...)
}

// The footer check reads Thrift's compact protocol as the decoder does and
// names the byte where a footer stops making sense. Footers here are
// FileMetaData structs written by hand: a field header byte is the id delta
// (high nibble) and the type (low nibble).
func TestParquetFooterThriftEdges(t *testing.T) {
	for _, c := range []struct {
		what, footer string
		want         string // "" for a footer the check accepts
	}{
		{"an i32 whose varint is cut off", "\x15\x80", "footer: at byte 1: bad varint"},
		{"a binary ending at the footer's end, no stop", "\x18\x03abc", "footer: at byte 5: unexpected end"},
		{"a binary one byte longer than the footer", "\x18\x04abc", "footer: at byte 2: 4 bytes declared, 3 left"},
		{"a list of one byte ending at the footer's end", "\x19\x13\x01", "footer: at byte 3: unexpected end"},
		{"a list of two bytes in one", "\x19\x23\x01", "footer: at byte 2: list of 2 elements in 1 bytes"},
		{"a list of 16 bytes (its size in a varint)", "\x19\xf3\x10" + strings.Repeat("\x07", 16) + "\x00", ""},
		{"a list whose size varint is cut off", "\x19\xf3\x80", "footer: at byte 2: bad varint"},
		{"an empty footer", "", "footer: at byte 0: unexpected end"},
		{"structs nested 64 deep", strings.Repeat("\x1c", 64) + strings.Repeat("\x00", 65), ""},
		{"structs nested 65 deep", strings.Repeat("\x1c", 65) + strings.Repeat("\x00", 66), "footer: at byte 65: nested deeper than 64"},
		{"lists nested 64 deep", strings.Repeat("\x19", 64) + "\x09\x00", ""},
		{"lists nested 65 deep", strings.Repeat("\x19", 65) + "\x09\x00", "footer: at byte 65: nested deeper than 64"},
		// Maps: a size, a byte of key and value types, the entries.
		{"an empty map", "\x1b\x00\x00", ""},
		{"a map of one i32 to i32", "\x1b\x01\x55\x02\x04\x00", ""},
		{"a map of two i32 to i32", "\x1b\x02\x55\x02\x04\x06\x08\x00", ""},
		{"a map of 2 entries in 2 bytes", "\x1b\x02\x55\x02", "footer: at byte 4: bad varint"},
		{"a map of 3 entries in 2 bytes", "\x1b\x03\x55\x02", "footer: at byte 2: map of 3 entries in 2 bytes"},
		{"a map whose key is cut off", "\x1b\x01\x55\x80", "footer: at byte 3: bad varint"},
		// Maps of byte to map, 64 and 65 deep: the key of the 64th is
		// skipped at depth 65.
		{"maps nested 64 deep", "\x1b" + strings.Repeat("\x01\x3b\x07", 63) + "\x00\x00", ""},
		{"maps nested 65 deep", "\x1b" + strings.Repeat("\x01\x3b\x07", 64) + "\x00\x00", "footer: at byte 192: nested deeper than 64"},
		// A long-form header gives field -1 (zigzag 1), so the next field,
		// 3 further, is 2: the schema, whose one element declares 5
		// children.
		{"the schema after a negative field id", "\x09\x01\x0c\x39\x1c\x55\x0a\x00\x00", "footer: schema element 0 declares 5 children, but only 0 elements follow it"},
		// The same with field 1 (zigzag 2) first: the next field is 4, not
		// the schema.
		{"field 4 after a long-form field 1", "\x09\x02\x0c\x39\x1c\x55\x0a\x00\x00", ""},
	} {
		err := checkParquetBytes(parquetWithFooter(c.footer))
		if c.want == "" && err != nil {
			t.Errorf("%s: %v", c.what, err)
		}
		if c.want != "" && (err == nil || err.Error() != c.want) {
			t.Errorf("%s: %v, want %q", c.what, err, c.want)
		}
	}
}

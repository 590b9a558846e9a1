package shard

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// A footer's flatbuffer may hold up to 65536 tables. This schema has 64
// fields (a field and a type table each) with custom metadata of kvs[i]
// entries (a table each), besides the footer and the schema: 65536 tables
// when the last field has 894 entries.
func TestIPCTableCountLimit(t *testing.T) {
	schemaOf := func(last int) *arrow.Schema {
		fields := make([]arrow.Field, 64)
		for i := range fields {
			n := maxKeyValues
			if i == len(fields)-1 {
				n = last
			}
			keys, vals := make([]string, n), make([]string, n)
			for k := range n {
				keys[k], vals[k] = strconv.Itoa(k), "v"
			}
			fields[i] = arrow.Field{Name: "f" + strconv.Itoa(i), Type: arrow.PrimitiveTypes.Uint8, Metadata: arrow.NewMetadata(keys, vals)}
		}
		return arrow.NewSchema(fields, nil)
	}
	if got := 2 + 64*2 + 63*maxKeyValues + 894; got != maxTables {
		t.Fatalf("%d tables", got)
	}
	if err := checkBytes(ipcFile(t, schemaOf(894), false)); err != nil {
		t.Errorf("%d tables refused: %v", maxTables, err)
	}
	want := fmt.Sprintf("more than %d tables", maxTables)
	if err := checkBytes(ipcFile(t, schemaOf(895), false)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%d tables: %v, want %q", maxTables+1, err, want)
	}
}

// A vtable must lie inside the buffer with both of its leading words: one
// that starts two bytes before the end is refused.
func TestIPCVtableAtTheBufferEnd(t *testing.T) {
	data := seedShard(t, true, "zstd")
	l := layoutOf(t, data)
	s := l.schema()
	n := len(s.fb.b)
	for _, vt := range []int{n - 2, n - 3} {
		put32(data, l.footerStart+s.pos, uint32(int32(s.pos-vt)))
		want := fmt.Sprintf("footer at offset %d: footer.schema: vtable at %d outside the %d-byte buffer", l.footerStart+s.pos, vt, n)
		if err := checkBytes(data); err == nil || err.Error() != want {
			t.Errorf("vtable at %d: %v, want %q", vt, err, want)
		}
	}
}

package shard

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	flatbuffers "github.com/google/flatbuffers/go"
)

// schemaValue returns the footer positions of the offset field of the
// schema metadata value under key, and of the string's length word.
func (l *shardLayout) schemaValue(key string) (field, str int, name string) {
	l.t.Helper()
	i := 0
	err := l.schema().tables(schemaCustomMetadata, "custom_metadata", maxKeyValues, func(kv fbTable) error {
		p, ok, err := kv.target(0, "key")
		if err != nil || !ok {
			return fmt.Errorf("a key: %v", err)
		}
		n := int(flatbuffers.GetUOffsetT(kv.fb.b[p:]))
		if string(kv.fb.b[p+4:p+4+n]) == key {
			field, _, _ = kv.field(1, 4)
			str, _, _ = kv.target(1, "value")
			name = kv.name + ".value"
		}
		i++
		return nil
	})
	if err != nil || name == "" {
		l.t.Fatalf("no schema metadata %q among %d: %v", key, i, err)
	}
	return field, str, name
}

// A string may end exactly at the end of its flatbuffer: the dataset name,
// pointed at the footer's last four bytes (a zero word: an empty string),
// is read back as "". A string one byte longer than the bytes left after
// its length word is refused, naming where that word is.
func TestIPCStringAtTheFooterEnd(t *testing.T) {
	seed := seedShard(t, true, "zstd")
	l := layoutOf(t, seed)
	fb := l.footer.fb
	field, str, name := l.schemaValue("dataset")
	if n := binary.LittleEndian.Uint32(seed[l.footerStart+str:]); n != uint32(len("tiny")) {
		t.Fatalf("the dataset name has %d bytes", n)
	}
	end := len(fb.b) - 4
	if binary.LittleEndian.Uint32(fb.b[end:]) != 0 {
		t.Fatal("the footer does not end in a zero word")
	}

	data := slices.Clone(seed)
	put32(data, l.footerStart+field, uint32(end-field))
	if err := checkBytes(data); err != nil {
		t.Fatalf("an empty string at the end refused: %v", err)
	}
	r, err := ipcBytes(data, "s.arrow", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Meta().Dataset; got != "" {
		t.Errorf("dataset %q, want the empty string", got)
	}
	r.Close()

	// The name's own string, lengthened to the footer's end and one byte past.
	left := len(fb.b) - str - 4
	for _, n := range []int{left, left + 1} {
		data := slices.Clone(seed)
		put32(data, l.footerStart+str, uint32(n))
		err := checkBytes(data)
		if n == left && err != nil {
			t.Errorf("a string ending at the footer's end refused: %v", err)
		}
		want := fmt.Sprintf("footer at offset %d: %s: string of %d bytes runs past the %d-byte buffer", l.footerStart+str, name, n, len(fb.b))
		if n > left && (err == nil || err.Error() != want) {
			t.Errorf("a string one byte past the end: %v, want %q", err, want)
		}
	}
}

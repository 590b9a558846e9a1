package checkpoint

import (
	"slices"
	"strings"
	"testing"
)

// The reader's bounds, at their edges, on the accepting side: a header that
// ends exactly at the end of the file, padding after the JSON object (the
// format pads headers with spaces), an empty tensor of no bytes between two
// others, and a tensor ending exactly at the end of the data.
func TestDecodeAcceptsAtTheBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    []byte
		tensors int
	}{
		{"header to the end", rawFile(`{}`, nil), 0},
		{"padded header", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}      `, make([]byte, 4)), 1},
		{"empty tensor", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},`+
			`"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}`, make([]byte, 8)), 3},
		{"metadata only", rawFile(`{"__metadata__":{"format":"pt"}}`, nil), 0},
	} {
		f, err := DecodeSafetensors(tc.file, tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(f.Tensors) != tc.tensors {
			t.Errorf("%s: %d tensors, want %d", tc.name, len(f.Tensors), tc.tensors)
		}
	}
	// Eight bytes saying the header is empty: too short for a JSON object.
	if _, err := DecodeSafetensors(make([]byte, 8), "empty"); err == nil {
		t.Error("an empty header accepted")
	}
}

// The reader's errors give the file offsets they are about, counted from
// the start of the file: the bad byte of the header, the end of its JSON
// object, the start of the data section, and the bytes a header length
// claims against those there are.
func TestDecodeErrorOffsets(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}` // 54 bytes
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"key", rawFile(`{1:2}`, nil), "header at byte 9: invalid character '1'"},
		{"trailing", rawFile(`{} x`, nil), "header has trailing data after the JSON object at byte 10"},
		{"extra-data", rawFile(ok, make([]byte, 9)), "tensors cover 8 data bytes but the data section (at offset 62) has 9"},
		{"size", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,12]}}`, make([]byte, 12)),
			`tensor "a": F32 shape [1] needs 4 bytes, data_offsets [4, 12] give 8`},
		// One byte more than the file holds.
		{"one-past", append([]byte{3, 0, 0, 0, 0, 0, 0, 0}, "{}"...), "header length 3 runs past the end of the file (2 bytes after the length)"},
	} {
		_, err := DecodeSafetensors(tc.file, tc.name)
		if want := "checkpoint: " + tc.name + ": " + tc.want; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, want)
		}
	}
}

// Tensors may be listed in any order in the header: an empty tensor listed
// before the tensor whose end is its offset tiles the data all the same.
func TestDecodeEmptyTensorListedFirst(t *testing.T) {
	file := rawFile(`{"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},`+
		`"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8))
	f, err := DecodeSafetensors(file, "order")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range f.Tensors {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "e"}) {
		t.Fatalf("tensors %v, want a, b, e", names)
	}
}

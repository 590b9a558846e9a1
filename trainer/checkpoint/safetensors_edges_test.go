package checkpoint

import (
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

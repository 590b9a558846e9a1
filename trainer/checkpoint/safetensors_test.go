package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func encode(t *testing.T, ts []Tensor, md map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, ts, md); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncodeLayout builds the expected bytes from the format description and
// compares them with the encoder's output.
func TestEncodeLayout(t *testing.T) {
	b := Tensor{Name: "b", Shape: []int{2}, Data: []float32{1.5, -2}}
	a := Tensor{Name: "a.weight", Shape: []int{1, 3}, Data: []float32{0.25, 3, 4}}
	got := encode(t, []Tensor{b, a}, map[string]string{"format": "pt"})

	header := `{"__metadata__":{"format":"pt"},` +
		`"a.weight":{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]},` +
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	var want bytes.Buffer
	binary.Write(&want, binary.LittleEndian, uint64(len(header)))
	want.WriteString(header)
	for _, v := range []float32{0.25, 3, 4, 1.5, -2} { // sorted by name: a.weight, b
		binary.Write(&want, binary.LittleEndian, math.Float32bits(v))
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("encoding differs:\n got %q\nwant %q", got, want.Bytes())
	}
	if again := encode(t, []Tensor{a, b}, map[string]string{"format": "pt"}); !bytes.Equal(again, got) {
		t.Error("output depends on input order")
	}
}

func TestRoundTrip(t *testing.T) {
	in := []Tensor{
		{Name: "specials", Shape: []int{5}, Data: []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32}},
		{Name: "empty", Shape: []int{0, 3}, Data: []float32{}},
		{Name: "scalar", Shape: []int{}, Data: []float32{7}},
		{Name: "m", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteSafetensors(path, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata %v", f.Metadata)
	}
	for _, w := range in {
		got, shape, err := f.Float32(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, w.Shape) || len(got) != len(w.Data) {
			t.Fatalf("%s: shape %v, %d values", w.Name, shape, len(got))
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(w.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", w.Name, i, got[i], w.Data[i])
			}
		}
	}
	if _, _, err := f.Float32("nope"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("missing tensor: %v", err)
	}
	for _, bad := range [][]Tensor{
		{{Name: "x", Shape: []int{3}, Data: []float32{1}}},
		{{Name: "x", Shape: []int{1}, Data: []float32{1}}, {Name: "x", Shape: []int{1}, Data: []float32{1}}},
		{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}},
	} {
		if err := WriteSafetensors(path, bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// rawFile assembles a file from a header string and a data section.
func rawFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestOtherFloatDTypes(t *testing.T) {
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, []uint16{0x3c00, 0xc000, 0x0001, 0x7c00}) // F16: 1, -2, 2^-24, +Inf
	binary.Write(&data, binary.LittleEndian, []uint16{0x3f80, 0xc040})                 // BF16: 1, -3
	binary.Write(&data, binary.LittleEndian, []float64{0.1})
	binary.Write(&data, binary.LittleEndian, []int32{7})
	h := `{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},` +
		`"d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]},"i":{"dtype":"I32","shape":[1],"data_offsets":[20,24]}}`
	f, err := DecodeSafetensors(rawFile(h, data.Bytes()), "mixed")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float32{"h": {1, -2, float32(math.Pow(2, -24)), float32(math.Inf(1))}, "bf": {1, -3}, "d": {0.1}} {
		got, _, err := f.Float32(name)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v (%v), want %v", name, got, err, want)
		}
	}
	if _, _, err := f.Float32("i"); err == nil || !strings.Contains(err.Error(), "I32") {
		t.Errorf("int tensor as float: %v", err)
	}
	if raw, err := f.Raw("i"); err != nil || binary.LittleEndian.Uint32(raw) != 7 {
		t.Errorf("raw int tensor %v %v", raw, err)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	eight := make([]byte, 8)
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"huge-header", huge, "exceeds"},
		{"past-end", append([]byte{200, 0, 0, 0, 0, 0, 0, 0}, "{}"...), "past the end"},
		{"not-object", rawFile(`[1,2]`, nil), "not a JSON object"},
		{"bad-json", rawFile(`{"a":`, nil), "header"},
		{"trailing", rawFile(`{} x`, nil), "trailing"},
		{"duplicate", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), `"a" twice`},
		{"dtype", rawFile(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, eight), `unknown dtype "F33"`},
		{"no-dtype", rawFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, eight), "no dtype"},
		{"no-shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, eight), "no shape"},
		{"negative-dim", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "non-negative"},
		{"fraction-dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, eight), "non-negative integer"},
		{"overflow", rawFile(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "overflows"},
		{"size", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), "needs 12 bytes"},
		{"offsets-count", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, eight), "[begin, end]"},
		{"offsets-reversed", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight), "invalid data_offsets"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "overlaps"},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "gap"},
		{"beyond-data", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight), "data section"},
		{"extra-data", rawFile(ok, append(eight, 0)), "data section"},
		{"metadata", rawFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
	} {
		_, err := DecodeSafetensors(tc.file, tc.name+".safetensors")
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name+".safetensors") {
			t.Errorf("%s: error %q should name the file and mention %q", tc.name, err, tc.want)
		}
	}
	if _, err := DecodeSafetensors(rawFile(ok, eight), "ok"); err != nil {
		t.Errorf("valid file rejected: %v", err)
	}
}

func TestWriteLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	for i := range 2 { // second write replaces the first
		if err := WriteSafetensors(path, []Tensor{{Name: "x", Shape: []int{1}, Data: []float32{float32(i)}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v", names)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := f.Float32("x"); v[0] != 1 {
		t.Errorf("x = %v after rewrite", v)
	}
	// A failed write leaves the old file and no temporary.
	if err := WriteSafetensors(path, []Tensor{{Name: "x", Shape: []int{2}, Data: []float32{1}}}, nil); err == nil {
		t.Fatal("bad tensor written")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed write left %d entries", len(entries))
	}
	if err := WriteSafetensors(filepath.Join(dir, "missing", "w.safetensors"), nil, nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	EncodeSafetensors(&buf, []Tensor{{Name: "w", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}, {Name: "b", Shape: []int{2}, Data: []float32{5, 6}}}, map[string]string{"format": "pt"})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := DecodeSafetensors(b, "fuzz")
		if err != nil {
			return
		}
		var ts []Tensor
		allF32 := true
		for _, ti := range sf.Tensors {
			raw, err := sf.Raw(ti.Name)
			if err != nil || len(raw) != ti.End-ti.Begin {
				t.Fatalf("listed tensor %q unreadable: %v", ti.Name, err)
			}
			if ti.DType != "F32" {
				allF32 = false
				continue
			}
			v, shape, err := sf.Float32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, Tensor{Name: ti.Name, Shape: shape, Data: v})
		}
		if !allF32 {
			return
		}
		// An accepted all-F32 file re-encodes to a file that decodes to
		// the same tensors.
		var out bytes.Buffer
		if err := EncodeSafetensors(&out, ts, sf.Metadata); err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		again, err := DecodeSafetensors(out.Bytes(), "re-encoded")
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if len(again.Tensors) != len(sf.Tensors) {
			t.Fatalf("%d tensors after re-encoding, want %d", len(again.Tensors), len(sf.Tensors))
		}
		for _, ti := range sf.Tensors {
			a, _ := sf.Raw(ti.Name)
			b, _ := again.Raw(ti.Name)
			if !bytes.Equal(a, b) {
				t.Fatalf("tensor %q changed: %s", ti.Name, fmt.Sprint(a, b))
			}
		}
	})
}

package manifest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const h64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func valid() *Manifest {
	return &Manifest{
		Dataset: "tiny", Version: h64, Tool: "t", Created: "now",
		Config: []byte(`{}`), HashInput: []byte(`{}`),
		Image:     Image{Height: 2, Width: 2, Channels: 1, DType: "float32"},
		Normalize: Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{0.3}},
		Classes:   []string{"a", "b"},
		Sources:   []Source{{Name: "train_images", File: "x", SHA256: h64, Bytes: 10}},
		Splits: []Split{{Name: "train", Rows: 3, Labels: []int{1, 2}, Shards: []Shard{
			{Path: "train-00000-of-00001.arrow", Rows: 3, Bytes: 100, SHA256: h64, DataSHA256: h64}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	m := valid()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), b, 0o644)
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := back.Marshal()
	if string(b) != string(b2) {
		t.Fatal("manifest changed through a round trip")
	}
	if back.Split("train") == nil || back.Split("val") != nil || back.ShortVersion() != h64[:12] {
		t.Fatal("accessors")
	}
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]func(m *Manifest){
		"short version":      func(m *Manifest) { m.Version = "abc" },
		"no dataset":         func(m *Manifest) { m.Dataset = "" },
		"bad dtype":          func(m *Manifest) { m.Image.DType = "int4" },
		"zero height":        func(m *Manifest) { m.Image.Height = 0 },
		"no classes":         func(m *Manifest) { m.Classes = nil },
		"unknown split":      func(m *Manifest) { m.Splits[0].Name = "dev" },
		"rows mismatch":      func(m *Manifest) { m.Splits[0].Rows = 4 },
		"histogram mismatch": func(m *Manifest) { m.Splits[0].Labels = []int{1, 1} },
		"histogram length":   func(m *Manifest) { m.Splits[0].Labels = []int{3} },
		"path escapes":       func(m *Manifest) { m.Splits[0].Shards[0].Path = "../x.arrow" },
		"path with dir":      func(m *Manifest) { m.Splits[0].Shards[0].Path = "a/x.arrow" },
		"bad shard hash":     func(m *Manifest) { m.Splits[0].Shards[0].SHA256 = "zz" },
		"duplicate split":    func(m *Manifest) { m.Splits = append(m.Splits, m.Splits[0]) },
		"bad source hash":    func(m *Manifest) { m.Sources[0].SHA256 = "" },
		// products and sums that once wrapped around to valid values
		"shape overflows": func(m *Manifest) { m.Image.Height, m.Image.Width = 1<<32, 1<<32 },
		"shape overflows with channels": func(m *Manifest) {
			m.Image.Height, m.Image.Width, m.Image.Channels = 1<<20, 1<<4, 1<<60
		},
		"shard rows wrap": func(m *Manifest) {
			sh := m.Splits[0].Shards[0]
			m.Splits[0].Shards = nil
			for i, rows := range []int{1 << 62, 1 << 62, 1 << 62, 1<<62 + 3} {
				sh.Path, sh.Rows = fmt.Sprintf("train-%d.arrow", i), rows
				m.Splits[0].Shards = append(m.Splits[0].Shards, sh)
			}
		},
		"label counts wrap": func(m *Manifest) {
			m.Classes = []string{"a", "b", "c"}
			m.Splits[0].Labels = []int{math.MaxInt, math.MaxInt, 3}
			m.Splits[0].Rows, m.Splits[0].Shards[0].Rows = 1, 1
		},
	}
	for name, mess := range cases {
		m := valid()
		mess(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseErrorsSayWhere(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "empty",
		`{"dataset": 5}`:         "offset",
		`{"dataset": "x",`:       "unexpected end",
		`{"dataset":"x","zz":1}`: "unknown field",
		`{} {}`:                  "trailing",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", in, err, want)
		}
	}
}

// FuzzParse: no input may panic the loader, and anything it accepts must
// survive a marshal/parse round trip unchanged.
func FuzzParse(f *testing.F) {
	b, _ := valid().Marshal()
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"splits":[{"name":"train","rows":-1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("accepted manifest does not re-parse: %v", err)
		}
		out2, _ := m2.Marshal()
		if string(out) != string(out2) {
			t.Fatal("round trip changed the manifest")
		}
	})
}

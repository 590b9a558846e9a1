package shard

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

func testMeta(float bool) Meta {
	m := Meta{Dataset: "tiny", Version: "abc", Split: "train", Height: 3, Width: 2, Channels: 1,
		Normalize: "compute", Mean: manifest.Values{0.25}, Std: manifest.Values{0.5}, Classes: []string{"a", "b", "c"}}
	if !float {
		m.Normalize = "none"
	}
	return m
}

func randomRows(r *rand.Rand, n int, m Meta) Rows {
	var rows Rows
	for i := 0; i < n; i++ {
		rows.SourceIndex = append(rows.SourceIndex, r.Uint64())
		rows.Label = append(rows.Label, uint8(r.IntN(len(m.Classes))))
		rows.Copy = append(rows.Copy, uint16(r.IntN(3)))
		for j := 0; j < m.Elems(); j++ {
			if m.Float() {
				rows.ImageF32 = append(rows.ImageF32, r.Float32()*4-2)
			} else {
				rows.ImageU8 = append(rows.ImageU8, uint8(r.Uint32()))
			}
		}
	}
	return rows
}

func TestRoundTrip(t *testing.T) {
	for _, float := range []bool{true, false} {
		for _, comp := range vocab.Compressions {
			for _, n := range []int{0, 1, 7, 100} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				meta := testMeta(float)
				rows := randomRows(rand.New(rand.NewPCG(uint64(n), 1)), n, meta)
				path := filepath.Join(t.TempDir(), "s.arrow")
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				res, err := Write(f, meta, rows, WithAllocator(mem), WithBatchRows(16), WithCompression(comp))
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				if res.Rows != n {
					t.Fatalf("rows %d want %d", res.Rows, n)
				}
				r, err := Open(path, WithAllocator(mem))
				if err != nil {
					t.Fatal(err)
				}
				if got := r.Meta(); got.Height != 3 || !got.Mean.Equal(manifest.Values{0.25}) || got.Classes[2] != "c" || got.Float() != float {
					t.Fatalf("meta %+v", got)
				}
				if want := (n + 15) / 16; r.NumBatches() != want {
					t.Fatalf("%d batches, want %d", r.NumBatches(), want)
				}
				back, err := r.ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				h := NewDataHasher()
				h.Add(back)
				if h.Sum() != res.DataSHA256 {
					t.Fatalf("%s float=%v n=%d: data hash of read rows differs from written", comp, float, n)
				}
				if back.Len() != n || !equalRows(back, rows) {
					t.Fatalf("%s float=%v n=%d: rows differ after round trip", comp, float, n)
				}
				mem.AssertSize(t, 0)
			}
		}
	}
}

func equalRows(a, b Rows) bool {
	if a.Len() != b.Len() || len(a.ImageF32) != len(b.ImageF32) || len(a.ImageU8) != len(b.ImageU8) {
		return false
	}
	for i := range a.Label {
		if a.Label[i] != b.Label[i] || a.SourceIndex[i] != b.SourceIndex[i] || a.Copy[i] != b.Copy[i] {
			return false
		}
	}
	for i := range a.ImageF32 {
		if a.ImageF32[i] != b.ImageF32[i] {
			return false
		}
	}
	return bytes.Equal(a.ImageU8, b.ImageU8)
}

// The data hash must not depend on how rows are split into runs or batches,
// nor on the compression, while the file bytes do depend on compression.
func TestDataHashIndependentOfCompressionAndBatching(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(9, 9)), 50, meta)
	var files [][]byte
	var hashes []string
	for _, o := range [][]Option{{WithCompression("zstd"), WithBatchRows(7)}, {WithCompression("none"), WithBatchRows(50)}} {
		var buf bytes.Buffer
		res, err := Write(&buf, meta, rows, o...)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, buf.Bytes())
		hashes = append(hashes, res.DataSHA256)
	}
	if hashes[0] != hashes[1] {
		t.Fatal("data hash changed with compression/batching")
	}
	if bytes.Equal(files[0], files[1]) {
		t.Fatal("zstd and uncompressed files are identical; compression not applied")
	}
	h := NewDataHasher()
	h.Add(rows.Slice(0, 20, meta.Elems()))
	h.Add(rows.Slice(20, 50, meta.Elems()))
	if h.Sum() != hashes[0] {
		t.Fatal("hash of two runs differs from hash of one")
	}
	rows.ImageF32[3] += 1
	h = NewDataHasher()
	h.Add(rows)
	if h.Sum() == hashes[0] {
		t.Fatal("hash did not change when a pixel changed")
	}
}

func TestWriteDeterministic(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(1, 2)), 300, meta)
	var a, b bytes.Buffer
	if _, err := Write(&a, meta, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&b, meta, rows); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same rows gave different bytes")
	}
}

func TestWriteRejectsBadRows(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(1, 2)), 3, meta)
	rows.ImageF32 = rows.ImageF32[:5]
	if _, err := Write(&bytes.Buffer{}, meta, rows); err == nil {
		t.Fatal("short image column accepted")
	}
}

func TestOpenRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	meta := testMeta(false)
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, randomRows(rand.New(rand.NewPCG(3, 3)), 40, meta)); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello, this is not arrow"),
		"truncated": buf.Bytes()[:buf.Len()/2],
	}
	for name, data := range cases {
		p := filepath.Join(dir, name+".arrow")
		os.WriteFile(p, data, 0o644)
		r, err := Open(p)
		if err == nil {
			_, err = r.ReadAll()
			r.Close()
		}
		if err == nil || !regexp.MustCompile(regexp.QuoteMeta(p)).MatchString(err.Error()) {
			t.Errorf("%s: error %v should name the file", name, err)
		}
	}
}

func TestZstdLibraryMatchesGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range []string{ZstdLibrary, ArrowLibrary} {
		m := regexp.MustCompile(`^(\S+)@(\S+)$`).FindStringSubmatch(lib)
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(m[1]) + `\s+` + regexp.QuoteMeta(m[2]) + `\b`).Match(gomod) {
			t.Errorf("go.mod does not require %s at %s: update the constant (it enters the dataset hash)", m[1], m[2])
		}
	}
}

// Mean and std are one value per channel: the number's text for one channel
// (as every earlier shard has), a JSON array for more; MetaFromSchema reads
// both and refuses a count that is not the channel count.
func TestMetaPerChannelStats(t *testing.T) {
	m := testMeta(true)
	one := Schema(m).Metadata()
	if v, _ := one.GetValue("mean"); v != "0.25" {
		t.Fatalf("one-channel mean text %q", v)
	}
	m.Channels = 3
	m.Mean, m.Std = manifest.Values{0.5, 0.25, 0.125}, manifest.Values{0.2, 0.3, 0.4}
	s := Schema(m)
	if v, _ := s.Metadata().GetValue("mean"); v != "[0.5,0.25,0.125]" {
		t.Fatalf("three-channel mean text %q", v)
	}
	got, err := MetaFromSchema(s)
	if err != nil || !got.Mean.Equal(m.Mean) || !got.Std.Equal(m.Std) || got.Channels != 3 {
		t.Fatalf("read back %+v, %v", got, err)
	}
	m.Std = manifest.Values{0.2, 0.3}
	if _, err := MetaFromSchema(Schema(m)); err == nil || !regexp.MustCompile(`mean/std have 3/2 values for 3 channels`).MatchString(err.Error()) {
		t.Fatalf("two stds for three channels: %v", err)
	}
}

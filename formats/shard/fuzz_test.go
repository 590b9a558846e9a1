package shard

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// The fuzz targets read shards from memory (ipcBytes, parquetBytes): no file
// per input, and the seeds are built once, outside the fuzz function.

// fuzzMaxBuffer bounds one Arrow buffer while fuzzing: the seeds need a few
// KiB, and a damaged length then fails fast instead of allocating a GiB.
const fuzzMaxBuffer = 1 << 22

// FuzzReader feeds damaged shards to the reader: it must return an error or
// rows, never panic or exhaust memory. Besides the valid shards added here,
// the committed corpus (testdata/fuzz/FuzzReader, see footer_test.go) holds
// precise damages of every length arrow-go trusts.
func FuzzReader(f *testing.F) {
	for _, float := range []bool{true, false} {
		for _, comp := range vocab.Compressions {
			f.Add(seedShard(f, float, comp))
		}
	}
	maxBuffer = fuzzMaxBuffer
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ipcBytes(data, "fuzz.arrow", memory.DefaultAllocator)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.arrow") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		defer r.Close()
		rows, err := r.ReadAll()
		if err != nil {
			return
		}
		if err := checkRows(r.Meta(), &rows); err != nil {
			t.Fatalf("reader returned inconsistent rows: %v", err)
		}
	})
}

// seedParquet is a small valid Parquet shard: 9 rows in row groups of 4.
func seedParquet(t testing.TB, float bool, comp vocab.Compression) []byte {
	t.Helper()
	meta := testMeta(float)
	var buf bytes.Buffer
	if _, err := WriteParquet(&buf, meta, randomRows(rand.New(rand.NewPCG(3, 3)), 9, meta), WithBatchRows(4), WithCompression(comp)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzOpenParquet feeds damaged Parquet shards to the reader: it must return
// errors that name the file, never panic, and whatever it accepts must be
// consistent (checkParquet).
func FuzzOpenParquet(f *testing.F) {
	for _, float := range []bool{true, false} {
		b := seedParquet(f, float, "zstd")
		f.Add(b)
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0x55
		f.Add(b)
	}
	f.Add(seedParquet(f, true, "none"))
	maxBuffer = fuzzMaxBuffer
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParquet(t, data)
	})
}

// checkParquet opens and reads data as a Parquet shard and checks that what
// the reader accepts is consistent: every row group read holds the rows the
// footer declares for it, they add up to the footer's count, the columns
// agree with each other and the image size, and the rows (unless they hold
// NaN pixels, which writers refuse) survive being written again. It returns the reader's error, nil if it accepted the file.
func checkParquet(t *testing.T, data []byte) error {
	const name = "fuzz.parquet"
	r, err := parquetBytes(data, name, memory.DefaultAllocator)
	if err != nil {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("error does not name the file: %v", err)
		}
		return err
	}
	defer r.Close()
	md := r.pf.MetaData()
	var rows Rows
	for g := 0; g < r.NumBatches(); g++ {
		before := rows.Len()
		if err := r.ReadRows(g, &rows); err != nil {
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "row group") {
				t.Fatalf("row group %d: error does not name the file and row group: %v", g, err)
			}
			return err
		}
		if got, want := int64(rows.Len()-before), md.RowGroup(g).NumRows(); got != want {
			t.Fatalf("row group %d: read %d rows, footer declares %d", g, got, want)
		}
	}
	if int64(rows.Len()) != r.NumRows() {
		t.Fatalf("read %d rows, footer says %d", rows.Len(), r.NumRows())
	}
	meta := r.Meta()
	if err := checkRows(meta, &rows); err != nil {
		t.Fatalf("reader returned inconsistent rows: %v", err)
	}
	for i, l := range rows.Label {
		if int(l) >= len(meta.Classes) {
			t.Fatalf("row %d: label %d outside the %d classes", i, l, len(meta.Classes))
		}
	}
	if hasNaN(rows.ImageF32) {
		return nil // read as the file has it; the writers refuse NaN pixels
	}
	var again bytes.Buffer
	if _, err := WriteParquet(&again, meta, rows); err != nil {
		t.Fatalf("accepted rows do not write again: %v", err)
	}
	back := readParquetBytes(t, again.Bytes())
	if !sameRows(back, rows) {
		t.Fatal("accepted rows changed when written again")
	}
	return nil
}

// readParquetBytes reads a Parquet shard that must be valid.
func readParquetBytes(t *testing.T, data []byte) Rows {
	t.Helper()
	r, err := parquetBytes(data, "again.parquet", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// sameRows is equalRows with pixels compared bit for bit, so that NaNs in
// a damaged file's pixels compare equal to themselves.
func sameRows(a, b Rows) bool {
	if len(a.ImageF32) != len(b.ImageF32) {
		return false
	}
	for i := range a.ImageF32 {
		if math.Float32bits(a.ImageF32[i]) != math.Float32bits(b.ImageF32[i]) {
			return false
		}
	}
	a.ImageF32, b.ImageF32 = nil, nil
	return equalRows(a, b)
}

// TestParquetCorpusRefused runs the committed FuzzOpenParquet inputs named
// bad-*, the precise damages of parquet_damage_test.go and what fuzzing
// found: each must be refused with its error, which names the file and,
// where the damage lies in one, the row group and column.
func TestParquetCorpusRefused(t *testing.T) {
	maxBuffer = fuzzMaxBuffer
	defer func() { maxBuffer = 1 << 30 }()
	dir := "testdata/fuzz/FuzzOpenParquet"
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(parquetFuzzFindings), "\n") {
		name, msg, _ := strings.Cut(line, ": ")
		want[name] = msg
	}
	for _, d := range parquetDamages {
		want[d.name] = d.want
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, ent := range entries {
		if !strings.HasPrefix(ent.Name(), "bad-") {
			continue
		}
		seen++
		text, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data := parseCorpusFile(t, ent.Name(), string(text))
		err = checkParquet(t, data)
		if err == nil {
			t.Errorf("%s: accepted", ent.Name())
			continue
		}
		msg, ok := want[ent.Name()]
		if !ok {
			t.Errorf("%s: no expected error in parquetFuzzFindings or parquetDamages (got %v)", ent.Name(), err)
		} else if !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %q, want one containing %q", ent.Name(), err, msg)
		}
	}
	if seen != len(want) {
		t.Errorf("%d bad-* corpus files, %d expected", seen, len(want))
	}
}

// parquetFuzzFindings lists the inputs FuzzOpenParquet found that an
// earlier reader accepted or died on, and a part of the error each must now
// give. bad-fuzz-row-group-rows: the last row group declares 0 rows, so
// arrow-go read 8 of the footer's 9 rows without an error.
// bad-fuzz-row-group-rows-huge: a row group declares 15·10¹² rows and
// arrow-go allocated buffers for them before reading a page (a fatal
// out-of-memory error that recover cannot catch).
// bad-fuzz-version-not-utf8: the version is not UTF-8; the file was read,
// but arrow-go's writer silently drops such a key/value entry, so the rows
// written again lost their version.
// bad-fuzz-schema-children: a schema element declares 5·10¹¹ children, and
// arrow-go's schema.FromParquet made a slice of that capacity (a fatal
// out-of-memory error).
const parquetFuzzFindings = `
bad-fuzz-schema-children: footer: schema element 4 declares 519454312335 children, but only 2 elements follow it
bad-fuzz-version-not-utf8: key/value metadata "version" = "ab\x80" is not valid UTF-8
bad-fuzz-row-group-rows: row group 2 column source_index: the column chunk holds 1 values, want 0 for 0 rows
bad-fuzz-row-group-rows-huge: row group 1 declares 15408584088761 rows
`

// parseCorpusFile decodes a "go test fuzz v1" file holding one []byte.
func parseCorpusFile(t *testing.T, name, text string) []byte {
	t.Helper()
	body, ok := strings.CutPrefix(text, "go test fuzz v1\n[]byte(")
	body, ok2 := strings.CutSuffix(body, ")\n")
	if !ok || !ok2 {
		t.Fatalf("%s: not a go test fuzz v1 file holding one []byte", name)
	}
	s, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

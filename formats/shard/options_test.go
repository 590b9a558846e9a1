package shard

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidOptionsRejected gives every writer and reader each invalid
// option value: the call must fail with an error naming the option and the
// value, and write nothing.
func TestInvalidOptionsRejected(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(4, 4)), 5, meta)
	writers := map[string]func(io.Writer, Meta, Rows, ...Option) (Result, error){"Write": Write, "WriteParquet": WriteParquet}
	bad := map[string]struct {
		opt  Option
		want string
	}{
		"zero batch":      {WithBatchRows(0), "WithBatchRows(0): batch rows must be ≥ 1"},
		"negative batch":  {WithBatchRows(-3), "WithBatchRows(-3): batch rows must be ≥ 1"},
		"bad compression": {WithCompression("brotli"), `WithCompression("brotli"): unknown compression "brotli"`},
		"empty codec":     {WithCompression(""), `WithCompression(""): unknown compression ""`},
		"nil allocator":   {WithAllocator(nil), "WithAllocator(nil)"},
		"nil option":      {nil, "a nil Option"},
	}
	for wname, write := range writers {
		for name, tc := range bad {
			var buf bytes.Buffer
			_, err := write(&buf, meta, rows, WithBatchRows(2), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "shard: ") {
				t.Errorf("%s, %s: error %v, want one containing %q", wname, name, err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%s, %s: wrote %d bytes", wname, name, buf.Len())
			}
		}
	}

	dir := t.TempDir()
	var ipcBuf, pqBuf bytes.Buffer
	if _, err := Write(&ipcBuf, meta, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteParquet(&pqBuf, meta, rows); err != nil {
		t.Fatal(err)
	}
	paths := map[string][]byte{"s.arrow": ipcBuf.Bytes(), "s.parquet": pqBuf.Bytes()}
	for name, data := range paths {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readers := map[string]func(string, ...Option) error{
		"Open":        func(p string, o ...Option) error { r, err := Open(p, o...); closeIf(r, err); return err },
		"OpenParquet": func(p string, o ...Option) error { r, err := OpenParquet(p, o...); closeIf(r, err); return err },
		"OpenFile":    func(p string, o ...Option) error { r, err := OpenFile(p, o...); closeIf(r, err); return err },
	}
	readerBad := map[string]struct {
		opt  Option
		want string
	}{
		"nil allocator":     {WithAllocator(nil), "WithAllocator(nil)"},
		"batch rows":        {WithBatchRows(16), "WithBatchRows(16): a reader takes the batches the file has"},
		"compression":       {WithCompression("lz4"), `WithCompression("lz4"): a reader takes the compression`},
		"invalid and reads": {WithBatchRows(0), "WithBatchRows(0)"},
	}
	for rname, open := range readers {
		p := filepath.Join(dir, "s.arrow")
		if rname == "OpenParquet" {
			p = filepath.Join(dir, "s.parquet")
		}
		if err := open(p); err != nil {
			t.Fatalf("%s without options: %v", rname, err)
		}
		for name, tc := range readerBad {
			if err := open(p, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, %s: error %v, want one containing %q", rname, name, err, tc.want)
			}
		}
	}
}

type closer interface{ Close() error }

func closeIf[C closer](c C, err error) {
	if err == nil {
		c.Close()
	}
}

// TestDefaultOptions pins the defaults: no options write the same bytes as
// the documented defaults given explicitly.
func TestDefaultOptions(t *testing.T) {
	meta := testMeta(false)
	rows := randomRows(rand.New(rand.NewPCG(7, 7)), 1500, meta)
	for name, write := range map[string]func(io.Writer, Meta, Rows, ...Option) (Result, error){"Write": Write, "WriteParquet": WriteParquet} {
		var a, b, c bytes.Buffer
		if _, err := write(&a, meta, rows); err != nil {
			t.Fatal(err)
		}
		if _, err := write(&b, meta, rows, WithBatchRows(1024), WithCompression("zstd")); err != nil {
			t.Fatal(err)
		}
		if _, err := write(&c, meta, rows, WithBatchRows(1000), WithCompression("zstd")); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: default options write other bytes than WithBatchRows(1024), WithCompression(zstd)", name)
		}
		if bytes.Equal(a.Bytes(), c.Bytes()) {
			t.Errorf("%s: batch rows 1000 and 1024 give the same bytes; the test proves nothing", name)
		}
	}
}

// TestWritersRejectUnreadableMeta: metadata a reader could not get back
// unchanged is refused by both writers, before anything is written.
func TestWritersRejectUnreadableMeta(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Meta)
		want string
	}{
		"version":  {func(m *Meta) { m.Version = "ab\x80" }, `metadata version "ab\x80" is not valid UTF-8`},
		"class":    {func(m *Meta) { m.Classes[1] = "\xff" }, `metadata class 1 "\xff" is not valid UTF-8`},
		"height":   {func(m *Meta) { m.Height = 0 }, "metadata height=0 out of range"},
		"channels": {func(m *Meta) { m.Channels = 1<<16 + 1 }, "metadata channels=65537 out of range"},
	} {
		meta := testMeta(false)
		meta.Classes = append([]string(nil), meta.Classes...)
		tc.edit(&meta)
		for wname, write := range map[string]func(io.Writer, Meta, Rows, ...Option) (Result, error){"Write": Write, "WriteParquet": WriteParquet} {
			var buf bytes.Buffer
			_, err := write(&buf, meta, Rows{}, WithBatchRows(2))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, %s: error %v, want one containing %q", wname, name, err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%s, %s: wrote %d bytes", wname, name, buf.Len())
			}
		}
	}
}

// TestWritersRejectNaN: a NaN pixel is refused by both writers, naming the
// row and pixel (Parquet's dictionary would give every NaN the first one's
// payload, so the formats would read back different rows).
func TestWritersRejectNaN(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(8, 8)), 4, meta)
	rows.ImageF32[2*meta.Elems()+5] = float32(math.NaN())
	for wname, write := range map[string]func(io.Writer, Meta, Rows, ...Option) (Result, error){"Write": Write, "WriteParquet": WriteParquet} {
		var buf bytes.Buffer
		_, err := write(&buf, meta, rows)
		if want := "row 2 pixel 5 is NaN"; err == nil || !strings.Contains(err.Error(), want) || buf.Len() != 0 {
			t.Errorf("%s: error %v after %d bytes, want one containing %q and nothing written", wname, err, buf.Len(), want)
		}
	}
}

package shard

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

func writeParquetFile(t *testing.T, meta Meta, rows Rows, opts ...Option) (string, Result) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := WriteParquet(f, meta, rows, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, res
}

func TestParquetRoundTrip(t *testing.T) {
	for _, float := range []bool{true, false} {
		for _, comp := range vocab.Compressions {
			for _, n := range []int{0, 1, 7, 100} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				meta := testMeta(float)
				rows := randomRows(rand.New(rand.NewPCG(uint64(n), 2)), n, meta)
				path, res := writeParquetFile(t, meta, rows, WithAllocator(mem), WithBatchRows(16), WithCompression(comp))
				mem.AssertSize(t, 0)
				if res.Rows != n {
					t.Fatalf("rows %d want %d", res.Rows, n)
				}
				var ipcBuf bytes.Buffer
				ipcRes, err := Write(&ipcBuf, meta, rows, WithBatchRows(16), WithCompression(comp))
				if err != nil {
					t.Fatal(err)
				}
				if res.DataSHA256 != ipcRes.DataSHA256 {
					t.Fatalf("%s float=%v n=%d: Parquet data hash %s, IPC %s", comp, float, n, res.DataSHA256, ipcRes.DataSHA256)
				}

				r, err := OpenParquet(path, WithAllocator(mem))
				if err != nil {
					t.Fatal(err)
				}
				if got := r.Meta(); got.Height != 3 || got.Width != 2 || !got.Mean.Equal(manifest.Values{0.25}) || !got.Std.Equal(manifest.Values{0.5}) ||
					got.Classes[2] != "c" || got.Float() != float || got.Split != "train" {
					t.Fatalf("meta %+v", got)
				}
				if !r.Schema().Equal(Schema(meta)) {
					t.Fatalf("schema %v, want %v", r.Schema(), Schema(meta))
				}
				if want := (n + 15) / 16; r.NumBatches() != want || r.NumRows() != int64(n) {
					t.Fatalf("%d row groups / %d rows, want %d / %d", r.NumBatches(), r.NumRows(), want, n)
				}
				if n > 0 {
					rec, err := r.Batch(0)
					if err != nil {
						t.Fatal(err)
					}
					if !rec.Schema().Equal(Schema(meta)) || rec.NumRows() != int64(min(n, 16)) {
						t.Fatalf("batch 0: schema %v, %d rows", rec.Schema(), rec.NumRows())
					}
					rec.Release()
				}
				back, err := r.ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				mem.AssertSize(t, 0)
				h := NewDataHasher()
				h.Add(back)
				if h.Sum() != res.DataSHA256 {
					t.Fatalf("%s float=%v n=%d: data hash of read rows differs from written", comp, float, n)
				}
				if back.Len() != n || !equalRows(back, rows) {
					t.Fatalf("%s float=%v n=%d: rows differ after round trip", comp, float, n)
				}
			}
		}
	}
}

func TestParquetDeterministic(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(5, 5)), 50, meta)
	var a, b bytes.Buffer
	if _, err := WriteParquet(&a, meta, rows, WithBatchRows(16)); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteParquet(&b, meta, rows, WithBatchRows(16)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of the same rows differ")
	}
	if !bytes.Contains(a.Bytes(), []byte(ParquetCreatedBy)) {
		t.Fatalf("file does not carry created_by %q", ParquetCreatedBy)
	}
	var c bytes.Buffer
	if _, err := WriteParquet(&c, meta, rows, WithBatchRows(17)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different row-group lengths gave the same bytes")
	}
}

// TestParquetFooter checks what readers that ignore ARROW:schema see: the
// codec of every column chunk, the row groups, and the shard metadata as
// plain key/value pairs.
func TestParquetFooter(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(6, 6)), 40, meta)
	for comp, want := range map[vocab.Compression]compress.Compression{"zstd": compress.Codecs.Zstd, "lz4": compress.Codecs.Lz4Raw, "none": compress.Codecs.Uncompressed} {
		path, _ := writeParquetFile(t, meta, rows, WithBatchRows(16), WithCompression(comp))
		pf, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Fatal(err)
		}
		md := pf.MetaData()
		if md.NumRowGroups() != 3 || md.NumRows != 40 {
			t.Fatalf("%s: %d row groups, %d rows; want 3, 40", comp, md.NumRowGroups(), md.NumRows)
		}
		for g := 0; g < md.NumRowGroups(); g++ {
			rg := md.RowGroup(g)
			for c := 0; c < rg.NumColumns(); c++ {
				cc, err := rg.ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				if cc.Compression() != want {
					t.Fatalf("%s: row group %d column %d compressed with %v", comp, g, c, cc.Compression())
				}
			}
		}
		kv := md.KeyValueMetadata()
		for k, v := range map[string]string{"height": "3", "width": "2", "channels": "1", "mean": "0.25", "std": "0.5",
			"normalize": "compute", "classes": `["a","b","c"]`, "shard_format": Version, "split": "train"} {
			if got := kv.FindValue(k); got == nil || *got != v {
				t.Fatalf("%s: key/value metadata %s = %v, want %q", comp, k, got, v)
			}
		}
		if kv.FindValue("ARROW:schema") == nil {
			t.Fatalf("%s: no stored Arrow schema", comp)
		}
		pf.Close()
	}
}

func TestWriteParquetRejectsBadInput(t *testing.T) {
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(1, 1)), 3, meta)
	short := rows
	short.ImageF32 = short.ImageF32[:5]
	for name, tc := range map[string]struct {
		rows Rows
		opts []Option
		want string
	}{
		"short image":     {short, nil, "float32 image column has 5 values, want 18"},
		"bad compression": {rows, []Option{WithCompression("brotli")}, `unknown compression "brotli"`},
		"zero batch":      {rows, []Option{WithBatchRows(0)}, "batch rows must be ≥ 1"},
	} {
		var buf bytes.Buffer
		_, err := WriteParquet(&buf, meta, tc.rows, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestOpenParquetRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	meta := testMeta(true)
	rows := randomRows(rand.New(rand.NewPCG(2, 2)), 20, meta)
	var good bytes.Buffer
	if _, err := WriteParquet(&good, meta, rows); err != nil {
		t.Fatal(err)
	}
	var ipcFile bytes.Buffer
	if _, err := Write(&ipcFile, meta, rows); err != nil {
		t.Fatal(err)
	}

	// A valid Parquet file whose label column is int32 instead of uint8.
	md := Schema(meta).Metadata()
	wrong := arrow.NewSchema([]arrow.Field{
		{Name: ColSourceIndex, Type: arrow.PrimitiveTypes.Uint64},
		{Name: ColLabel, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColCopy, Type: arrow.PrimitiveTypes.Uint16},
		{Name: ColImage, Type: arrow.FixedSizeListOf(int32(meta.Elems()), arrow.PrimitiveTypes.Float32)},
	}, &md)
	var wrongBuf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(wrong, &wrongBuf, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, wrong)
	b.Field(0).(*array.Uint64Builder).Append(1)
	b.Field(1).(*array.Int32Builder).Append(1)
	b.Field(2).(*array.Uint16Builder).Append(0)
	lb := b.Field(3).(*array.FixedSizeListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Float32Builder).AppendValues(make([]float32, meta.Elems()), nil)
	rec := b.NewRecordBatch()
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	b.Release()
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}

	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty.parquet":     {nil, "not a readable Parquet shard"},
		"garbage.parquet":   {bytes.Repeat([]byte("PAR1nonsense"), 20), "not a readable Parquet shard"},
		"truncated.parquet": {good.Bytes()[:good.Len()-100], "not a readable Parquet shard"},
		"ipc.parquet":       {ipcFile.Bytes(), "not a readable Parquet shard"},
		"int32.parquet":     {wrongBuf.Bytes(), "shard schema: columns are"},
	}
	for name, tc := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r, err := OpenParquet(p, WithAllocator(mem))
		if err == nil {
			r.Close()
			t.Errorf("%s: opened without error", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q, want one naming the file and containing %q", name, err, tc.want)
		}
	}
	if _, err := OpenParquet(filepath.Join(dir, "missing.parquet")); err == nil || !strings.Contains(err.Error(), "missing.parquet") {
		t.Errorf("missing file: error %v", err)
	}

	p := filepath.Join(dir, "good.parquet")
	if err := os.WriteFile(p, good.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenParquet(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Batch(1); err == nil || !strings.Contains(err.Error(), "row group 1 out of range [0, 1)") {
		t.Errorf("batch out of range: error %v", err)
	}
}

// TestOpenParquetIgnoresStoredArrowSchema reads shards whose ARROW:schema is
// missing or garbage: the reader needs only the Parquet schema and the
// key/value metadata.
func TestOpenParquetIgnoresStoredArrowSchema(t *testing.T) {
	meta := testMeta(false)
	rows := randomRows(rand.New(rand.NewPCG(8, 8)), 11, meta)
	for name, stored := range map[string]string{"none": "", "garbage": "/////w8AAAD//w==not base64"} {
		var buf bytes.Buffer
		fw, err := pqarrow.NewFileWriter(Schema(meta), &buf, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties())
		if err != nil {
			t.Fatal(err)
		}
		if stored != "" {
			if err := fw.AppendKeyValueMetadata("ARROW:schema", stored); err != nil {
				t.Fatal(err)
			}
		}
		rec := Record(Schema(meta), rows)
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name+".parquet")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r, err := OpenParquet(p, WithAllocator(mem))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := r.ReadAll()
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !equalRows(back, rows) {
			t.Fatalf("%s: rows differ", name)
		}
		mem.AssertSize(t, 0)
	}
}

// TestParquetImageListChecked writes an image column whose rows have the
// wrong number of pixels (a plain list, as another tool might write): the
// reader must refuse it rather than shift pixels between rows.
func TestParquetImageListChecked(t *testing.T) {
	meta := testMeta(true)
	md := Schema(meta).Metadata()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: ColSourceIndex, Type: arrow.PrimitiveTypes.Uint64},
		{Name: ColLabel, Type: arrow.PrimitiveTypes.Uint8},
		{Name: ColCopy, Type: arrow.PrimitiveTypes.Uint16},
		{Name: ColImage, Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
	}, &md)
	for name, sizes := range map[string][]int{"short row": {6, 5, 7}, "all right": {6, 6, 6}} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		lb := b.Field(3).(*array.ListBuilder)
		for i, n := range sizes {
			b.Field(0).(*array.Uint64Builder).Append(uint64(i))
			b.Field(1).(*array.Uint8Builder).Append(uint8(i))
			b.Field(2).(*array.Uint16Builder).Append(0)
			lb.Append(true)
			for k := 0; k < n; k++ {
				lb.ValueBuilder().(*array.Float32Builder).Append(float32(10*i + k))
			}
		}
		rec := b.NewRecordBatch()
		b.Release()
		var buf bytes.Buffer
		tbl := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
		rec.Release()
		err := pqarrow.WriteTable(tbl, &buf, 100, nil, pqarrow.DefaultWriterProps())
		tbl.Release()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "list.parquet")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenParquet(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rows, err := r.ReadAll()
		r.Close()
		if name == "all right" {
			if err != nil || rows.Len() != 3 || rows.ImageF32[6] != 10 || rows.ImageF32[17] != 25 {
				t.Fatalf("%s: %v, %+v", name, err, rows)
			}
			continue
		}
		if want := "column image: row 1 has 5 pixels at offset 6, want 6"; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: error %v", name, err)
		}
	}
}

// BenchmarkWriteFormats writes 2048 MNIST-sized rows whose float pixels take
// 256 distinct values, as normalized 8-bit images do, as IPC and as Parquet,
// and reports the file size.
func BenchmarkWriteFormats(b *testing.B) {
	meta := Meta{Dataset: "bench", Version: "v", Split: "train", Height: 28, Width: 28, Channels: 1,
		Normalize: "compute", Mean: manifest.Values{0.13}, Std: manifest.Values{0.31}, Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}
	r := rand.New(rand.NewPCG(1, 1))
	const n = 2048
	var rows Rows
	for i := 0; i < n; i++ {
		rows.SourceIndex = append(rows.SourceIndex, uint64(i))
		rows.Label = append(rows.Label, uint8(r.IntN(10)))
		rows.Copy = append(rows.Copy, 0)
		for k := 0; k < meta.Elems(); k++ {
			px := 0
			if r.IntN(5) == 0 { // mostly background, like MNIST
				px = r.IntN(256)
			}
			rows.ImageF32 = append(rows.ImageF32, (float32(px)/255-0.13)/0.31)
		}
	}
	for _, format := range []string{"ipc", "parquet"} {
		b.Run(format, func(b *testing.B) {
			var buf bytes.Buffer
			b.SetBytes(int64(len(rows.ImageF32) * 4))
			for b.Loop() {
				buf.Reset()
				var err error
				if format == "ipc" {
					_, err = Write(&buf, meta, rows)
				} else {
					_, err = WriteParquet(&buf, meta, rows)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "file-bytes")
		})
	}
}

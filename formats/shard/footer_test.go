package shard

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the damaged-shard seeds in testdata/fuzz/FuzzReader")

const corpusDir = "testdata/fuzz/FuzzReader"

// seedShard is a small valid shard: 9 rows in batches of 4 (3 batches).
func seedShard(t testing.TB, float bool, comp vocab.Compression) []byte {
	t.Helper()
	meta := testMeta(float)
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, randomRows(rand.New(rand.NewPCG(1, 1)), 9, meta), WithCompression(comp), WithBatchRows(4)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// shardLayout locates the flatbuffer tables of a shard file so that tests can
// damage one precise field. Positions are file offsets.
type shardLayout struct {
	t           testing.TB
	data        []byte
	footerStart int
	footer      fbTable
}

func layoutOf(t testing.TB, data []byte) *shardLayout {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(data[len(data)-ipcTrailer:]))
	start := len(data) - ipcTrailer - n
	fb := &fbuf{b: data[start : start+n], base: int64(start), what: "footer"}
	root, err := fb.root()
	if err != nil {
		t.Fatal(err)
	}
	return &shardLayout{t: t, data: data, footerStart: start, footer: root}
}

func (l *shardLayout) must(tab fbTable, ok bool, err error) fbTable {
	l.t.Helper()
	if err != nil || !ok {
		l.t.Fatalf("locating a table: ok=%v err=%v", ok, err)
	}
	return tab
}

// vectorAt returns the file offset of the length word of the vector in slot.
func (l *shardLayout) vectorAt(tab fbTable, slot int) int {
	l.t.Helper()
	p, ok, err := tab.target(slot, "v")
	if err != nil || !ok {
		l.t.Fatalf("no vector in slot %d: %v", slot, err)
	}
	return int(tab.fb.base) + p
}

func (l *shardLayout) schema() fbTable {
	return l.must(l.footer.table(footerSchema, "schema"))
}

// field returns field i of the schema.
func (l *shardLayout) field(i int) fbTable {
	l.t.Helper()
	var got fbTable
	n := 0
	err := l.schema().tables(schemaFields, "fields", maxFields, func(f fbTable) error {
		if n == i {
			got = f
		}
		n++
		return nil
	})
	if err != nil || i >= n {
		l.t.Fatalf("field %d of %d: %v", i, n, err)
	}
	return got
}

// block returns record batch i's block and the file offset of its entry.
func (l *shardLayout) block(i int) (ipcBlock, int) {
	l.t.Helper()
	blocks, err := l.footer.blocks(footerRecordBatches, "recordBatches")
	if err != nil || i >= len(blocks) {
		l.t.Fatalf("block %d: %v", i, err)
	}
	return blocks[i], l.vectorAt(l.footer, footerRecordBatches) + 4 + i*blockSize
}

// batch returns the RecordBatch table of record batch i and the file offset
// where its body starts.
func (l *shardLayout) batch(i int) (fbTable, int) {
	l.t.Helper()
	b, _ := l.block(i)
	prefix := 8
	n := int(binary.LittleEndian.Uint32(l.data[int(b.offset)+4:]))
	start := int(b.offset) + prefix
	fb := &fbuf{b: l.data[start : start+n], base: int64(start), what: "message"}
	msg, err := fb.root()
	if err != nil {
		l.t.Fatal(err)
	}
	return l.must(msg.table(messageHeader, "header")), int(b.offset) + int(b.meta)
}

// buffer returns the file offset of the Buffer struct j of record batch i,
// and the buffer's offset and length within the body.
func (l *shardLayout) buffer(i, j int) (entry int, off, length int64) {
	rb, _ := l.batch(i)
	entry = l.vectorAt(rb, batchBuffers) + 4 + j*bufferSize
	return entry, int64(binary.LittleEndian.Uint64(l.data[entry:])), int64(binary.LittleEndian.Uint64(l.data[entry+8:]))
}

func put32(b []byte, pos int, v uint32) { binary.LittleEndian.PutUint32(b[pos:], v) }
func put64(b []byte, pos int, v uint64) { binary.LittleEndian.PutUint64(b[pos:], v) }

type damage struct {
	name string
	// comp is the seed's compression.
	comp vocab.Compression
	// apply damages a copy of the seed in place, or returns a new slice.
	apply func(l *shardLayout) []byte
	want  string
}

// damages are precise corruptions of the places arrow-go trusts. Each is a
// fuzz seed too (testdata/fuzz/FuzzReader/bad-*), so the fuzzer starts from
// them.
var damages = []damage{
	{"bad-fields-length", "zstd", func(l *shardLayout) []byte {
		put32(l.data, l.vectorAt(l.schema(), schemaFields), 1<<30) // arrow-go: make([]arrow.Field, 1<<30)
		return l.data
	}, "fields: 1073741824 entries, at most 256"},
	{"bad-fields-past-end", "zstd", func(l *shardLayout) []byte {
		put32(l.data, l.vectorAt(l.schema(), schemaFields), 200)
		return l.data
	}, "fields: 200 entries of 4 bytes run past"},
	{"bad-schema-metadata-length", "zstd", func(l *shardLayout) []byte {
		put32(l.data, l.vectorAt(l.schema(), schemaCustomMetadata), 0x7fffffff)
		return l.data
	}, "custom_metadata: 2147483647 entries, at most 1024"},
	{"bad-field-name-length", "zstd", func(l *shardLayout) []byte {
		put32(l.data, l.vectorAt(l.field(0), fieldName), 0xfffffff0)
		return l.data
	}, "fields[0].name: string of 4294967280 bytes runs past"},
	{"bad-children-length", "none", func(l *shardLayout) []byte {
		put32(l.data, l.vectorAt(l.field(3), fieldChildren), 1<<28)
		return l.data
	}, "children: 268435456 entries, at most 256"},
	{"bad-type-offset", "none", func(l *shardLayout) []byte {
		f := l.field(3)
		p, _, _ := f.field(fieldType, 4)
		put32(l.data, int(f.fb.base)+p, 1<<20)
		return l.data
	}, "type: offset 1048576 points outside"},
	{"bad-vtable", "zstd", func(l *shardLayout) []byte {
		put32(l.data, l.footerStart+l.schema().pos, 0x80000000)
		return l.data
	}, "vtable at"},
	{"bad-record-batches-length", "zstd", func(l *shardLayout) []byte {
		put32(l.data, l.vectorAt(l.footer, footerRecordBatches), 1<<25)
		return l.data
	}, "recordBatches: 33554432 entries"},
	{"bad-block-offset", "zstd", func(l *shardLayout) []byte {
		_, e := l.block(1)
		put64(l.data, e, uint64(len(l.data))*8)
		return l.data
	}, "recordBatches[1]: message at offset"},
	{"bad-block-metadata-length", "zstd", func(l *shardLayout) []byte {
		_, e := l.block(0)
		put32(l.data, e+8, 1<<30)
		return l.data
	}, "metadata length 1073741824, want 8 to 1048576"},
	{"bad-block-body-length", "none", func(l *shardLayout) []byte {
		b, e := l.block(2)
		put64(l.data, e+16, uint64(b.body-8))
		return l.data
	}, "the footer says"},
	{"bad-nodes-length", "zstd", func(l *shardLayout) []byte {
		rb, _ := l.batch(0)
		put32(l.data, l.vectorAt(rb, batchNodes), 1<<20)
		return l.data
	}, "nodes: 1048576 entries, at most 64"},
	{"bad-buffer-offset", "none", func(l *shardLayout) []byte {
		e, _, _ := l.buffer(1, 1)
		put64(l.data, e, 1<<40)
		return l.data
	}, "buffer 1 at 1099511627776"},
	{"bad-buffer-negative-length", "zstd", func(l *shardLayout) []byte {
		e, _, _ := l.buffer(0, 3)
		put64(l.data, e+8, 1<<63)
		return l.data
	}, "lies outside the"},
	{"bad-uncompressed-length", "zstd", func(l *shardLayout) []byte {
		_, body := l.batch(0)
		for j := 0; ; j++ {
			_, off, length := l.buffer(0, j)
			if length >= 8 {
				// arrow-go would allocate this much before decompressing.
				put64(l.data, body+int(off), 1<<40)
				return l.data
			}
		}
	}, "declares 1099511627776 bytes uncompressed; a batch of 4 rows holds at most"},
	{"bad-uncompressed-negative", "zstd", func(l *shardLayout) []byte {
		_, body := l.batch(1)
		for j := 0; ; j++ {
			_, off, length := l.buffer(1, j)
			if length >= 8 {
				put64(l.data, body+int(off), uint64(1<<64-5))
				return l.data
			}
		}
	}, "declares -5 bytes uncompressed"},
	{"bad-compression-codec", "zstd", func(l *shardLayout) []byte {
		rb, _ := l.batch(0)
		c := l.must(rb.table(batchCompression, "compression"))
		p, ok, _ := c.field(0, 1)
		if !ok {
			// ZSTD is 1, LZ4_FRAME the default 0: the writer always stores it.
			l.t.Fatal("no codec field")
		}
		l.data[int(c.fb.base)+p] = 9
		return l.data
	}, "unknown compression codec 9"},
	{"bad-footer-length", "zstd", func(l *shardLayout) []byte {
		put32(l.data, len(l.data)-ipcTrailer, 0x7ffffff0)
		return l.data
	}, "footer length 2147483632"},
	{"bad-truncated", "zstd", func(l *shardLayout) []byte {
		return l.data[:len(l.data)-7]
	}, "closing magic"},
	{"bad-leading-magic", "none", func(l *shardLayout) []byte {
		copy(l.data, "ARROW2")
		return l.data
	}, "offset 0: magic"},
}

func TestCheckIPCRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			data := d.apply(layoutOf(t, seedShard(t, true, d.comp)))
			err := checkIPC(bytes.NewReader(data), int64(len(data)))
			if err == nil || !strings.Contains(err.Error(), d.want) {
				t.Fatalf("error %v, want one containing %q", err, d.want)
			}
			// Open reports it as an unreadable file, naming the path and an offset.
			p := filepath.Join(dir, d.name+".arrow")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Open(p)
			if err == nil {
				r.Close()
				t.Fatal("Open accepted the damaged file")
			}
			if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, "not a readable Arrow IPC file") || !strings.Contains(msg, "offset") {
				t.Fatalf("Open error %q should name the file and an offset", msg)
			}
		})
	}
}

// Every shard the writer makes passes the check, whatever its compression,
// element type or row count.
func TestCheckIPCAcceptsWrittenShards(t *testing.T) {
	for _, float := range []bool{true, false} {
		for _, comp := range vocab.Compressions {
			for _, n := range []int{0, 1, 9, 100} {
				meta := testMeta(float)
				var buf bytes.Buffer
				if _, err := Write(&buf, meta, randomRows(rand.New(rand.NewPCG(uint64(n), 2)), n, meta), WithCompression(comp), WithBatchRows(7)); err != nil {
					t.Fatal(err)
				}
				if err := checkIPC(bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
					t.Errorf("float=%v %s %d rows: %v", float, comp, n, err)
				}
			}
		}
	}
}

// The uncompressed-length bound follows the schema: a prefix one byte above
// what a batch of its rows can hold is refused, the exact maximum is not.
func TestUncompressedBoundFollowsSchema(t *testing.T) {
	data := seedShard(t, true, "zstd")
	l := layoutOf(t, data)
	rb, body := l.batch(0)
	rows := int64(4)
	if p, ok, _ := rb.field(batchLength, 8); !ok || flatbuffers.GetInt64(rb.fb.b[p:]) != rows {
		t.Fatal("the first batch should hold 4 rows")
	}
	limit := (rows+1)*int64(testMeta(true).Elems())*8 + 64 // the image column: 6 float32 per row, bounded at 8 bytes each
	// The pixels: after 3 × (validity, values), the list's and the child's validity.
	_, off, length := l.buffer(0, 8)
	if length < 8 {
		t.Fatalf("pixel buffer of %d bytes", length)
	}
	checkPrefixBound(t, data, body+int(off), uint64(limit), "holds at most "+strconv.FormatInt(limit, 10))
}

// Every single byte of the footer and of the batches' metadata, set to 0x00
// and to 0xff in turn, gives an error or a consistent read, never a panic.
func TestEveryMetadataByteDamaged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.arrow")
	for _, comp := range []vocab.Compression{vocab.CompressionZstd, vocab.CompressionNone} {
		seed := seedShard(t, false, comp)
		if err := os.WriteFile(p, seed, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		l := layoutOf(t, seed)
		spans := [][2]int{{l.footerStart, len(seed)}}
		for i := 0; i < 3; i++ {
			b, _ := l.block(i)
			spans = append(spans, [2]int{int(b.offset), int(b.offset) + int(b.meta)})
		}
		for _, s := range spans {
			for pos := s[0]; pos < s[1]; pos++ {
				for _, v := range []byte{0x00, 0xff} {
					if v == seed[pos] {
						continue
					}
					if _, err := f.WriteAt([]byte{v}, int64(pos)); err != nil {
						t.Fatal(err)
					}
					readDamaged(t, p, pos)
				}
				if _, err := f.WriteAt(seed[pos:pos+1], int64(pos)); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.Close()
	}
}

// readDamaged opens and reads a damaged shard; rows it returns must be
// consistent with its metadata.
func readDamaged(t *testing.T, p string, pos int) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("byte %d: panic %v", pos, r)
		}
	}()
	r, err := Open(p)
	if err != nil {
		return
	}
	defer r.Close()
	rows, err := r.ReadAll()
	if err != nil {
		return
	}
	if err := checkRows(r.Meta(), &rows); err != nil {
		t.Fatalf("byte %d: inconsistent rows: %v", pos, err)
	}
}

// The committed seeds in testdata/fuzz/FuzzReader are the damages above
// (rewritten with -update-corpus); the fuzz target runs them on every go test.
func TestFuzzCorpus(t *testing.T) {
	want := map[string]string{}
	for _, d := range damages {
		data := d.apply(layoutOf(t, seedShard(t, true, d.comp)))
		want[d.name] = "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
	}
	if *updateCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range want {
			if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Fatalf("%v (run go test ./formats/shard -run TestFuzzCorpus -update-corpus)", err)
		}
		if string(got) != text {
			t.Errorf("%s differs from the damage it records (run with -update-corpus)", name)
		}
	}
}

// BenchmarkCheckIPC measures the footer and metadata check on an
// MNIST-sized shard (10000 rows of 28×28 float32 in batches of 1024).
func BenchmarkCheckIPC(b *testing.B) {
	meta := testMeta(true)
	meta.Height, meta.Width = 28, 28
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, randomRows(rand.New(rand.NewPCG(1, 1)), 10000, meta), WithBatchRows(1024)); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "s.arrow")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := checkFile(f); err != nil {
			b.Fatal(err)
		}
	}
}

package shard

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// FuzzFormatsAgree writes the same rows as an Arrow IPC shard and as a
// Parquet shard, with the sizes, batch length and compression the fuzzer
// picks and pixel values from its bytes (raw float32 bits for float shards:
// infinities, -0, subnormals, and NaNs, which both writers must refuse
// alike), and reads both back: the metadata, the rows (bit for bit) and the
// data hashes must be identical.
func FuzzFormatsAgree(f *testing.F) {
	f.Add(uint8(9), uint8(3), uint8(2), uint8(1), true, uint8(4), uint8(0), uint64(1), []byte(nil))
	f.Add(uint8(0), uint8(1), uint8(1), uint8(1), false, uint8(1), uint8(1), uint64(2), []byte("pixels"))
	f.Add(uint8(40), uint8(5), uint8(4), uint8(3), true, uint8(7), uint8(2), uint64(3),
		binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN()))), 0x80000000))
	f.Fuzz(func(t *testing.T, n, h, w, c uint8, float bool, batch, comp uint8, seed uint64, pixels []byte) {
		meta := testMeta(float)
		meta.Height, meta.Width, meta.Channels = 1+int(h)%8, 1+int(w)%8, 1+int(c)%3
		meta.Mean, _ = meta.Mean.Broadcast(meta.Channels) // one value per channel, as a writer must
		meta.Std, _ = meta.Std.Broadcast(meta.Channels)
		rows := fuzzRows(rand.New(rand.NewPCG(seed, 5)), int(n)%70, meta, pixels)
		opts := []Option{WithBatchRows(1 + int(batch)%20), WithCompression(vocab.Compressions[int(comp)%len(vocab.Compressions)])}
		var ipcBuf, pqBuf bytes.Buffer
		ipcRes, ierr := Write(&ipcBuf, meta, rows, opts...)
		pqRes, perr := WriteParquet(&pqBuf, meta, rows, opts...)
		if nan := hasNaN(rows.ImageF32); nan || ierr != nil || perr != nil {
			// Both writers refuse NaN pixels, and nothing else here.
			if !nan || ierr == nil || perr == nil || ierr.Error() != perr.Error() || ipcBuf.Len()+pqBuf.Len() != 0 {
				t.Fatalf("NaN pixels: %v; IPC writer: %v; Parquet writer: %v", nan, ierr, perr)
			}
			return
		}
		if ipcRes != pqRes {
			t.Fatalf("results differ: IPC %+v, Parquet %+v", ipcRes, pqRes)
		}
		ir, err := ipcBytes(ipcBuf.Bytes(), "fuzz.arrow", memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer ir.Close()
		pr, err := parquetBytes(pqBuf.Bytes(), "fuzz.parquet", memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		if !ir.Schema().Equal(pr.Schema()) || !ir.Schema().Metadata().Equal(pr.Schema().Metadata()) {
			t.Fatalf("schemas differ:\n%v\n%v", ir.Schema(), pr.Schema())
		}
		if ir.NumBatches() != pr.NumBatches() {
			t.Fatalf("%d IPC batches, %d row groups", ir.NumBatches(), pr.NumBatches())
		}
		fromIPC, err := ir.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		fromPq, err := pr.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !sameRows(fromIPC, rows) || !sameRows(fromPq, rows) {
			t.Fatalf("rows read back differ (IPC same: %v, Parquet same: %v)", sameRows(fromIPC, rows), sameRows(fromPq, rows))
		}
		h1, h2 := NewDataHasher(), NewDataHasher()
		h1.Add(fromIPC)
		h2.Add(fromPq)
		if h1.Sum() != ipcRes.DataSHA256 || h2.Sum() != ipcRes.DataSHA256 {
			t.Fatal("data hash of the rows read back differs from the written one")
		}
	})
}

// fuzzRows makes n rows for meta: pixels from raw (4 bytes per float32
// pixel, 1 per uint8 pixel) as far as it reaches, then random.
func fuzzRows(r *rand.Rand, n int, meta Meta, raw []byte) Rows {
	rows := randomRows(r, n, meta)
	if meta.Float() {
		for i := range rows.ImageF32 {
			if 4*i+4 > len(raw) {
				break
			}
			rows.ImageF32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	} else {
		copy(rows.ImageU8, raw)
	}
	return rows
}

func hasNaN(x []float32) bool {
	for _, v := range x {
		if v != v {
			return true
		}
	}
	return false
}

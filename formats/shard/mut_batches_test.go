package shard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// An IPC shard may hold record batches of no rows (other Arrow writers
// make them): they are read as no rows.
func TestIPCEmptyBatchRead(t *testing.T) {
	for _, float := range []bool{true, false} {
		meta := testMeta(float)
		rows := randomRows(rand.New(rand.NewPCG(2, 9)), 5, meta)
		empty := Rows{SourceIndex: []uint64{}, Label: []uint8{}, Copy: []uint16{}}
		if float {
			empty.ImageF32 = []float32{}
		} else {
			empty.ImageU8 = []uint8{}
		}
		schema := Schema(meta)
		var buf bytes.Buffer
		w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema), ipc.WithZstd())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []Rows{empty, rows, empty} {
			rec := Record(schema, r)
			err := w.Write(rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r, err := ipcBytes(buf.Bytes(), "s.arrow", mem)
		if err != nil {
			t.Fatalf("float=%v: %v", float, err)
		}
		if r.NumBatches() != 3 {
			t.Fatalf("%d batches", r.NumBatches())
		}
		back, err := r.ReadAll()
		r.Close()
		if err != nil {
			t.Fatalf("float=%v: %v", float, err)
		}
		if !equalRows(back, rows) {
			t.Fatalf("float=%v: rows differ", float)
		}
		mem.AssertSize(t, 0)
	}
}

// Every field node of a batch is checked, not only the first: a node with
// more nulls than values, a negative length or negative nulls is refused
// wherever it is.
func TestIPCEveryFieldNodeChecked(t *testing.T) {
	seed := seedShard(t, true, "zstd")
	l := layoutOf(t, seed)
	rb, _ := l.batch(1)
	nodes := l.vectorAt(rb, batchNodes) + 4
	_, n, err := rb.vector(batchNodes, nodeSize, maxNodes, "nodes")
	if err != nil || n != 5 {
		t.Fatalf("%d nodes: %v", n, err)
	}
	for i := range n {
		length := int64(4)
		if i == 4 {
			length = 24 // the pixels: 4 rows of 6
		}
		for _, d := range []struct {
			at     int
			v      int64
			length int64
			nulls  int64
		}{{8, length + 1, length, length + 1}, {0, -1, -1, 0}, {8, -1, length, -1}} {
			data := slices.Clone(seed)
			put64(data, nodes+i*nodeSize+d.at, uint64(d.v))
			want := fmt.Sprintf("node %d: length %d with %d nulls", i, d.length, d.nulls)
			if err := checkBytes(data); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v, want %q", err, want)
			}
		}
	}
}

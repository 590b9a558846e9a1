package shard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// framed is an Arrow IPC file made of the opening magic, footer bytes, the
// footer's length word (footerLen) and the closing magic: nothing between the
// magics but the footer.
func framed(footer []byte, footerLen int32) []byte {
	b := append([]byte(ipcMagic+"\x00\x00"), footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(footerLen))
	return append(b, ipcMagic...)
}

// footerOf returns the footer bytes of an IPC file.
func footerOf(t *testing.T, data []byte) []byte {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(data[len(data)-ipcTrailer:]))
	return data[len(data)-ipcTrailer-n : len(data)-ipcTrailer]
}

// emptyShard is a shard of no rows: a schema and a footer without blocks.
func emptyShard(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(&buf, testMeta(true), Rows{}); err != nil {
		t.Fatal(err)
	}
	l := layoutOf(t, buf.Bytes())
	if blocks, err := l.footer.blocks(footerRecordBatches, "recordBatches"); err != nil || len(blocks) != 0 {
		t.Fatalf("a shard of no rows has %d record batches (%v)", len(blocks), err)
	}
	return buf.Bytes()
}

func checkBytes(data []byte) error { return checkIPC(bytes.NewReader(data), int64(len(data))) }

// checkPrefixBound sets the uncompressed-length prefix at data[at:] to limit,
// which must pass, and to limit+1, which must fail with an error holding want.
func checkPrefixBound(t *testing.T, data []byte, at int, limit uint64, want string) {
	t.Helper()
	put64(data, at, limit)
	if err := checkBytes(data); err != nil {
		t.Fatalf("prefix at the bound refused: %v", err)
	}
	put64(data, at, limit+1)
	if err := checkBytes(data); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("prefix above the bound: %v", err)
	}
}

// Files shorter than the two magics and the footer length (18 bytes) are too
// short, whatever they hold; an 18-byte file is long enough to read its
// footer length, and 0 is refused as a length.
func TestIPCShortestFiles(t *testing.T) {
	min18 := framed(nil, 0)
	if len(min18) != ipcLeader+ipcTrailer {
		t.Fatalf("%d bytes", len(min18))
	}
	for n := 0; n < len(min18); n++ {
		for _, data := range [][]byte{min18[:n], min18[len(min18)-n:], []byte((ipcMagic + ipcMagic + "\x00\x00\x00\x00\x00")[:n])} {
			err := checkBytes(data)
			if want := fmt.Sprintf("%d bytes: too short for an Arrow IPC file", n); err == nil || err.Error() != want {
				t.Errorf("%q: %v, want %q", data, err, want)
			}
		}
	}
	// Both magics, 12 bytes: too short all the same.
	if err := checkBytes([]byte(ipcMagic + ipcMagic)); err == nil || !strings.Contains(err.Error(), "12 bytes: too short") {
		t.Errorf("magic twice: %v", err)
	}
	if err := checkBytes(min18); err == nil || err.Error() != "offset 8: footer length 0, want 1 to 0" {
		t.Errorf("18 bytes: %v", err)
	}
}

// The footer length lies in [1, the bytes between the magics]: a footer that
// fills all of them is read, one byte more is refused with the bound.
func TestIPCFooterLengthBounds(t *testing.T) {
	footer := footerOf(t, emptyShard(t))
	data := framed(footer, int32(len(footer)))
	if err := checkBytes(data); err != nil {
		t.Fatalf("a footer filling the file refused: %v", err)
	}
	room := len(footer)
	for _, n := range []int32{int32(room) + 1, int32(room) + ipcLeader, 0, -1} {
		data := framed(footer, n)
		want := fmt.Sprintf("offset %d: footer length %d, want 1 to %d", len(data)-ipcTrailer, n, room)
		if err := checkBytes(data); err == nil || err.Error() != want {
			t.Errorf("length %d: %v, want %q", n, err, want)
		}
	}
	// With more data before the footer, the bound grows with it.
	shard := seedShard(t, true, "zstd")
	room = len(shard) - ipcLeader - ipcTrailer
	put32(shard, len(shard)-ipcTrailer, uint32(room+1))
	want := fmt.Sprintf("footer length %d, want 1 to %d", room+1, room)
	if err := checkBytes(shard); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("seed shard: %v, want %q", err, want)
	}
}

// A file cut short names the offset where its closing magic should start.
func TestIPCTruncationNamesTheOffset(t *testing.T) {
	shard := seedShard(t, false, "none")
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		n := ipcLeader + ipcTrailer + r.IntN(len(shard)-ipcLeader-ipcTrailer-1)
		want := fmt.Sprintf("offset %d: closing magic", n-len(ipcMagic))
		if err := checkBytes(shard[:n]); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("cut to %d bytes: %v, want %q", n, err, want)
		}
	}
}

// zeroFile is an IPC file of size bytes that holds zeros but for both magics
// and the footer length.
type zeroFile struct {
	size      int64
	footerLen int32
}

func (z zeroFile) ReadAt(p []byte, off int64) (int, error) {
	var framing [ipcLeader + ipcTrailer]byte
	copy(framing[:], ipcMagic)
	binary.LittleEndian.PutUint32(framing[ipcLeader:], uint32(z.footerLen))
	copy(framing[ipcLeader+4:], ipcMagic)
	for i := range p {
		switch at := off + int64(i); {
		case at < ipcLeader:
			p[i] = framing[at]
		case at >= z.size-ipcTrailer:
			p[i] = framing[ipcLeader+at-(z.size-ipcTrailer)]
		default:
			p[i] = 0
		}
	}
	return len(p), nil
}

// A footer of up to 64 MiB is read (and here found to be no flatbuffer);
// a longer one is refused by its length alone.
func TestIPCFooterLengthCap(t *testing.T) {
	size := int64(ipcLeader+ipcTrailer) + maxFooterBytes + 100
	err := checkIPC(zeroFile{size, maxFooterBytes}, size)
	if err == nil || strings.Contains(err.Error(), "footer length") || !strings.Contains(err.Error(), "vtable") {
		t.Errorf("a %d-byte footer: %v, want the footer's vtable refused", maxFooterBytes, err)
	}
	want := fmt.Sprintf("footer length %d, want 1 to %d", maxFooterBytes+1, maxFooterBytes)
	if err := checkIPC(zeroFile{size, maxFooterBytes + 1}, size); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a footer one byte longer: %v, want %q", err, want)
	}
}

// An empty vector may be the last four bytes of the footer: a footer whose
// (empty) dictionaries list is moved there is read as before.
func TestIPCEmptyVectorAtTheFooterEnd(t *testing.T) {
	data := seedShard(t, true, "zstd")
	l := layoutOf(t, data)
	fb := l.footer.fb
	p, ok, err := l.footer.field(footerDictionaries, 4)
	if !ok || err != nil {
		t.Fatalf("no dictionaries: %v", err)
	}
	if _, n, err := l.footer.vector(footerDictionaries, blockSize, 1, "dictionaries"); n != 0 || err != nil {
		t.Fatalf("%d dictionaries: %v", n, err)
	}
	end := len(fb.b) - 4
	if binary.LittleEndian.Uint32(fb.b[end:]) != 0 {
		t.Fatal("the footer does not end in a zero word")
	}
	put32(data, l.footerStart+p, uint32(end-p))
	if err := checkBytes(data); err != nil {
		t.Fatalf("an empty vector at the end refused: %v", err)
	}
	r, err := ipcBytes(data, "s.arrow", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rows, err := r.ReadAll(); err != nil || rows.Len() != 9 {
		t.Fatalf("%d rows: %v", rows.Len(), err)
	}
}

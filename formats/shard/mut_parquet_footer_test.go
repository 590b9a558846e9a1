package shard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/metadata"
)

func checkParquetBytes(data []byte) error {
	return checkParquetFooter(bytes.NewReader(data), int64(len(data)))
}

// A Parquet file has at least a 4-byte magic, a footer length and the
// closing magic: anything shorter than 12 bytes is too short, whatever it
// holds; a 12-byte file with an empty footer gets as far as the footer.
func TestParquetShortestFiles(t *testing.T) {
	seed := seedParquet(t, true, "zstd")
	for n := range 4 + parquetTail {
		for _, data := range [][]byte{seed[len(seed)-n:], seed[:n], make([]byte, n)} {
			want := fmt.Sprintf("%d bytes, too short for a Parquet file", n)
			if err := checkParquetBytes(data); err == nil || err.Error() != want {
				t.Errorf("%q: %v, want %q", data, err, want)
			}
		}
	}
	if err := checkParquetBytes([]byte("PAR1\x00\x00\x00\x00PAR1")); err == nil || err.Error() != "footer: at byte 0: unexpected end" {
		t.Errorf("12 bytes: %v", err)
	}
}

// The footer length counts at most the bytes between the two magics: a
// footer filling all of them is read (here the first page header, which
// the Thrift walk takes for a footer without a schema), one byte more is
// refused by its length.
func TestParquetFooterLengthBound(t *testing.T) {
	seed := seedParquet(t, true, "zstd")
	room := len(seed) - 4 - parquetTail
	for _, n := range []int{room, room + 1} {
		data := slices.Clone(seed)
		binary.LittleEndian.PutUint32(data[len(data)-parquetTail:], uint32(n))
		err := checkParquetBytes(data)
		want := fmt.Sprintf("footer of %d bytes in a file of %d", n, len(data))
		if n == room && err != nil {
			t.Errorf("a footer of the %d bytes between the magics: %v", n, err)
		}
		if n > room && (err == nil || err.Error() != want) {
			t.Errorf("one byte more: %v, want %q", err, want)
		}
	}
}

// Every schema element's child count is checked against the elements that
// follow it, not against those that follow the root: the image column
// (element 4 of 7) may declare 2 children, not 3.
func TestParquetChildCountOfALaterElement(t *testing.T) {
	for _, n := range []int32{2, 3} {
		d := parquetDamage{float: true, comp: "zstd", meta: func(md *metadata.FileMetaData) {
			if got := len(md.FileMetaData.Schema); got != 7 {
				t.Fatalf("%d schema elements", got)
			}
			md.FileMetaData.Schema[4].NumChildren = &n
		}}
		err := checkParquetBytes(d.damaged(t))
		if n == 2 && err != nil {
			t.Errorf("2 children: %v", err)
		}
		if want := "footer: schema element 4 declares 3 children, but only 2 elements follow it"; n == 3 && (err == nil || err.Error() != want) {
			t.Errorf("3 children: %v, want %q", err, want)
		}
	}
}

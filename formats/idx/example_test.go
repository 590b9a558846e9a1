package idx_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/shardsmith/shardsmith/formats/idx"
)

func Example() {
	// Two 2×3 "images", gzip-compressed.
	var file bytes.Buffer
	h := idx.Header{Type: idx.U8, Dims: []int{2, 2, 3}}
	if err := idx.WriteGzip(&file, h, []uint8{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}); err != nil {
		panic(err)
	}

	rd, err := idx.NewReader(&file, "images.gz")
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	fmt.Println(rd.Header(), rd.Header().ItemElems(), "elements per item")

	batch := make([]float32, 1*rd.Header().ItemElems()) // one item per read
	for {
		n, err := rd.ReadFloat32(batch)
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(n, batch)
	}
	// Output:
	// u8[2 2 3] 6 elements per item
	// 1 [0 1 2 3 4 5]
	// 1 [250 251 252 253 254 255]
}

func ExampleError() {
	// A file cut short in the middle of its second item.
	var file bytes.Buffer
	idx.Write(&file, idx.Header{Type: idx.I16, Dims: []int{3, 2}}, []int16{1, 2, 3, 4, 5, 6})
	rd, _ := idx.NewReader(bytes.NewReader(file.Bytes()[:17]), "labels.idx")

	_, err := rd.ReadFloat64(make([]float64, 6))
	var e *idx.Error
	if errors.As(err, &e) {
		fmt.Println(e.File, e.Offset)
	}
	fmt.Println(err)
	// Output:
	// labels.idx 17
	// idx: labels.idx: offset 17: expected 4 bytes of item 1 (of 3 items), got end of data 1 bytes into the item
}

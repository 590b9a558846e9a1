package decode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/shardsmith/shardsmith/formats/idx"
)

// rawContent is the SHA-256 of the IDX encoding of h and data, the content
// digest of any file holding them, raw or gzip'd.
func rawContent(t *testing.T, h idx.Header, data any) string {
	t.Helper()
	var b bytes.Buffer
	if err := idx.Write(&b, h, data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// Open takes the image shape from the header: rank 3 is one channel, rank
// 4 names its channels; any other rank or type is an error naming the
// images file. (A zero dimension never gets this far: the IDX reader
// refuses it.)
func TestOpenImageShapes(t *testing.T) {
	lab := writeIDX(t, "labels", true, idx.Header{Type: idx.U8, Dims: []int{2}}, []uint8{1, 0})
	for _, tc := range []struct {
		name    string
		h       idx.Header
		data    any
		shape   [3]int
		wantErr string
	}{
		{"rank 3", idx.Header{Type: idx.U8, Dims: []int{2, 3, 4}}, make([]uint8, 24), [3]int{3, 4, 1}, ""},
		{"rank 4", idx.Header{Type: idx.U8, Dims: []int{2, 3, 4, 3}}, make([]uint8, 72), [3]int{3, 4, 3}, ""},
		{"rank 2", idx.Header{Type: idx.U8, Dims: []int{2, 12}}, make([]uint8, 24), [3]int{}, "must have rank 3 (n,h,w) or 4"},
		{"rank 5", idx.Header{Type: idx.U8, Dims: []int{2, 1, 2, 3, 1}}, make([]uint8, 12), [3]int{}, "must have rank 3 (n,h,w) or 4"},
		{"int32", idx.Header{Type: idx.I32, Dims: []int{2, 2, 2}}, make([]int32, 8), [3]int{}, "images must be u8"},
	} {
		var buf bytes.Buffer
		if err := idx.WriteGzip(&buf, tc.h, tc.data); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p := filepath.Join(t.TempDir(), "images")
		os.WriteFile(p, buf.Bytes(), 0o644)
		pair, err := Open(File{Path: p, Name: "imgs.gz"}, lab, 2)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "imgs.gz") {
				t.Errorf("%s: err = %v, want one naming imgs.gz and saying %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := [3]int{pair.Height, pair.Width, pair.Channels}; got != tc.shape || pair.Elems() != got[0]*got[1]*got[2] || pair.Count() != 2 {
			t.Errorf("%s: shape %v, elems %d, count %d", tc.name, got, pair.Elems(), pair.Count())
		}
		pair.Close()
	}
}

// Labels must be u8 of rank 1, below the class count (the error gives the
// offset of the first bad one), and nothing may follow the last.
func TestOpenLabelChecks(t *testing.T) {
	img := writeIDX(t, "images", true, idx.Header{Type: idx.U8, Dims: []int{3, 2, 2}}, make([]uint8, 12))
	ok := writeIDX(t, "labels", true, idx.Header{Type: idx.U8, Dims: []int{3}}, []uint8{0, 2, 1})
	p, err := Open(img, ok, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Labels) != "\x00\x02\x01" {
		t.Errorf("labels %v", p.Labels)
	}
	p.Close()
	if _, err := Open(img, ok, 2); err == nil || !strings.Contains(err.Error(), "offset 9") ||
		!strings.Contains(err.Error(), "a label below 2") || !strings.Contains(err.Error(), "2 at item 1") {
		t.Errorf("label 2 of 2 classes: %v", err)
	}
	wide := writeIDX(t, "labels2d", true, idx.Header{Type: idx.U8, Dims: []int{3, 1}}, []uint8{0, 1, 0})
	if _, err := Open(img, wide, 3); err == nil || !strings.Contains(err.Error(), "labels2d: labels must be u8 with rank 1") {
		t.Errorf("rank-2 labels: %v", err)
	}
	// A raw label file with a byte more than its header declares.
	var raw bytes.Buffer
	idx.Write(&raw, idx.Header{Type: idx.U8, Dims: []int{3}}, []uint8{0, 2, 1})
	long := filepath.Join(t.TempDir(), "long")
	os.WriteFile(long, append(raw.Bytes(), 7), 0o644)
	if _, err := Open(img, File{Path: long, Name: "long"}, 3); err == nil || !strings.Contains(err.Error(), "long") {
		t.Errorf("labels with a trailing byte: %v", err)
	}
	// The same gzip'd: found only when the labels have been read.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(append(raw.Bytes(), 7))
	zw.Close()
	longGz := filepath.Join(t.TempDir(), "long.gz")
	os.WriteFile(longGz, zb.Bytes(), 0o644)
	if _, err := Open(img, File{Path: longGz, Name: "long.gz"}, 3); err == nil || !strings.Contains(err.Error(), "long.gz") ||
		!strings.Contains(err.Error(), "trailing") {
		t.Errorf("gzip'd labels with a trailing byte: %v", err)
	}
}

// The content digest is the SHA-256 of the file's bytes after gzip
// decoding: the same for a raw and a gzip copy, and the one Contents
// reports for both files of a pair.
func TestContentDigestsIgnoreTheContainer(t *testing.T) {
	h := idx.Header{Type: idx.U8, Dims: []int{5, 3, 3}}
	pix := make([]uint8, 45)
	for i := range pix {
		pix[i] = uint8(i * 7)
	}
	lh := idx.Header{Type: idx.U8, Dims: []int{5}}
	labels := []uint8{0, 1, 2, 1, 0}
	want, wantLabels := rawContent(t, h, pix), rawContent(t, lh, labels)
	for _, zip := range []bool{false, true} {
		img := writeIDX(t, "images", zip, h, pix)
		lab := writeIDX(t, "labels", zip, lh, labels)
		got, err := FileContent(img)
		if err != nil || got != want {
			t.Errorf("zip=%v: FileContent = %s, %v; want %s", zip, got, err, want)
		}
		ic, lc, err := Contents(img, lab, 3)
		if err != nil || ic != want || lc != wantLabels {
			t.Errorf("zip=%v: Contents = %s, %s, %v; want %s, %s", zip, ic, lc, err, want, wantLabels)
		}
		img.ContentSHA256 = strings.Repeat("0", 64)
		if _, err := FileContent(img); err == nil {
			t.Errorf("zip=%v: a wrong content pin passed", zip)
		}
	}
	i32 := writeIDXAny(t, "ints", idx.Header{Type: idx.I32, Dims: []int{2}}, []int32{1, 2})
	if _, err := FileContent(i32); err == nil || !strings.Contains(err.Error(), "not a u8 IDX file") {
		t.Errorf("int32 file: %v", err)
	}
}

// An image stream that holds more images than its header declares fails
// at its end, naming the file.
func TestReadEndRejectsExtraImages(t *testing.T) {
	var raw bytes.Buffer
	idx.Write(&raw, idx.Header{Type: idx.U8, Dims: []int{2, 2, 2}}, make([]uint8, 8))
	extra := append(raw.Bytes(), make([]uint8, 4)...)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(extra)
	zw.Close()
	for name, b := range map[string][]byte{"extra": extra, "extra.gz": zb.Bytes()} {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, b, 0o644)
		in, err := OpenIDX(File{Path: p, Name: name})
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if _, err := in.ReadU8(make([]uint8, 8)); err != nil {
			t.Fatal(err)
		}
		err = in.End()
		in.Close()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: images after the declared count: %v", name, err)
		}
	}
}

// Images larger than a read buffer's first guess (40×40 = 1600 bytes, more
// than 1024 items' worth of a small image) are read whole by FileContent
// and Contents.
func TestContentsOfLargerImages(t *testing.T) {
	h := idx.Header{Type: idx.U8, Dims: []int{3, 40, 40}}
	pix := make([]uint8, 3*1600)
	for i := range pix {
		pix[i] = uint8(i)
	}
	img := writeIDX(t, "images", true, h, pix)
	lab := writeIDX(t, "labels", true, idx.Header{Type: idx.U8, Dims: []int{3}}, []uint8{0, 1, 0})
	want := rawContent(t, h, pix)
	if got, err := FileContent(img); err != nil || got != want {
		t.Errorf("FileContent = %s, %v; want %s", got, err, want)
	}
	if got, _, err := Contents(img, lab, 2); err != nil || got != want {
		t.Errorf("Contents = %s, %v; want %s", got, err, want)
	}
}

func writeIDXAny(t *testing.T, name string, h idx.Header, data any) File {
	t.Helper()
	var buf bytes.Buffer
	if err := idx.WriteGzip(&buf, h, data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return File{Path: p, Name: name}
}

// MaxImageBytes is the largest image allowed, not the first refused.
func TestOpenImageOfMaxImageBytes(t *testing.T) {
	one := writeIDX(t, "one", true, idx.Header{Type: idx.U8, Dims: []int{1}}, []uint8{0})
	for _, tc := range []struct {
		w  int
		ok bool
	}{{MaxImageBytes / 16384, true}, {MaxImageBytes/16384 + 1, false}} {
		// A gzip'd header declaring one 16384×w image, with no pixels:
		// Open reads headers and labels only.
		var raw bytes.Buffer
		raw.Write([]byte{0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0, 0x40, 0})
		raw.Write([]byte{byte(tc.w >> 24), byte(tc.w >> 16), byte(tc.w >> 8), byte(tc.w)})
		p := filepath.Join(t.TempDir(), "big")
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(raw.Bytes())
		zw.Close()
		os.WriteFile(p, zb.Bytes(), 0o644)
		pair, err := Open(File{Path: p, Name: "big"}, one, 3)
		if tc.ok {
			if err != nil {
				t.Errorf("16384x%d (%d bytes): %v", tc.w, 16384*tc.w, err)
			} else {
				pair.Close()
			}
		} else if err == nil || !strings.Contains(err.Error(), "an image may have") {
			t.Errorf("16384x%d: %v", tc.w, err)
		}
	}
}

// Closing an input twice reports the second close.
func TestInputCloseTwice(t *testing.T) {
	img := writeIDX(t, "images", false, idx.Header{Type: idx.U8, Dims: []int{1, 2, 2}}, make([]uint8, 4))
	in, err := OpenIDX(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err == nil {
		t.Fatal("second Close reported no error")
	}
}

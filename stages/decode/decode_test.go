package decode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/shardsmith/shardsmith/formats/idx"
)

// writeIDX writes a u8 IDX file (gzip'd when zip is set) and returns it as
// a File pinned to its SHA-256.
func writeIDX(t *testing.T, name string, zip bool, h idx.Header, data []uint8) File {
	t.Helper()
	var buf bytes.Buffer
	write := idx.Write
	if zip {
		write = idx.WriteGzip
	}
	if err := write(&buf, h, data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return File{Path: p, Name: name, SHA256: hex.EncodeToString(sum[:])}
}

func readAll(t *testing.T, p *Pair) error {
	t.Helper()
	buf := make([]uint8, p.Count()*p.Elems()+p.Elems())
	if _, err := p.Read(buf); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return p.ReadEnd()
}

// The bytes decoded are the bytes the SHA-256 pins: a file that differs
// from its pinned digest (changed after its download was verified) fails at
// the end of its stream, naming the file and both digests, for raw and gzip
// files, images and labels.
func TestDecodedBytesAreCheckedAgainstTheirSHA256(t *testing.T) {
	for _, zip := range []bool{false, true} {
		img := writeIDX(t, "images", zip, idx.Header{Type: idx.U8, Dims: []int{3, 2, 2}}, make([]uint8, 12))
		lab := writeIDX(t, "labels", zip, idx.Header{Type: idx.U8, Dims: []int{3}}, []uint8{0, 1, 2})
		p, err := Open(img, lab, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := readAll(t, p); err != nil {
			t.Fatalf("zip=%v: pinned files: %v", zip, err)
		}
		p.Close()

		wrong := strings.Repeat("ab", 32)
		badImg := img
		badImg.SHA256 = wrong
		p, err = Open(badImg, lab, 3)
		if err != nil {
			t.Fatal(err)
		}
		err = readAll(t, p)
		p.Close()
		if err == nil || !strings.Contains(err.Error(), "images: the file changed after it was verified") || !strings.Contains(err.Error(), "want "+wrong) {
			t.Fatalf("zip=%v: images with another digest: %v", zip, err)
		}
		badLab := lab
		badLab.SHA256 = wrong
		if _, err := Open(img, badLab, 3); err == nil || !strings.Contains(err.Error(), "labels: the file changed") {
			t.Fatalf("zip=%v: labels with another digest: %v", zip, err)
		}
	}
}

// Headers are checked against each other and the file before anything is
// sized by them: a raw label file shorter than its header (hashed input or
// not), a label count that differs from the image count, and an image over
// MaxImageBytes are refused at Open.
func TestHeadersAreCheckedBeforeReading(t *testing.T) {
	img := writeIDX(t, "images", true, idx.Header{Type: idx.U8, Dims: []int{3, 2, 2}}, make([]uint8, 12))
	lab := writeIDX(t, "labels", false, idx.Header{Type: idx.U8, Dims: []int{3}}, []uint8{0, 1, 2})
	short := lab
	b, _ := os.ReadFile(lab.Path)
	short.Path = filepath.Join(t.TempDir(), "short")
	os.WriteFile(short.Path, b[:len(b)-1], 0o644)
	for _, sha := range []string{"", short.SHA256} {
		short.SHA256 = sha
		if _, err := Open(img, short, 3); err == nil || !strings.Contains(err.Error(), "fits the file") {
			t.Fatalf("short raw labels (sha %q): %v", sha, err)
		}
	}
	four := writeIDX(t, "labels4", true, idx.Header{Type: idx.U8, Dims: []int{4}}, []uint8{0, 1, 2, 0})
	if _, err := Open(img, four, 3); err == nil || !strings.Contains(err.Error(), "images holds 3 images but labels4 holds 4 labels") {
		t.Fatalf("count mismatch: %v", err)
	}
	// 1×20000×20000×1: 400 MB declared, a few bytes held.
	raw := []byte{0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20}
	huge := filepath.Join(t.TempDir(), "huge")
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	os.WriteFile(huge, zb.Bytes(), 0o644)
	one := writeIDX(t, "one", true, idx.Header{Type: idx.U8, Dims: []int{1}}, []uint8{0})
	if _, err := Open(File{Path: huge, Name: "huge"}, one, 3); err == nil || !strings.Contains(err.Error(), "an image may have") {
		t.Fatalf("huge image: %v", err)
	}
}

func TestBatchItemsFollowsTheImageSize(t *testing.T) {
	for _, c := range []struct{ item, want, got int }{
		{784, 1024, 1024},
		{1 << 20, 1024, batchBytes >> 20},
		{MaxImageBytes, 1024, 1},
		{0, 8, 8},
	} {
		if n := BatchItems(c.item, c.want); n != c.got {
			t.Errorf("BatchItems(%d, %d) = %d, want %d", c.item, c.want, n, c.got)
		}
	}
}

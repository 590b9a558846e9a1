package images

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Listing.Decode reads small files whole and decodes them from memory,
// and streams a file past maxInMemory: both give the pixels Decode gives
// from the file itself.
func TestListingDecodeInMemoryAndStreamed(t *testing.T) {
	root := t.TempDir()
	for i := range 4 {
		img := image.NewNRGBA(image.Rect(0, 0, 40+i, 30))
		for j := range img.Pix {
			img.Pix[j] = uint8(j*31 + i)
		}
		writeFile(t, filepath.Join(root, "c", fmt.Sprintf("%d.png", i)), pngBytes(t, img))
	}
	_, ls, err := List(nil, Source{Folder: root})
	if err != nil {
		t.Fatal(err)
	}
	cv := &Converter{Height: 24, Width: 24, Channels: 3, Resize: Fill}
	decode := func() [][]byte {
		var out [][]byte
		for i := range ls[0].Entries {
			dst := make([]uint8, cv.Elems())
			if err := ls[0].Decode(cv, i, dst); err != nil {
				t.Fatal(err)
			}
			out = append(out, dst)
		}
		return out
	}
	inMemory := decode()
	saved := maxInMemory
	maxInMemory = 100 // every file is larger: streamed
	streamed := decode()
	maxInMemory = saved
	for i := range inMemory {
		want := make([]uint8, cv.Elems())
		if err := cv.DecodeFile(ls[0].Path(i), want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(inMemory[i], want) || !bytes.Equal(streamed[i], want) {
			t.Fatalf("file %d: the in-memory or streamed decode differs from DecodeFile", i)
		}
	}
	if _, err := readUpTo(nil, bytes.NewReader(make([]byte, 300)), 100, nil); err != errTooLarge {
		t.Fatalf("readUpTo past its limit: err = %v", err)
	}
	if b, err := readUpTo(nil, bytes.NewReader(make([]byte, 99)), 100, nil); err != nil || len(b) != 99 {
		t.Fatalf("readUpTo under its limit: %d bytes, err = %v", len(b), err)
	}
}

// BenchmarkDecodeMNISTPNG decodes 28×28 gray PNG files as a tree build
// does (go test -run '^$' -bench DecodeMNIST ./stages/images).
func BenchmarkDecodeMNISTPNG(b *testing.B) {
	root := b.TempDir()
	for i := range 64 {
		g := image.NewGray(image.Rect(0, 0, 28, 28))
		for j := range g.Pix {
			if (j*7+i)%5 < 2 {
				g.Pix[j] = uint8(j * i)
			}
		}
		var buf bytes.Buffer
		if err := pngEncode(&buf, g); err != nil {
			b.Fatal(err)
		}
		writeFileB(b, filepath.Join(root, "c", fmt.Sprintf("%02d.png", i)), buf.Bytes())
	}
	_, ls, err := List(nil, Source{Folder: root})
	if err != nil {
		b.Fatal(err)
	}
	cv := &Converter{Height: 28, Width: 28, Channels: 1, Resize: Fit}
	dst := make([]uint8, cv.Elems())
	b.Run("Listing.Decode", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := ls[0].Decode(cv, i%64, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeFile", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := cv.DecodeFile(ls[0].Path(i%64), dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func pngEncode(w *bytes.Buffer, img image.Image) error { return png.Encode(w, img) }

func writeFileB(b *testing.B, path string, data []byte) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// Listing.Decode fails as opening and reading the file with package os
// would: a missing file with the open error (unwrapped: the caller names
// the file), a directory with the read error.
func TestListingDecodeErrorsAsOS(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "c", "a.png"), pngBytes(t, image.NewGray(image.Rect(0, 0, 2, 2))))
	if err := os.Mkdir(filepath.Join(root, "c", "dir.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &Listing{Root: root, dir: root, Entries: []Entry{{Rel: "c/missing.png"}, {Rel: "c/dir.png"}, {Rel: "c/a.png"}}}
	cv := &Converter{Height: 2, Width: 2, Channels: 1}
	dst := make([]uint8, cv.Elems())
	for i := range l.Entries {
		var want error
		f, err := os.Open(l.Path(i))
		if err != nil {
			want = errors.Unwrap(err)
		} else {
			_, want = io.ReadAll(f)
			f.Close()
		}
		got := l.Decode(cv, i, dst)
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			t.Errorf("%s: Decode: %v, package os: %v", l.Entries[i].Rel, got, want)
		}
	}
}

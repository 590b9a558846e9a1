package images

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// encodings of one small gradient image, the fuzzers' seeds.
func seedImages(f *testing.F) [][]byte {
	f.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			img.Set(x, y, color.NRGBA{uint8(40 * x), uint8(80 * y), 200, uint8(255 - 30*x)})
		}
	}
	var out [][]byte
	for _, enc := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return png.Encode(b, img) },
		func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) },
		func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) },
	} {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			f.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// FuzzDecode: whatever bytes a file holds, Decode either refuses them with
// an error or fills the whole destination, the same way every time, for
// every shape and resize method; it never panics. DecodeBytes (which
// decodes the common PNG files with pngReader, not image/png) gives the
// same error or the same pixels.
func FuzzDecode(f *testing.F) {
	for i, b := range seedImages(f) {
		f.Add(b, uint8(i))
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"), uint8(0))
	for i, s := range []pngSpec{
		{w: 4, h: 5, depth: 8, ct: 0, filters: []byte{0, 1, 2, 3, 4}},
		{w: 3, h: 3, depth: 8, ct: 2, filters: []byte{4, 3}, idatSize: 6, before: 1, after: 1},
		{w: 5, h: 2, depth: 8, ct: 6, filters: []byte{2, 1}},
		{w: 6, h: 6, depth: 8, ct: 0, interlace: true, filters: []byte{1, 4}},
	} {
		f.Add(writePNG(f, s), uint8(1+i*29))
	}
	f.Fuzz(func(t *testing.T, data []byte, shape uint8) {
		c := &Converter{Height: 1 + int(shape%7), Width: 1 + int(shape/7%5), Channels: []int{1, 3}[shape>>7], Resize: []string{Fit, Fill}[shape>>6&1]}
		first := make([]uint8, c.Elems())
		for i := range first {
			first[i] = 0xAA
		}
		err := c.Decode(bytes.NewReader(data), first)
		second := make([]uint8, c.Elems())
		err2 := c.Decode(bytes.NewReader(data), second)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("decoding twice: %v, then %v", err, err2)
		}
		if err == nil && !bytes.Equal(first, second) {
			t.Fatalf("decoding twice gave different pixels (is every byte of the destination written?)")
		}
		fromBytes := make([]uint8, c.Elems())
		err3 := c.DecodeBytes(data, fromBytes)
		if (err == nil) != (err3 == nil) || (err != nil && err.Error() != err3.Error()) {
			t.Fatalf("Decode: %v, DecodeBytes: %v", err, err3)
		}
		if err == nil && !bytes.Equal(first, fromBytes) {
			t.Fatalf("DecodeBytes gave other pixels than Decode")
		}
	})
}

// FuzzListCSV: whatever a CSV list holds, List either refuses it or lists
// files that exist inside the root, each once, with a class among the
// classes, in (class, path) order; it never panics.
func FuzzListCSV(f *testing.F) {
	f.Add([]byte("path,label\na.png,cat\nb/c.png,dog\n"), false)
	f.Add([]byte("path,label\nb/c.png,1\na.png,0\n"), true)
	f.Add([]byte("path,label\n../x.png,cat\n"), false)
	f.Add([]byte("\ufeffpath,label\n\"a.png\",\"cat\"\na.png,cat\n"), false)
	root := f.TempDir()
	for _, p := range []string{"a.png", "b/c.png", "b/d.png"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("not decoded by List"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	list := filepath.Join(f.TempDir(), "list.csv")
	f.Fuzz(func(t *testing.T, data []byte, explicit bool) {
		if err := os.WriteFile(list, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var classes []string
		if explicit {
			classes = []string{"cat", "dog"}
		}
		got, ls, err := List(classes, Source{CSV: list, Root: root})
		if err != nil {
			return
		}
		if len(ls) != 1 || len(got) == 0 || len(got) > 256 {
			t.Fatalf("%d listings, %d classes", len(ls), len(got))
		}
		seen := map[string]bool{}
		for i, e := range ls[0].Entries {
			if int(e.Class) >= len(got) {
				t.Fatalf("entry %d: class %d of %d", i, e.Class, len(got))
			}
			if e.Rel != path.Clean(e.Rel) || path.IsAbs(e.Rel) || e.Rel == ".." || strings.HasPrefix(e.Rel, "../") || seen[e.Rel] {
				t.Fatalf("entry %d: path %q is not a new clean path inside the root", i, e.Rel)
			}
			seen[e.Rel] = true
			if fi, err := os.Stat(ls[0].Path(i)); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("entry %d: %s is not a listed regular file: %v", i, ls[0].Path(i), err)
			}
			if i > 0 {
				p := ls[0].Entries[i-1]
				if p.Class > e.Class || (p.Class == e.Class && p.Rel >= e.Rel) {
					t.Fatalf("entries %d and %d out of (class, path) order", i-1, i)
				}
			}
		}
	})
}

package images

import (
	"bytes"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gray(w, h int, v uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v + uint8(i)
	}
	return g
}

func TestListOrderAndClasses(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"dog/b.png", "dog/a.png", "cat/z/1.png", "cat/a.png", "cat/notes.txt", "bird/x.PNG"} {
		writeFile(t, filepath.Join(root, p), pngBytes(t, gray(2, 2, 1)))
	}
	classes, ls, err := List(nil, Source{Folder: root})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(classes, ",") != "bird,cat,dog" {
		t.Fatalf("classes = %v, want the sorted folder names", classes)
	}
	var got []string
	for _, e := range ls[0].Entries {
		got = append(got, e.Rel+"="+classes[e.Class])
	}
	want := "bird/x.PNG=bird cat/a.png=cat cat/z/1.png=cat dog/a.png=dog dog/b.png=dog"
	if strings.Join(got, " ") != want {
		t.Fatalf("entries = %v, want %s", got, want)
	}
	// An explicit list fixes the ids; a folder outside it is an error.
	classes, ls, err = List([]string{"dog", "cat", "bird"}, Source{Folder: root})
	if err != nil || ls[0].Entries[0].Rel != "dog/a.png" || ls[0].Entries[0].Class != 0 {
		t.Fatalf("explicit classes: %v %v %v", classes, err, ls)
	}
	if _, _, err := List([]string{"dog", "cat"}, Source{Folder: root}); err == nil || !strings.Contains(err.Error(), `class folder "bird" is not among`) {
		t.Fatalf("folder outside the classes: err = %v", err)
	}
}

func TestListCSV(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a.png", "sub/b.png", "c.png"} {
		writeFile(t, filepath.Join(root, p), pngBytes(t, gray(2, 2, 1)))
	}
	csvPath := filepath.Join(root, "list.csv")
	writeFile(t, csvPath, []byte("path,label\nsub/b.png,dog\na.png,cat\nc.png,1\n"))
	_, ls, err := List([]string{"cat", "dog"}, Source{CSV: csvPath, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ls[0].Entries {
		got = append(got, e.Rel+"="+string('0'+rune(e.Class)))
	}
	if strings.Join(got, " ") != "a.png=0 c.png=1 sub/b.png=1" {
		t.Fatalf("entries = %v (label by name or by id, sorted by class then path)", got)
	}
	if ls[0].Path(2) != filepath.Join(root, "sub", "b.png") {
		t.Fatalf("path = %s", ls[0].Path(2))
	}
}

func TestListErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, root string) Source
		want  string
	}{
		{"empty class folder", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "cat/a.png"), pngBytes(t, gray(2, 2, 1)))
			os.MkdirAll(filepath.Join(root, "dog"), 0o755)
			return Source{Folder: root}
		}, "class folder " + "ROOT/dog holds no image file"},
		{"file beside class folders", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "a.png"), pngBytes(t, gray(2, 2, 1)))
			return Source{Folder: root}
		}, "ROOT/a.png is a file, not a class folder"},
		{"symlink loop", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "cat/a.png"), pngBytes(t, gray(2, 2, 1)))
			if err := os.Symlink("..", filepath.Join(root, "cat", "up")); err != nil {
				t.Skip(err)
			}
			return Source{Folder: root}
		}, "ROOT/cat/up is a symlink loop"},
		{"missing root", func(t *testing.T, root string) Source {
			return Source{Folder: filepath.Join(root, "nope")}
		}, "no such file"},
		{"csv with a bare quote", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "l.csv"), []byte("path,label\na\"b.png,cat\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, `l.csv: parse error on line 2, column 2: bare " in non-quoted-field`},
		{"csv missing file", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "l.csv"), []byte("path,label\nnope.png,cat\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, "l.csv: line 2: nope.png: no such file"},
		{"csv directory", func(t *testing.T, root string) Source {
			os.MkdirAll(filepath.Join(root, "d.png"), 0o755)
			writeFile(t, filepath.Join(root, "l.csv"), []byte("path,label\nd.png,cat\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, "l.csv: line 2: ROOT/d.png is a directory, not an image file"},
		{"csv duplicate", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "a.png"), pngBytes(t, gray(2, 2, 1)))
			writeFile(t, filepath.Join(root, "l.csv"), []byte("path,label\na.png,cat\n./a.png,cat\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, `l.csv: line 3: path "./a.png" is listed twice (first on line 2)`},
		{"csv unknown class", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "a.png"), pngBytes(t, gray(2, 2, 1)))
			writeFile(t, filepath.Join(root, "l.csv"), []byte("path,label\na.png,cow\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, `l.csv: line 2: label "cow" is not a class`},
		{"csv escapes root", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "l.csv"), []byte("path,label\n../a.png,cat\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, "stay inside it"},
		{"csv header", func(t *testing.T, root string) Source {
			writeFile(t, filepath.Join(root, "l.csv"), []byte("file,class\na.png,cat\n"))
			return Source{CSV: filepath.Join(root, "l.csv"), Root: root}
		}, "header must be path,label"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			src := c.setup(t, root)
			_, _, err := List([]string{"cat", "dog"}, src)
			want := strings.ReplaceAll(c.want, "ROOT", root)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
		})
	}
}

func decodeBytes(t *testing.T, c Converter, data []byte) []uint8 {
	t.Helper()
	dst := make([]uint8, c.Elems())
	if err := c.Decode(bytes.NewReader(data), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestConvertChannelsAlphaDepthPalette(t *testing.T) {
	gray1 := Converter{Height: 1, Width: 2, Channels: 1}
	rgb := Converter{Height: 1, Width: 2, Channels: 3}

	c := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	c.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 255})
	c.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128}) // half transparent: composited on black
	data := pngBytes(t, c)
	// BT.601: (299·200 + 587·100 + 114·50 + 500)/1000 = 124.
	if got := decodeBytes(t, gray1, data); got[0] != 124 || got[1] != (299*100+587*50+114*25+500)/1000 {
		t.Errorf("gray from colour = %v", got)
	}
	if got := decodeBytes(t, rgb, data); !bytes.Equal(got, []uint8{200, 100, 50, 100, 50, 25}) {
		t.Errorf("rgb with alpha on black = %v, want [200 100 50 100 50 25]", got)
	}
	g := gray(2, 1, 7)
	if got := decodeBytes(t, rgb, pngBytes(t, g)); !bytes.Equal(got, []uint8{7, 7, 7, 8, 8, 8}) {
		t.Errorf("rgb from gray = %v, want replication", got)
	}
	if got := decodeBytes(t, gray1, pngBytes(t, g)); !bytes.Equal(got, []uint8{7, 8}) {
		t.Errorf("gray kept = %v", got)
	}
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{0x1234})
	g16.SetGray16(1, 0, color.Gray16{0xff00})
	if got := decodeBytes(t, gray1, pngBytes(t, g16)); !bytes.Equal(got, []uint8{0x12, 0xff}) {
		t.Errorf("16-bit gray = %v, want the high bytes", got)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), palette.Plan9)
	pal.SetColorIndex(0, 0, 0)
	pal.SetColorIndex(1, 0, 255)
	var gb bytes.Buffer
	if err := gif.Encode(&gb, pal, nil); err != nil {
		t.Fatal(err)
	}
	if got := decodeBytes(t, rgb, gb.Bytes()); !bytes.Equal(got, []uint8{0, 0, 0, 255, 255, 255}) {
		t.Errorf("palette gif = %v", got)
	}
	var bb bytes.Buffer
	if err := bmp.Encode(&bb, c); err != nil {
		t.Fatal(err)
	}
	if got := decodeBytes(t, rgb, bb.Bytes()); got[0] != 200 || got[1] != 100 || got[2] != 50 {
		t.Errorf("bmp = %v", got)
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, gray(2, 1, 100), &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	if got := decodeBytes(t, gray1, jb.Bytes()); got[0] < 98 || got[0] > 102 {
		t.Errorf("jpeg = %v", got)
	}
}

func TestResizeFitAndFill(t *testing.T) {
	// A white 4×2 image into 4×4: fit pads rows 0 and 3 with black, fill
	// covers everything with white.
	w := image.NewGray(image.Rect(0, 0, 4, 2))
	for i := range w.Pix {
		w.Pix[i] = 255
	}
	fit := decodeBytes(t, Converter{Height: 4, Width: 4, Channels: 1, Resize: Fit}, pngBytes(t, w))
	want := append(append(make([]uint8, 4), bytes.Repeat([]uint8{255}, 8)...), make([]uint8, 4)...)
	if !bytes.Equal(fit, want) {
		t.Errorf("fit = %v, want %v", fit, want)
	}
	fill := decodeBytes(t, Converter{Height: 4, Width: 4, Channels: 1, Resize: Fill}, pngBytes(t, w))
	if !bytes.Equal(fill, bytes.Repeat([]uint8{255}, 16)) {
		t.Errorf("fill = %v, want all white", fill)
	}
	// A 1×1 image is valid input: it becomes a constant image.
	one := decodeBytes(t, Converter{Height: 3, Width: 3, Channels: 1, Resize: Fit}, pngBytes(t, gray(1, 1, 90)))
	if !bytes.Equal(one, bytes.Repeat([]uint8{90}, 9)) {
		t.Errorf("1×1 = %v, want nine 90s", one)
	}
	// Resizing is deterministic.
	big := gray(40, 30, 3)
	cv := Converter{Height: 7, Width: 5, Channels: 3, Resize: Fill}
	if a, b := decodeBytes(t, cv, pngBytes(t, big)), decodeBytes(t, cv, pngBytes(t, big)); !bytes.Equal(a, b) {
		t.Error("two resizes of one image differ")
	}
}

// pngHeader is a valid PNG signature and IHDR declaring w×h, without a body.
func pngHeader(t *testing.T, w, h int) []byte {
	full := pngBytes(t, gray(1, 1, 0))
	hdr := append([]byte(nil), full[:33]...) // signature + IHDR chunk
	put := func(off, v int) {
		hdr[off], hdr[off+1], hdr[off+2], hdr[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, w)
	put(20, h)
	put(29, int(crc32.ChecksumIEEE(hdr[12:29])))
	return hdr
}

func TestDecodeRefusals(t *testing.T) {
	cv := Converter{Height: 2, Width: 2, Channels: 1}
	dst := make([]uint8, 4)
	err := cv.Decode(bytes.NewReader(pngHeader(t, 20000, 20000)), dst)
	if err == nil || !strings.Contains(err.Error(), "20000×20000 pixels is larger than the 33554432") {
		t.Errorf("huge image: err = %v", err)
	}
	if err := cv.Decode(bytes.NewReader([]byte("not an image at all")), dst); err == nil || !strings.Contains(err.Error(), "not a decodable image") {
		t.Errorf("garbage: err = %v", err)
	}
	trunc := pngBytes(t, gray(50, 50, 1))
	if err := cv.Decode(bytes.NewReader(trunc[:len(trunc)/2]), dst); err == nil || !strings.Contains(err.Error(), "png image does not decode") {
		t.Errorf("truncated: err = %v", err)
	}
}

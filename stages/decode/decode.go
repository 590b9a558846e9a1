// Package decode opens an image/label pair of IDX files and checks that they
// belong together before any pixel is streamed: the label file is small and
// read whole (the split stage needs every label up front), the image file is
// only opened, so its pixels can then be read in batches.
package decode

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/shardsmith/shardsmith/formats/idx"
)

// Version enters the dataset hash; bump it whenever the same files would
// decode to different pixels or labels.
const Version = "decode/1"

// Pair is an opened image file with its labels.
type Pair struct {
	Images *Input
	Labels []uint8
	// Height, Width, Channels of one image.
	Height, Width, Channels int
	// LabelsContent is the digest of the label file's content.
	LabelsContent string
}

// File is an input file: where it is and the name errors call it by (the
// cache path of a download means nothing to a user; its source name does).
type File struct {
	Path string
	Name string
	// SHA256, when set, is the hex SHA-256 the file must have. Its bytes are
	// hashed as they are decoded and checked when the stream ends (End), so a
	// file changed after the download verified it (a cache entry altered in
	// between) fails the build instead of entering the shards of a version
	// whose id promises other bytes.
	SHA256 string
	// ContentSHA256, when set, is the hex SHA-256 the file's content must
	// have: its bytes after gzip decoding (the whole IDX file: header and
	// items). It is hashed from the header and the items as they are
	// decoded and checked at the end like SHA256, so a raw and a gzip copy
	// of the same data both verify.
	ContentSHA256 string
}

// Input is an opened IDX file: the reader, and the checks of the file's
// bytes against File.SHA256 and of its content against File.ContentSHA256.
type Input struct {
	*idx.Reader
	file    *os.File
	hashed  *hashingFile // nil without File.SHA256
	content hash.Hash    // the decoded content (header and items)
	f       File
}

// headerBytes is the encoding of an IDX header: two zero bytes, the type
// byte, the rank, and each dimension as a big-endian uint32. An IDX file has
// exactly one encoding of its header, so hashing it with the items gives the
// digest of the decompressed file.
func headerBytes(h idx.Header) []byte {
	b := []byte{0, 0, byte(h.Type), byte(len(h.Dims))}
	for _, d := range h.Dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return b
}

// ReadU8 is idx.Reader.ReadU8, hashing the items read into the content digest.
func (in *Input) ReadU8(dst []uint8) (int, error) {
	n, err := in.Reader.ReadU8(dst)
	in.content.Write(dst[:n*in.Header().ItemElems()])
	return n, err
}

// ContentSHA256 is the hex digest of the content read so far: after End,
// that of the whole file after gzip decoding.
func (in *Input) ContentSHA256() string { return hex.EncodeToString(in.content.Sum(nil)) }

// OpenIDX opens f as an IDX reader whose errors carry f.Name.
func OpenIDX(f File) (*Input, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	in := &Input{file: fh, f: f}
	var src io.Reader = fh
	if f.SHA256 != "" {
		in.hashed = &hashingFile{f: fh, h: sha256.New()}
		src = in.hashed
	}
	if in.Reader, err = idx.NewReader(src, f.Name); err != nil {
		fh.Close()
		return nil, err
	}
	in.content = sha256.New()
	in.content.Write(headerBytes(in.Header()))
	return in, nil
}

// End checks that the stream ends where its header says (see ReadEnd) and
// that the file's bytes have the expected SHA-256.
func (in *Input) End() error {
	if err := ReadEnd(in.Reader); err != nil {
		return err
	}
	return in.verify()
}

// verify hashes what the decoder left unread and compares the digests.
func (in *Input) verify() error {
	if want := in.f.ContentSHA256; want != "" {
		if got := in.ContentSHA256(); !strings.EqualFold(got, want) {
			return fmt.Errorf("%s: its content (the bytes after gzip decoding) hashes to sha256 %s, want content_sha256 %s", in.f.Name, got, strings.ToLower(want))
		}
	}
	if in.hashed == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, in.hashed); err != nil {
		return fmt.Errorf("%s: %w", in.f.Name, err)
	}
	if got := hex.EncodeToString(in.hashed.h.Sum(nil)); !strings.EqualFold(got, in.f.SHA256) {
		return fmt.Errorf("%s: the file changed after it was verified: its bytes hash to sha256 %s, want %s", in.f.Name, got, strings.ToLower(in.f.SHA256))
	}
	return nil
}

// Close closes the reader and the file.
func (in *Input) Close() error {
	err := in.Reader.Close()
	if ferr := in.file.Close(); err == nil {
		err = ferr
	}
	return err
}

// hashingFile hashes every byte read from f. It reports f's size and
// offset (idx.StatSeeker), so the reader still checks a raw header against
// the file size, and refuses any other seek, which would skip bytes.
type hashingFile struct {
	f *os.File
	h hash.Hash
}

func (hf *hashingFile) Read(p []byte) (int, error) {
	n, err := hf.f.Read(p)
	hf.h.Write(p[:n])
	return n, err
}

func (hf *hashingFile) Stat() (os.FileInfo, error) { return hf.f.Stat() }

func (hf *hashingFile) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return 0, errors.New("decode: a hashed input cannot seek")
	}
	return hf.f.Seek(0, io.SeekCurrent)
}

// MaxImageBytes bounds one image (256 MiB, e.g. 8192×8192×4): a header
// declaring larger items is refused before any buffer is sized by it.
const MaxImageBytes = 256 << 20

// batchBytes is the pixel budget of one decode batch.
const batchBytes = 16 << 20

// BatchItems is how many items of itemBytes each a batch holds: want, fewer
// when that would exceed the batch budget, and at least one. Memory per
// batch then follows the image size, not a fixed count.
func BatchItems(itemBytes, want int) int {
	return max(1, min(want, batchBytes/max(itemBytes, 1)))
}

// Open opens images and labels (raw or gzip IDX). Images must be u8 with
// shape (n, h, w) or (n, h, w, c); labels u8 with shape (n); every label must
// be below classes. Both headers are checked against each other (and, for
// raw files, against the file sizes) before the labels are read, and labels
// are read in chunks, so a header announcing 2³⁰ items allocates nothing for
// them.
func Open(images, labels File, classes int) (*Pair, error) {
	imagesPath := images.Name
	img, err := OpenIDX(images)
	if err != nil {
		return nil, err
	}
	h := img.Header()
	p := &Pair{Images: img, Channels: 1}
	switch {
	case h.Type != idx.U8:
		err = fmt.Errorf("%s: images must be u8 (type byte 0x08), got %v", imagesPath, h.Type)
	case len(h.Dims) == 3:
		p.Height, p.Width = h.Dims[1], h.Dims[2]
	case len(h.Dims) == 4:
		p.Height, p.Width, p.Channels = h.Dims[1], h.Dims[2], h.Dims[3]
	default:
		err = fmt.Errorf("%s: images must have rank 3 (n,h,w) or 4 (n,h,w,c), got dims %v", imagesPath, h.Dims)
	}
	if err == nil && (p.Height == 0 || p.Width == 0 || p.Channels == 0) {
		err = fmt.Errorf("%s: image shape %dx%dx%d has a zero dimension", imagesPath, p.Height, p.Width, p.Channels)
	}
	if err == nil && h.ItemElems() > MaxImageBytes {
		err = fmt.Errorf("%s: one image of %dx%dx%d is %d bytes, more than the %d an image may have", imagesPath, p.Height, p.Width, p.Channels, h.ItemElems(), MaxImageBytes)
	}
	if err == nil {
		p.Labels, p.LabelsContent, err = readLabels(labels, classes, h.Items(), imagesPath)
	}
	if err != nil {
		img.Close()
		return nil, err
	}
	return p, nil
}

// Count is the number of images.
func (p *Pair) Count() int { return len(p.Labels) }

// Elems is the number of bytes per image.
func (p *Pair) Elems() int { return p.Height * p.Width * p.Channels }

// Read fills dst with up to len(dst)/Elems whole images and returns how many
// it read; io.EOF after the last image.
func (p *Pair) Read(dst []uint8) (int, error) { return p.Images.ReadU8(dst) }

// FileContent reads one u8 IDX file to its end and returns the digest of its
// content (its bytes after gzip decoding), checking f's pins. An item larger
// than MaxImageBytes is refused before any buffer is sized by it.
func FileContent(f File) (string, error) {
	in, err := OpenIDX(f)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := in.Header()
	if h.Type != idx.U8 || len(h.Dims) == 0 {
		return "", fmt.Errorf("%s: not a u8 IDX file with items (%v)", f.Name, h)
	}
	elems := h.ItemElems()
	if elems > MaxImageBytes {
		return "", fmt.Errorf("%s: one item is %d bytes, more than the %d an image may have", f.Name, elems, MaxImageBytes)
	}
	buf := make([]uint8, BatchItems(max(elems, 1), 1024)*max(elems, 1))
	for read := 0; read < h.Items(); {
		n, err := in.ReadU8(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		if n == 0 {
			return "", fmt.Errorf("%s: read %d of %d items", f.Name, read, h.Items())
		}
		read += n
	}
	if err := in.End(); err != nil {
		return "", err
	}
	return in.ContentSHA256(), nil
}

// Contents checks images and labels as Open does, reads both to their ends
// and returns the digests of their contents (their bytes after gzip
// decoding), checking the files' pins on the way.
func Contents(images, labels File, classes int) (imagesContent, labelsContent string, err error) {
	p, err := Open(images, labels, classes)
	if err != nil {
		return "", "", err
	}
	defer p.Close()
	buf := make([]uint8, BatchItems(p.Elems(), 1024)*p.Elems())
	for read := 0; read < p.Count(); {
		n, err := p.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return "", "", err
		}
		if n == 0 {
			return "", "", fmt.Errorf("%s: read %d of %d images", images.Name, read, p.Count())
		}
		read += n
	}
	if err := p.ReadEnd(); err != nil {
		return "", "", err
	}
	return p.Images.ContentSHA256(), p.LabelsContent, nil
}

// ReadEnd checks that the image stream ends where its header says: it reads
// once more and expects io.EOF, which is when the decoder verifies the gzip
// checksum and rejects trailing bytes; then it checks the file's SHA-256.
func (p *Pair) ReadEnd() error { return p.Images.End() }

// ReadEnd is Pair.ReadEnd for any u8 IDX reader that has read all its items.
func ReadEnd(r *idx.Reader) error {
	h := r.Header()
	n, err := r.ReadU8(make([]uint8, h.ItemElems()))
	if errors.Is(err, io.EOF) && n == 0 {
		return nil
	}
	if err == nil { // idx errors name the file already; this one must too
		err = fmt.Errorf("%s: images continue after the %d the header declares", r.Name(), h.Items())
	}
	return err
}

// Close closes the image file.
func (p *Pair) Close() error { return p.Images.Close() }

// labelChunk is how many labels readLabels reads at a time.
const labelChunk = 64 << 10

// readLabels reads the labels of f, which must number images (the count the
// image file's header declares). The slice grows with the labels actually
// read, so a lying header costs at most what the file holds.
func readLabels(f File, classes, images int, imagesName string) ([]uint8, string, error) {
	path := f.Name
	r, err := OpenIDX(f)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	h := r.Header()
	if h.Type != idx.U8 || len(h.Dims) != 1 {
		return nil, "", fmt.Errorf("%s: labels must be u8 with rank 1, got %v", path, h)
	}
	if h.Dims[0] != images {
		return nil, "", fmt.Errorf("%s holds %d images but %s holds %d labels: image and label counts must be equal", imagesName, images, path, h.Dims[0])
	}
	labels := make([]uint8, 0, min(h.Dims[0], labelChunk))
	chunk := make([]uint8, min(max(h.Dims[0], 1), labelChunk))
	for len(labels) < h.Dims[0] {
		n, err := r.ReadU8(chunk[:min(len(chunk), h.Dims[0]-len(labels))])
		labels = append(labels, chunk[:n]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, "", err
		}
		if n == 0 {
			return nil, "", fmt.Errorf("%s: read %d of %d labels", path, len(labels), h.Dims[0])
		}
	}
	if _, err := r.ReadU8(make([]uint8, 1)); !errors.Is(err, io.EOF) {
		var ie *idx.Error
		if errors.As(err, &ie) {
			return nil, "", err // names the file and offset already
		}
		if err == nil {
			err = fmt.Errorf("data after the last label")
		}
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if err := r.verify(); err != nil {
		return nil, "", err
	}
	headerBytes := int64(h.Size())
	for i, l := range labels {
		if int(l) >= classes {
			return nil, "", &idx.Error{File: path, Offset: headerBytes + int64(i),
				Expected: fmt.Sprintf("a label below %d (the number of classes)", classes), Got: fmt.Sprintf("%d at item %d", l, i)}
		}
	}
	return labels, r.ContentSHA256(), nil
}

package images

import (
	"archive/zip"
	"fmt"
	"image"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// CIFAR-10's binary format (data_batch_N.bin, test_batch.bin): records of
// one label byte followed by a 32×32 RGB image as three planes — the 1024
// red values, then green, then blue, each row-major (CHW).
const (
	CIFARSide   = 32
	CIFARRecord = 1 + 3*CIFARSide*CIFARSide
)

// cifarSet is the files of a CIFAR split, kept open for reading at random.
type cifarSet struct {
	names []string // as configured, relative to the root
	files []io.ReaderAt
	close []io.Closer
}

// scanCIFAR lists the records of src.CIFAR (files relative to src.Root),
// in the order given and, within a file, in record order. Entry Rel is
// "<file>#<record>"; the label byte must be below classes.
func scanCIFAR(src Source, classes int) (*Listing, error) {
	t := src.tree()
	l := &Listing{Root: t.show(src.Root), tree: t, dir: src.Root, cifar: &cifarSet{}}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	for _, name := range src.CIFAR {
		if slices.Contains(l.cifar.names, name) {
			return nil, fmt.Errorf("cifar %s: %s is listed twice", l.Root, name)
		}
		full := t.join(src.Root, name)
		shown := t.show(full)
		r, size, closer, err := openAt(t, full)
		if err != nil {
			return nil, fmt.Errorf("cifar %s: %w", shown, err)
		}
		l.cifar.names = append(l.cifar.names, name)
		l.cifar.files = append(l.cifar.files, r)
		l.cifar.close = append(l.cifar.close, closer)
		n := size / CIFARRecord
		if rest := size % CIFARRecord; rest != 0 || size == 0 {
			if size == 0 {
				return nil, fmt.Errorf("cifar %s: the file is empty (expected records of %d bytes: a label byte, then 3072 pixel bytes)", shown, CIFARRecord)
			}
			return nil, fmt.Errorf("cifar %s: %d bytes is not a whole number of %d-byte records: record %d, at offset %d, is cut short (%d of %d bytes)",
				shown, size, CIFARRecord, n, n*CIFARRecord, rest, CIFARRecord)
		}
		var lab [1]byte
		for i := range n {
			off := i * CIFARRecord
			if _, err := r.ReadAt(lab[:], off); err != nil {
				return nil, fmt.Errorf("cifar %s: record %d at offset %d: %w", shown, i, off, err)
			}
			if int(lab[0]) >= classes {
				return nil, fmt.Errorf("cifar %s: record %d at offset %d: label %d, but there are %d classes", shown, i, off, lab[0], classes)
			}
			l.Entries = append(l.Entries, Entry{Rel: name + "#" + strconv.FormatInt(i, 10), Class: lab[0]})
		}
	}
	ok = true
	return l, nil
}

// openAt opens a file of a tree for reading at random: an OS file, a tar
// member, or a zip member stored uncompressed.
func openAt(t tree, name string) (io.ReaderAt, int64, io.Closer, error) {
	fi, err := t.stat(name)
	if err != nil {
		return nil, 0, nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, nil, fmt.Errorf("not a regular file")
	}
	switch t := t.(type) {
	case *Archive:
		m := t.files[name]
		if m.zf == nil {
			return io.NewSectionReader(t.f, m.off, m.size), m.size, io.NopCloser(nil), nil
		}
		if m.zf.Method != zip.Store {
			return nil, 0, nil, fmt.Errorf("is compressed inside the zip; CIFAR files are read at random, so they must be stored uncompressed (zip -0), or come in a tar")
		}
		off, err := m.zf.DataOffset()
		if err != nil {
			return nil, 0, nil, err
		}
		return io.NewSectionReader(t.f, off, m.size), m.size, io.NopCloser(nil), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, unwrapPath(err)
	}
	return f, fi.Size(), f, nil
}

// decodeRecord converts record i of a CIFAR listing into dst.
func (s *cifarSet) decodeRecord(c *Converter, rel string, dst []uint8) error {
	cut := strings.LastIndexByte(rel, '#')
	k := slices.Index(s.names, rel[:max(cut, 0)])
	n, err := strconv.ParseInt(rel[cut+1:], 10, 64)
	if cut < 0 || k < 0 || err != nil {
		return fmt.Errorf("images: %q is not a record of this listing", rel)
	}
	var rec [CIFARRecord]byte
	if _, err := s.files[k].ReadAt(rec[:], n*CIFARRecord); err != nil {
		return fmt.Errorf("record %d at offset %d: %w", n, n*CIFARRecord, err)
	}
	const plane = CIFARSide * CIFARSide
	pix := rec[1:]
	if c.Height == CIFARSide && c.Width == CIFARSide && c.Channels == 3 {
		for p := range plane { // CHW → HWC
			dst[3*p], dst[3*p+1], dst[3*p+2] = pix[p], pix[plane+p], pix[2*plane+p]
		}
		return nil
	}
	img := image.NewRGBA(image.Rect(0, 0, CIFARSide, CIFARSide))
	for p := range plane {
		img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = pix[p], pix[plane+p], pix[2*plane+p], 0xff
	}
	c.convert(img, dst)
	return nil
}

// Close releases the files a listing keeps open (those of CIFAR sources).
func (l *Listing) Close() error {
	if l.cifar == nil {
		return nil
	}
	for _, c := range l.cifar.close {
		if c != nil {
			c.Close()
		}
	}
	l.cifar.close = nil
	return nil
}

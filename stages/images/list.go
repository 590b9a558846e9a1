// Package images reads image datasets that arrive as files: a folder tree
// (<root>/<class>/**/<file>, torchvision's ImageFolder layout) or a CSV list
// of path,label rows. It lists the files of a split in a fixed order,
// resolves their labels to class ids, and decodes each file into the
// configured shape (see Converter).
//
// A listing is compact — a relative path and a class id per file — so a
// tree of millions of images costs megabytes; pixels are decoded one file at
// a time by the caller's workers, never all at once.
package images

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Version enters the dataset hash; bump it whenever the same files would be
// listed, labelled or decoded differently.
const Version = "images/1"

// Extensions are the file name endings (compared case-insensitively) a
// folder tree's images may have; other files in class folders are ignored,
// as torchvision's ImageFolder ignores them.
var Extensions = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}

// Source is where one split's files are: Folder, or CSV with Root. With
// Archive set, the three name members of the archive ('/'-separated, from
// its top); otherwise they are paths of the file system.
type Source struct {
	Folder string
	CSV    string
	Root   string
	// CIFAR lists CIFAR-10 binary files (relative to Root) instead of a
	// tree or CSV; their records are listed in the order given, in file
	// order, as "<file>#<record>".
	CIFAR   []string
	Archive *Archive
}

// Dir is the directory the split's relative paths are relative to.
func (s Source) Dir() string {
	if s.Folder != "" {
		return s.Folder
	}
	return s.Root
}

func (s Source) tree() tree {
	if s.Archive != nil {
		return s.Archive
	}
	return osTree{}
}

// Entry is one file of a listing.
type Entry struct {
	// Rel is the path relative to the split's root, '/'-separated.
	Rel   string
	Class uint8
}

// Listing is the files of one split in their fixed order: by class id, then
// by relative path (bytewise).
type Listing struct {
	// Root is the split's root as messages name it: a directory, or
	// ARCHIVE:MEMBER for a directory inside an archive.
	Root    string
	Entries []Entry

	tree  tree
	dir   string    // Root in the tree's own names
	cifar *cifarSet // the open files of a CIFAR source
}

// Path is entry i as messages name it: its file system path, or
// ARCHIVE:MEMBER inside an archive.
func (l *Listing) Path(i int) string {
	return l.t().show(l.name(i))
}

func (l *Listing) t() tree {
	if l.tree == nil {
		return osTree{}
	}
	return l.tree
}

func (l *Listing) name(i int) string { return l.t().join(l.dir, l.Entries[i].Rel) }

// Open opens entry i for reading. Errors do not name the file (Path does).
func (l *Listing) Open(i int) (io.ReadSeekCloser, error) {
	return l.t().open(l.name(i))
}

// Decode decodes entry i with c into dst (len c.Elems()). Errors do not
// name the file (Path does). A goroutine decoding run after run of entries
// does better with a Reader of its own.
func (l *Listing) Decode(c *Converter, i int, dst []uint8) error {
	bp := filePool.Get().(*[]byte)
	r := Reader{l: l, buf: *bp}
	err := r.Decode(c, i, dst)
	r.Close()
	*bp = r.buf[:0]
	filePool.Put(bp)
	return err
}

// A Reader decodes entries of one listing, one after another, for one
// goroutine at a time. It keeps the buffer it reads files into and, for
// files of the file system, the folder of the file before: on Linux, the
// further files of a folder are opened relative to it, not by a path the
// kernel resolves again, component by component, for every file. Close
// releases what it holds.
type Reader struct {
	l    *Listing
	buf  []byte
	dirs dirCache
	fd   fdReader // the file being read (held here: no allocation per file)
}

// NewReader returns a Reader of l's entries.
func (l *Listing) NewReader() *Reader { return &Reader{l: l} }

// Reset makes r a Reader of l's entries, keeping its buffer (a zero Reader
// is ready for Reset).
func (r *Reader) Reset(l *Listing) {
	r.dirs.close()
	r.l = l
}

// Close releases the folder the Reader holds open, if any, and a buffer
// grown past maxPooledPix by a large file; the Reader stays usable.
func (r *Reader) Close() {
	r.dirs.close()
	if cap(r.buf) > maxPooledPix {
		r.buf = nil
	}
}

// Decode is Listing.Decode.
func (r *Reader) Decode(c *Converter, i int, dst []uint8) error {
	l := r.l
	if l.cifar != nil {
		if len(dst) != c.Elems() {
			return fmt.Errorf("images: destination holds %d bytes, want %d", len(dst), c.Elems())
		}
		return l.cifar.decodeRecord(c, l.Entries[i].Rel, dst)
	}
	// Read the file whole into the reused buffer and decode from memory:
	// one read instead of a header read, a seek and a second read, and no
	// per-file buffers. A file larger than maxInMemory is streamed.
	if buf, handled, err := r.readOS(i); handled {
		r.buf = buf[:0]
		if err == nil {
			return c.DecodeBytes(buf, dst)
		}
		if err != errTooLarge {
			return err
		}
		f, err := l.Open(i)
		if err != nil {
			return err
		}
		defer f.Close()
		return c.Decode(f, dst)
	}
	f, err := l.Open(i)
	if err != nil {
		return err
	}
	defer f.Close()
	buf, err := readUpTo(r.buf[:0], f, maxInMemory, nil)
	r.buf = buf[:0]
	switch {
	case err == errTooLarge:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return c.Decode(f, dst)
	case err != nil:
		return err
	}
	return c.DecodeBytes(buf, dst)
}

// maxInMemory is the largest file Listing.Decode reads whole.
var maxInMemory = 16 << 20 // a variable for tests

var (
	filePool    = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	errTooLarge = errors.New("images: file larger than the in-memory limit")
)

// readUpTo appends r's bytes to buf, failing with errTooLarge once it has
// more than limit. With whole set, a read that returns less than it was
// offered ends the reading, without the read that would return end of
// file, when whole reports that buf holds all a decoder of it will read.
func readUpTo(buf []byte, r io.Reader, limit int, whole func([]byte) bool) ([]byte, error) {
	for {
		if len(buf) > limit {
			return buf, errTooLarge
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 4096), limit+1-len(buf)))
		}
		space := buf[len(buf):min(cap(buf), limit+1)]
		n, err := r.Read(space)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if whole != nil && n > 0 && n < len(space) && whole(buf) {
			return buf, nil
		}
	}
}

// scanned is a source before its labels are resolved.
type scanned struct {
	src  Source
	rows []row
	// folders are the class folder names of a tree (each holding at least
	// one image file); nil for a CSV.
	folders []string
}

// row is one file with its label as written: the class folder's name, or
// the CSV label column; line is the CSV line (0 for a tree).
type row struct {
	rel, label string
	line       int
}

func (s *scanned) where(r row) string {
	t := s.src.tree()
	if r.line > 0 {
		return fmt.Sprintf("%s: line %d", t.show(s.src.CSV), r.line)
	}
	return t.show(t.join(s.src.Folder, r.rel))
}

// List lists the sources of the splits (train first) and resolves their
// labels against classes. With classes nil, the classes are the sorted class
// folder names of the first source (or the sorted label strings of its CSV);
// every other source must use names among them. It returns the classes and
// one listing per source.
func List(classes []string, srcs ...Source) (_ []string, _ []*Listing, err error) {
	scans := make([]*scanned, len(srcs))
	records := make([]*Listing, len(srcs))
	defer func() {
		if err != nil {
			for _, l := range records {
				if l != nil {
					l.Close()
				}
			}
		}
	}()
	for i, s := range srcs {
		var err error
		if len(s.CIFAR) > 0 {
			if classes == nil {
				return nil, nil, fmt.Errorf("cifar %s: CIFAR files hold label ids only: list the class names in classes", s.tree().show(s.Root))
			}
			if records[i], err = scanCIFAR(s, len(classes)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if s.Folder != "" {
			scans[i], err = scanFolder(s)
		} else {
			scans[i], err = scanCSV(s)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	explicit := classes != nil
	if !explicit && len(scans) > 0 { // (a CIFAR source needs explicit classes)
		first := scans[0]
		if first.folders != nil {
			classes = first.folders
		} else {
			for _, r := range first.rows {
				classes = append(classes, r.label)
			}
			slices.Sort(classes)
			classes = slices.Compact(classes)
		}
		if len(classes) > 256 {
			return nil, nil, fmt.Errorf("%s: %d classes, at most 256 fit a uint8 label", first.src.tree().show(first.src.Dir()), len(classes))
		}
	}
	ids := make(map[string]uint8, len(classes))
	for i, c := range classes {
		ids[c] = uint8(i)
	}
	out := make([]*Listing, len(scans))
	for k, s := range scans {
		if records[k] != nil {
			out[k] = records[k]
			continue
		}
		t := s.src.tree()
		for _, f := range s.folders {
			if _, ok := ids[f]; !ok {
				return nil, nil, fmt.Errorf("%s: class folder %q is not among the classes %s", t.show(s.src.Folder), f, quoteList(classes))
			}
		}
		l := &Listing{Root: t.show(s.src.Dir()), Entries: make([]Entry, len(s.rows)), tree: t, dir: s.src.Dir()}
		for i, r := range s.rows {
			id, ok := ids[r.label]
			if !ok && explicit && s.folders == nil {
				if n, err := strconv.Atoi(r.label); err == nil && n >= 0 && n < len(classes) {
					id, ok = uint8(n), true
				}
			}
			if !ok {
				return nil, nil, fmt.Errorf("%s: label %q is not a class (the classes are %s)", s.where(r), r.label, quoteList(classes))
			}
			l.Entries[i] = Entry{Rel: r.rel, Class: id}
		}
		slices.SortFunc(l.Entries, func(a, b Entry) int {
			if a.Class != b.Class {
				return int(a.Class) - int(b.Class)
			}
			return strings.Compare(a.Rel, b.Rel)
		})
		out[k] = l
	}
	return classes, out, nil
}

func quoteList(s []string) string {
	if len(s) > 12 {
		return fmt.Sprintf("%q … (%d in all)", s[:12], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// isImage reports whether name ends in one of Extensions.
func isImage(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return slices.Contains(Extensions, ext)
}

// scanFolder lists <root>/<class>/**/<image file>. Symbolic links are
// followed; a link to a directory that contains it is a loop and an error.
// A class folder without any image file is an error (it would be a class
// nobody can learn), and so is a plain file beside the class folders (a
// root pointing one level too deep is the usual cause).
func scanFolder(src Source) (*scanned, error) {
	t, root := src.tree(), src.Folder
	s := &scanned{src: src, folders: []string{}}
	shown := t.show(root)
	real, err := t.realPath(root)
	if err != nil {
		return nil, fmt.Errorf("imagefolder %s: %w", shown, err)
	}
	top, err := t.readDir(root)
	if err != nil {
		return nil, fmt.Errorf("imagefolder %s: %w", shown, err)
	}
	for _, e := range top {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := t.join(root, name)
		fi, err := t.stat(p)
		if err != nil {
			return nil, fmt.Errorf("imagefolder %s: %w", shown, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("imagefolder %s: %s is a file, not a class folder (expected <root>/<class>/<image>)", shown, t.show(p))
		}
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("imagefolder %s: class folder name %q is not valid UTF-8", shown, name)
		}
		before := len(s.rows)
		if err := walk(s, t, p, name, name, []string{real}); err != nil {
			return nil, err
		}
		if len(s.rows) == before {
			return nil, fmt.Errorf("imagefolder %s: class folder %s holds no image file (%s)", shown, t.show(p), strings.Join(Extensions, ", "))
		}
		s.folders = append(s.folders, name)
	}
	if len(s.folders) == 0 {
		return nil, fmt.Errorf("imagefolder %s: no class folders (expected <root>/<class>/<image>)", shown)
	}
	slices.Sort(s.folders)
	return s, nil
}

// walk adds the image files under dir (rel is its path below the root,
// class its class folder); ancestors are the resolved paths of the
// directories above it, to detect symlink loops.
func walk(s *scanned, t tree, dir, rel, class string, ancestors []string) error {
	shown := t.show(s.src.Folder)
	real, err := t.realPath(dir)
	if err != nil {
		return fmt.Errorf("imagefolder %s: %w", shown, err)
	}
	if slices.Contains(ancestors, real) {
		return fmt.Errorf("imagefolder %s: %s is a symlink loop (it leads back to %s)", shown, t.show(dir), real)
	}
	ancestors = append(ancestors, real)
	entries, err := t.readDir(dir)
	if err != nil {
		return fmt.Errorf("imagefolder %s: %w", shown, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := t.join(dir, name)
		r := rel + "/" + name
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			fi, err := t.stat(p)
			if err != nil {
				return fmt.Errorf("imagefolder %s: %s: %w", shown, t.show(p), unwrapPath(err))
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			if err := walk(s, t, p, r, class, ancestors); err != nil {
				return err
			}
		case mode.IsRegular() && isImage(name):
			if !utf8.ValidString(r) {
				return fmt.Errorf("imagefolder %s: file name %q is not valid UTF-8", shown, r)
			}
			s.rows = append(s.rows, row{rel: r, label: class})
		}
	}
	return nil
}

// scanCSV reads a list of path,label rows (a header line naming the two
// columns first). Paths are relative to root, '/'-separated, and must name
// existing regular files, each once.
func scanCSV(src Source) (*scanned, error) {
	t, root := src.tree(), src.Root
	s := &scanned{src: src}
	file := t.show(src.CSV)
	f, err := t.open(src.CSV)
	if err != nil {
		return nil, fmt.Errorf("csv %s: %w", file, err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = 2
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty: expected a header line path,label and one row per image", file)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if strings.TrimPrefix(header[0], "\ufeff") != "path" || header[1] != "label" {
		return nil, fmt.Errorf("%s: line 1: the header must be path,label, got %s,%s", file, header[0], header[1])
	}
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // a *csv.ParseError names the line
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
		p, label := rec[0], rec[1]
		where := fmt.Sprintf("%s: line %d", file, line)
		clean := path.Clean(p)
		switch {
		case p == "" || label == "":
			return nil, fmt.Errorf("%s: empty path or label", where)
		case !utf8.ValidString(p) || !utf8.ValidString(label):
			return nil, fmt.Errorf("%s: path or label is not valid UTF-8", where)
		case path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(p, `\`):
			return nil, fmt.Errorf("%s: path %q must be relative to the root %s, '/'-separated, and stay inside it", where, p, t.show(root))
		}
		if first, dup := seen[clean]; dup {
			return nil, fmt.Errorf("%s: path %q is listed twice (first on line %d)", where, p, first)
		}
		seen[clean] = line
		full := t.join(root, clean)
		fi, err := t.stat(full)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, p, unwrapPath(err))
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: %s is a directory, not an image file", where, t.show(full))
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: %s is not a regular file (%s)", where, t.show(full), fi.Mode().Type())
		}
		s.rows = append(s.rows, row{rel: clean, label: label, line: line})
	}
	if len(s.rows) == 0 {
		return nil, fmt.Errorf("%s: lists no image", file)
	}
	return s, nil
}

// unwrapPath drops the *fs.PathError around err (the caller names the file).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

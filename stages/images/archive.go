package images

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Archive is a tar (raw or gzip-compressed) or zip archive opened as a tree
// of members, so image trees and lists can be read from it exactly as from
// a directory — same listing rules, same order, same rows — without
// extracting it: no member name ever becomes a file system path.
//
// Opening reads the archive's index once: a zip's central directory, or a
// tar's headers (a gzip-compressed tar is first decompressed into an
// unnamed temporary file, since gzip cannot be read at random). The index
// holds a name, an offset and a size per member — megabytes for millions of
// files — and members are then read at random, concurrently, one image at a
// time.
//
// Member names are strict: an absolute name, a `..` component, a
// backslash, a NUL, a name given twice, or a file that is also a directory
// is an error naming the archive and the member. Symbolic and hard links are
// kept in the index but refused when a listing reaches them: links inside
// an archive are never followed.
type Archive struct {
	name  string   // as messages name it
	f     *os.File // the tar (or its decompressed copy), or the zip
	temp  string   // the decompressed copy's path, where it could not be unlinked
	files map[string]member
	dirs  map[string][]dirent // directory -> its entries, sorted by name
}

type member struct {
	off, size int64
	zf        *zip.File // zip members; tar members are read at off
	link      string    // "symbolic link" or "hard link": refused
}

// OpenArchive opens the archive at path; name is what messages call it (the
// configured file name), tmpDir where a gzip-compressed tar is decompressed
// ("" for the system's temporary directory). The format is detected from the
// bytes: gzip (then tar inside), zip, or tar.
func OpenArchive(path, name, tmpDir string) (*Archive, error) {
	a := &Archive{name: name, files: map[string]member{}, dirs: map[string][]dirent{".": nil}}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", name, err)
	}
	var magic [262]byte
	n, _ := io.ReadFull(f, magic[:])
	head := magic[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		err = a.openTarGz(f, tmpDir)
		f.Close()
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		a.f = f
		err = a.openZip()
	case n >= 262 && bytes.Equal(head[257:262], []byte("ustar")):
		a.f = f
		err = a.openTar()
	default:
		f.Close()
		return nil, fmt.Errorf("archive %s: not a tar, tar.gz or zip archive (its first bytes are % x)", name, head[:min(8, n)])
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	a.sortDirs()
	return a, nil
}

// Close releases the archive (and removes a decompressed copy).
func (a *Archive) Close() error {
	var err error
	if a.f != nil {
		err = a.f.Close()
		a.f = nil
	}
	if a.temp != "" {
		os.Remove(a.temp)
		a.temp = ""
	}
	return err
}

// Name is the archive as messages name it.
func (a *Archive) Name() string { return a.name }

// Files is the number of regular files in the archive.
func (a *Archive) Files() int {
	n := 0
	for _, m := range a.files {
		if m.link == "" {
			n++
		}
	}
	return n
}

func (a *Archive) errorf(format string, args ...any) error {
	return fmt.Errorf("archive %s: %s", a.name, fmt.Sprintf(format, args...))
}

// openTarGz decompresses src into an unnamed temporary file and indexes it.
func (a *Archive) openTarGz(src *os.File, tmpDir string) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return a.errorf("%v", err)
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(src, 1<<20))
	if err != nil {
		return a.errorf("gzip: %v", err)
	}
	tmp, err := os.CreateTemp(tmpDir, ".archive-*.tar")
	if err != nil {
		return a.errorf("a temporary file to decompress into: %v", err)
	}
	a.f = tmp
	// Unlinked at once where the system allows it, so not even a killed
	// run leaves the copy behind; elsewhere Close removes it.
	if runtime.GOOS == "windows" || os.Remove(tmp.Name()) != nil {
		a.temp = tmp.Name()
	}
	w := &errWriter{w: tmp}
	if _, err := io.Copy(w, zr); err != nil {
		if w.err != nil {
			return a.errorf("decompressing into %s: %v", tmp.Name(), err)
		}
		return a.errorf("gzip: %v (a damaged or truncated file)", err)
	}
	var head [262]byte
	if n, _ := tmp.ReadAt(head[:], 0); n < 262 || !bytes.Equal(head[257:262], []byte("ustar")) {
		return a.errorf("gzip-compressed, but what it holds is not a tar archive")
	}
	return a.openTar()
}

// openTar indexes a.f, a tar file: each header is read in turn and the
// member's data offset taken from the file position after it.
func (a *Archive) openTar() error {
	if _, err := a.f.Seek(0, io.SeekStart); err != nil {
		return a.errorf("%v", err)
	}
	fi, err := a.f.Stat()
	if err != nil {
		return a.errorf("%v", err)
	}
	size := fi.Size()
	tr := tar.NewReader(a.f)
	end := int64(0) // where the last member's data (padded to a block) ends
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// tar reads a missing end-of-archive marker as a clean end;
			// an archive cut at a member boundary is caught here.
			if pos, err := a.f.Seek(0, io.SeekCurrent); err != nil || pos < end+1024 {
				return a.errorf("tar: the archive ends at byte %d without its end-of-archive blocks (a truncated archive)", size)
			}
			return nil
		}
		if err != nil {
			return a.errorf("tar: %v (a damaged or truncated archive)", err)
		}
		name, err := a.memberName(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := a.addDir(name); err != nil {
				return err
			}
		case tar.TypeReg: // (the old TypeRegA reads as TypeReg)
			off, err := a.f.Seek(0, io.SeekCurrent)
			if err != nil {
				return a.errorf("%v", err)
			}
			if off+h.Size > size {
				return a.errorf("tar: member %s is cut short: its %d bytes at offset %d end past the archive's %d (a truncated archive)", name, h.Size, off, size)
			}
			end = off + (h.Size+511)/512*512
			if err := a.addFile(name, member{off: off, size: h.Size}); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := a.addFile(name, member{link: "symbolic link"}); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := a.addFile(name, member{link: "hard link"}); err != nil {
				return err
			}
		case tar.TypeGNUSparse:
			return a.errorf("member %s is a sparse file, which is not supported", name)
		default:
			// devices, FIFOs: not image files; a listing never sees them
		}
	}
}

// openZip indexes a.f, a zip file, by its central directory.
func (a *Archive) openZip() error {
	fi, err := a.f.Stat()
	if err != nil {
		return a.errorf("%v", err)
	}
	zr, err := zip.NewReader(a.f, fi.Size())
	if err != nil {
		return a.errorf("zip: %v", err)
	}
	for _, zf := range zr.File {
		name, err := a.memberName(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = a.addDir(name)
		case mode&fs.ModeSymlink != 0:
			err = a.addFile(name, member{link: "symbolic link"})
		case mode.IsRegular():
			if zf.UncompressedSize64 > 1<<40 {
				return a.errorf("member %s declares %d bytes", name, zf.UncompressedSize64)
			}
			err = a.addFile(name, member{size: int64(zf.UncompressedSize64), zf: zf})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// memberName checks and cleans a member name: relative, '/'-separated, no
// `..`, no NUL, no backslash, no drive letter. A leading "./" and a
// trailing "/" are dropped.
func (a *Archive) memberName(raw string) (string, error) {
	name := strings.TrimSuffix(raw, "/")
	for strings.HasPrefix(name, "./") {
		name = strings.TrimPrefix(name, "./")
	}
	bad := ""
	switch {
	case name == "" || name == ".":
		if strings.HasPrefix(raw, ".") {
			return ".", nil // the archive's top directory itself
		}
		bad = "is empty"
	case strings.ContainsRune(name, 0):
		bad = "holds a NUL byte"
	case strings.Contains(name, `\`):
		bad = "holds a backslash (members are '/'-separated)"
	case strings.HasPrefix(name, "/"):
		bad = "is absolute"
	case len(name) >= 2 && name[1] == ':':
		bad = "starts with a drive letter"
	case slices.Contains(strings.Split(name, "/"), ".."):
		bad = "has a .. component, which would leave the archive's tree"
	}
	if bad != "" {
		return "", a.errorf("member %q %s: refused", raw, bad)
	}
	return path.Clean(name), nil
}

func (a *Archive) addFile(name string, m member) error {
	if name == "." {
		return a.errorf("a file member has an empty name")
	}
	if _, dup := a.files[name]; dup {
		return a.errorf("member %s appears twice; which copy is meant is ambiguous", name)
	}
	if _, isDir := a.dirs[name]; isDir {
		return a.errorf("member %s is both a directory and a file", name)
	}
	a.files[name] = m
	mode := fs.FileMode(0)
	if m.link != "" {
		mode = fs.ModeSymlink
	}
	return a.addEntry(name, mode)
}

func (a *Archive) addDir(name string) error {
	if _, isFile := a.files[name]; isFile {
		return a.errorf("member %s is both a file and a directory", name)
	}
	if _, ok := a.dirs[name]; ok {
		return nil // "." and directories given twice (or implied before)
	}
	a.dirs[name] = nil
	return a.addEntry(name, fs.ModeDir)
}

// addEntry records name in its parent directory (creating the parents a
// tar or zip may leave implicit).
func (a *Archive) addEntry(name string, mode fs.FileMode) error {
	parent := path.Dir(name)
	if err := a.addDir(parent); err != nil {
		return err
	}
	a.dirs[parent] = append(a.dirs[parent], dirent{name: path.Base(name), mode: mode})
	return nil
}

func (a *Archive) sortDirs() {
	for d, es := range a.dirs {
		slices.SortFunc(es, func(x, y dirent) int { return strings.Compare(x.name, y.name) })
		a.dirs[d] = es
	}
}

// The tree interface, in member names.

func (a *Archive) join(dir, rel string) string {
	if dir == "." || dir == "" {
		return rel
	}
	return dir + "/" + rel
}

func (a *Archive) show(name string) string {
	if name == "." || name == "" {
		return a.name
	}
	return a.name + ":" + name
}

func (a *Archive) readDir(name string) ([]fs.DirEntry, error) {
	es, ok := a.dirs[name]
	if !ok {
		return nil, a.notFound(name)
	}
	out := make([]fs.DirEntry, len(es))
	for i := range es {
		out[i] = &es[i]
	}
	return out, nil
}

func (a *Archive) stat(name string) (fs.FileInfo, error) {
	if _, ok := a.dirs[name]; ok {
		return &dirent{name: path.Base(name), mode: fs.ModeDir}, nil
	}
	m, ok := a.files[name]
	switch {
	case !ok:
		return nil, &fs.PathError{Op: "stat", Path: a.show(name), Err: fs.ErrNotExist}
	case m.link != "":
		return nil, &fs.PathError{Op: "stat", Path: a.show(name), Err: fmt.Errorf("is a %s inside the archive; links in archives are not followed", m.link)}
	}
	return &dirent{name: path.Base(name), size: m.size}, nil
}

func (a *Archive) realPath(name string) (string, error) {
	if _, ok := a.dirs[name]; ok {
		return a.show(name), nil
	}
	if _, ok := a.files[name]; ok {
		return a.show(name), nil
	}
	return "", a.notFound(name)
}

// notFound names what the archive does hold at the top, the usual cause
// being an imagefolder or root one level off.
func (a *Archive) notFound(name string) error {
	var top []string
	for _, e := range a.dirs["."] {
		s := e.name
		if e.mode.IsDir() {
			s += "/"
		}
		top = append(top, s)
	}
	return fmt.Errorf("no such directory in archive %s (at its top: %s)", a.name, quoteList(top))
}

func (a *Archive) open(name string) (io.ReadSeekCloser, error) {
	m, ok := a.files[name]
	switch {
	case !ok:
		return nil, fs.ErrNotExist
	case m.link != "":
		return nil, fmt.Errorf("is a %s inside the archive; links in archives are not followed", m.link)
	case m.zf != nil:
		r := &zipMember{zf: m.zf}
		if err := r.rewind(); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nopCloser{io.NewSectionReader(a.f, m.off, m.size)}, nil
}

// errWriter remembers a write error, to tell the disk's errors from the
// stream's.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

type nopCloser struct{ *io.SectionReader }

func (nopCloser) Close() error { return nil }

// zipMember reads a zip member; a compressed member cannot seek, so seeking
// back to the start opens it again (all Converter.Decode needs: it reads the
// header, then decodes from the start).
type zipMember struct {
	zf  *zip.File
	rc  io.ReadCloser
	pos int64
}

func (z *zipMember) rewind() error {
	if z.rc != nil {
		z.rc.Close()
	}
	rc, err := z.zf.Open()
	if err != nil {
		return err
	}
	z.rc, z.pos = rc, 0
	return nil
}

func (z *zipMember) Read(p []byte) (int, error) {
	n, err := z.rc.Read(p)
	z.pos += int64(n)
	return n, err
}

func (z *zipMember) Seek(off int64, whence int) (int64, error) {
	switch {
	case whence == io.SeekStart && off == 0:
		return 0, z.rewind()
	case whence == io.SeekCurrent && off == 0:
		return z.pos, nil
	}
	return z.pos, errors.New("a compressed zip member can only seek back to its start")
}

func (z *zipMember) Close() error { return z.rc.Close() }

// dirent is a directory entry and file description of the index.
type dirent struct {
	name string
	mode fs.FileMode
	size int64
}

func (d *dirent) Name() string               { return d.name }
func (d *dirent) IsDir() bool                { return d.mode.IsDir() }
func (d *dirent) Type() fs.FileMode          { return d.mode.Type() }
func (d *dirent) Info() (fs.FileInfo, error) { return d, nil }
func (d *dirent) Size() int64                { return d.size }
func (d *dirent) Mode() fs.FileMode          { return d.mode }
func (d *dirent) ModTime() time.Time         { return time.Time{} }
func (d *dirent) Sys() any                   { return nil }

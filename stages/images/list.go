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
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Version enters the dataset hash; bump it whenever the same files would be
// listed, labelled or decoded differently.
const Version = "images/1"

// Extensions are the file name endings (compared case-insensitively) a
// folder tree's images may have; other files in class folders are ignored,
// as torchvision's ImageFolder ignores them.
var Extensions = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}

// Source is where one split's files are: Folder, or CSV with Root.
type Source struct {
	Folder string
	CSV    string
	Root   string
}

// Dir is the directory the split's relative paths are relative to.
func (s Source) Dir() string {
	if s.Folder != "" {
		return s.Folder
	}
	return s.Root
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
	Root    string
	Entries []Entry
}

// Path is the file system path of entry i.
func (l *Listing) Path(i int) string {
	return filepath.Join(l.Root, filepath.FromSlash(l.Entries[i].Rel))
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
	if r.line > 0 {
		return fmt.Sprintf("%s: line %d", s.src.CSV, r.line)
	}
	return filepath.Join(s.src.Folder, filepath.FromSlash(r.rel))
}

// List lists the sources of the splits (train first) and resolves their
// labels against classes. With classes nil, the classes are the sorted class
// folder names of the first source (or the sorted label strings of its CSV);
// every other source must use names among them. It returns the classes and
// one listing per source.
func List(classes []string, srcs ...Source) ([]string, []*Listing, error) {
	scans := make([]*scanned, len(srcs))
	for i, s := range srcs {
		var err error
		if s.Folder != "" {
			scans[i], err = scanFolder(s.Folder)
		} else {
			scans[i], err = scanCSV(s.CSV, s.Root)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	explicit := classes != nil
	if !explicit && len(scans) > 0 {
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
			return nil, nil, fmt.Errorf("%s: %d classes, at most 256 fit a uint8 label", first.src.Dir(), len(classes))
		}
	}
	ids := make(map[string]uint8, len(classes))
	for i, c := range classes {
		ids[c] = uint8(i)
	}
	out := make([]*Listing, len(scans))
	for k, s := range scans {
		for _, f := range s.folders {
			if _, ok := ids[f]; !ok {
				return nil, nil, fmt.Errorf("%s: class folder %q is not among the classes %s", s.src.Folder, f, quoteList(classes))
			}
		}
		l := &Listing{Root: s.src.Dir(), Entries: make([]Entry, len(s.rows))}
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
func scanFolder(root string) (*scanned, error) {
	s := &scanned{src: Source{Folder: root}, folders: []string{}}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("imagefolder %s: %w", root, err)
	}
	top, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("imagefolder %s: %w", root, err)
	}
	for _, e := range top {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(root, name)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("imagefolder %s: %w", root, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("imagefolder %s: %s is a file, not a class folder (expected <root>/<class>/<image>)", root, p)
		}
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("imagefolder %s: class folder name %q is not valid UTF-8", root, name)
		}
		before := len(s.rows)
		if err := walk(s, p, name, name, []string{real}); err != nil {
			return nil, err
		}
		if len(s.rows) == before {
			return nil, fmt.Errorf("imagefolder %s: class folder %s holds no image file (%s)", root, p, strings.Join(Extensions, ", "))
		}
		s.folders = append(s.folders, name)
	}
	if len(s.folders) == 0 {
		return nil, fmt.Errorf("imagefolder %s: no class folders (expected <root>/<class>/<image>)", root)
	}
	slices.Sort(s.folders)
	return s, nil
}

// walk adds the image files under dir (rel is its path below the root,
// class its class folder); ancestors are the resolved paths of the
// directories above it, to detect symlink loops.
func walk(s *scanned, dir, rel, class string, ancestors []string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("imagefolder %s: %w", s.src.Folder, err)
	}
	if slices.Contains(ancestors, real) {
		return fmt.Errorf("imagefolder %s: %s is a symlink loop (it leads back to %s)", s.src.Folder, dir, real)
	}
	ancestors = append(ancestors, real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("imagefolder %s: %w", s.src.Folder, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		r := rel + "/" + name
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("imagefolder %s: %s: %w", s.src.Folder, p, err)
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			if err := walk(s, p, r, class, ancestors); err != nil {
				return err
			}
		case mode.IsRegular() && isImage(name):
			if !utf8.ValidString(r) {
				return fmt.Errorf("imagefolder %s: file name %q is not valid UTF-8", s.src.Folder, r)
			}
			s.rows = append(s.rows, row{rel: r, label: class})
		}
	}
	return nil
}

// scanCSV reads a list of path,label rows (a header line naming the two
// columns first). Paths are relative to root, '/'-separated, and must name
// existing regular files, each once.
func scanCSV(file, root string) (*scanned, error) {
	s := &scanned{src: Source{CSV: file, Root: root}}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("csv %w", err)
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
			return nil, fmt.Errorf("%s: path %q must be relative to the root %s, '/'-separated, and stay inside it", where, p, root)
		}
		if first, dup := seen[clean]; dup {
			return nil, fmt.Errorf("%s: path %q is listed twice (first on line %d)", where, p, first)
		}
		seen[clean] = line
		full := filepath.Join(root, filepath.FromSlash(clean))
		fi, err := os.Stat(full)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, p, errors.Unwrap(err))
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: %s is a directory, not an image file", where, full)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: %s is not a regular file (%s)", where, full, fi.Mode().Type())
		}
		s.rows = append(s.rows, row{rel: clean, label: label, line: line})
	}
	if len(s.rows) == 0 {
		return nil, fmt.Errorf("%s: lists no image", file)
	}
	return s, nil
}

package tinyset

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Archive formats Pack writes.
const (
	Tar   = "tar"
	TarGz = "tar.gz"
	Zip   = "zip"
)

// Member is one extra member Pack writes, as given (names are not
// checked, so tests can write hostile archives).
type Member struct {
	Name string
	Body []byte
	// Link, when set, makes the member a symbolic link to it.
	Link string
	Dir  bool
}

// Pack returns an archive of format (Tar, TarGz or Zip) holding the
// regular files and directories under dir, named prefix/<path below dir>,
// in lexical order, followed by extra.
func Pack(dir, prefix, format string, extra ...Member) ([]byte, error) {
	var members []Member
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if prefix != "" {
			name = prefix + "/" + name
		}
		if d.IsDir() {
			members = append(members, Member{Name: name + "/", Dir: true})
			return nil
		}
		b, err := os.ReadFile(p)
		members = append(members, Member{Name: name, Body: b})
		return err
	})
	if err != nil {
		return nil, err
	}
	members = append(members, extra...)
	var buf bytes.Buffer
	switch format {
	case Tar, TarGz:
		var tw *tar.Writer
		var zw *gzip.Writer
		if format == TarGz {
			zw = gzip.NewWriter(&buf)
			tw = tar.NewWriter(zw)
		} else {
			tw = tar.NewWriter(&buf)
		}
		for _, m := range members {
			h := &tar.Header{Name: m.Name, Mode: 0o644, Size: int64(len(m.Body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
			switch {
			case m.Dir:
				h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
			case m.Link != "":
				h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, m.Link, 0
			}
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			if h.Typeflag == tar.TypeReg {
				if _, err := tw.Write(m.Body); err != nil {
					return nil, err
				}
			}
		}
		if err := tw.Close(); err != nil {
			return nil, err
		}
		if zw != nil {
			if err := zw.Close(); err != nil {
				return nil, err
			}
		}
	case Zip:
		zw := zip.NewWriter(&buf)
		for _, m := range members {
			h := &zip.FileHeader{Name: m.Name, Method: zip.Deflate}
			switch {
			case m.Dir:
				h.SetMode(fs.ModeDir | 0o755)
				if !strings.HasSuffix(h.Name, "/") {
					h.Name += "/"
				}
			case m.Link != "":
				h.SetMode(fs.ModeSymlink | 0o777)
				m.Body = []byte(m.Link)
			default:
				h.SetMode(0o644)
			}
			w, err := zw.CreateHeader(h)
			if err != nil {
				return nil, err
			}
			if !m.Dir {
				if _, err := w.Write(m.Body); err != nil {
					return nil, err
				}
			}
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tinyset: unknown archive format %q", format)
	}
	return buf.Bytes(), nil
}

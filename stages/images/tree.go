package images

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// tree is where a split's files are read from: the operating system's file
// system (osTree) or the members of an archive (*Archive). The listing code
// is written once against it, so a tree on disk and the same tree in an
// archive are listed by the same rules, in the same order.
//
// Names are the tree's own: OS paths for osTree, '/'-separated member names
// for an archive.
type tree interface {
	// join joins a relative '/'-separated path to a directory name.
	join(dir, rel string) string
	// readDir lists a directory, sorted by name; entries are not followed.
	readDir(name string) ([]fs.DirEntry, error)
	// stat describes a file, following links.
	stat(name string) (fs.FileInfo, error)
	// realPath resolves links, to detect a link that leads back to a
	// directory above it.
	realPath(name string) (string, error)
	// open opens a file for reading.
	open(name string) (io.ReadSeekCloser, error)
	// show is a name as messages print it.
	show(name string) string
}

// osTree is the operating system's file system.
type osTree struct{}

func (osTree) join(dir, rel string) string                { return filepath.Join(dir, filepath.FromSlash(rel)) }
func (osTree) readDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osTree) stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (osTree) realPath(name string) (string, error)       { return filepath.EvalSymlinks(name) }
func (osTree) show(name string) string                    { return name }

func (osTree) open(name string) (io.ReadSeekCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, errors.Unwrap(err) // the caller names the file
	}
	return f, nil
}

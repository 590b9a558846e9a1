package images

import (
	"strings"
	"syscall"
)

// dirCache opens the files of a run in one folder relative to the folder:
// the first file of a folder by its path, the further ones with openat on
// a descriptor of the folder, opened at the second file (so a Reader used
// for one file costs no more than a plain open).
type dirCache struct {
	sub    string // the folder, relative to the root, of the file before
	valid  bool   // sub names a folder (the Reader opened a file before)
	fd     int    // descriptor of sub, when open
	isOpen bool   // fd is open
	tried  bool   // opening sub was tried (and fd is open or it failed)
}

// open opens file rel (relative to root, '/'-separated) for reading. Its
// errors are those of opening the file by its path: when opening it
// relative to its folder fails, the path is tried and gives the error.
func (d *dirCache) open(root, rel string) (int, error) {
	sub, base := "", rel
	if k := strings.LastIndexByte(rel, '/'); k >= 0 {
		sub, base = rel[:k], rel[k+1:]
	}
	full := func() (int, error) { return openPath(osTree{}.join(root, rel), 0) }
	if !d.valid || sub != d.sub {
		d.close()
		d.sub, d.valid = sub, true
		return full()
	}
	if !d.tried {
		d.tried = true
		fd, err := openPath(osTree{}.join(root, sub), syscall.O_DIRECTORY)
		if err == nil {
			d.fd, d.isOpen = fd, true
		}
	}
	if !d.isOpen {
		return full()
	}
	for {
		fd, err := syscall.Openat(d.fd, base, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return fd, nil
		case err != syscall.EINTR:
			return full()
		}
	}
}

// close closes the folder's descriptor; the cache starts afresh.
func (d *dirCache) close() {
	if d.isOpen {
		syscall.Close(d.fd)
	}
	*d = dirCache{}
}

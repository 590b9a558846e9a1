//go:build unix

package images

import (
	"io"
	"io/fs"
	"syscall"
)

// readOS reads entry i whole into r.buf when the listing's tree is the
// file system (handled true), with plain system calls: os.Open would also
// make the descriptor non-blocking, try to register it with the runtime's
// poller and attach a cleanup — more work per file than reading a small one
// takes. It fails with errTooLarge past maxInMemory bytes; errors are those
// os.Open and (*os.File).Read give, the open error unwrapped as osTree.open
// unwraps it.
//
// A PNG file that a first, short read returns whole up to its IEND chunk
// is not read again for the end of file: the decoders stop at IEND, so what
// may follow it cannot change the pixels (pngWhole).
func (r *Reader) readOS(i int) (buf []byte, handled bool, err error) {
	l := r.l
	if _, ok := l.t().(osTree); !ok {
		return nil, false, nil
	}
	fd, err := r.dirs.open(l.dir, l.Entries[i].Rel)
	if err != nil {
		return r.buf[:0], true, err
	}
	defer syscall.Close(fd)
	r.fd = fdReader{fd, l, i}
	buf, err = readUpTo(r.buf[:0], &r.fd, maxInMemory, pngWhole)
	r.fd = fdReader{}
	return buf, true, err
}

// openPath opens name for reading, retrying when interrupted.
func openPath(name string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(name, flags|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// fdReader reads a file descriptor, entry i of l; its errors are those of
// (*os.File).Read.
type fdReader struct {
	fd int
	l  *Listing
	i  int
}

func (r *fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(r.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: r.l.name(r.i), Err: err}
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

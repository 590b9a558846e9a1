//go:build unix

package images

import (
	"io"
	"io/fs"
	"syscall"
)

var _ wholeReader = osTree{}

// readFile reads the file name whole, appended to buf, with plain system
// calls: os.Open would also make the descriptor non-blocking, try to
// register it with the runtime's poller and attach a cleanup — more work
// per file than reading a small one takes. It fails with errTooLarge past
// limit bytes; errors are those os.Open and (*os.File).Read give, the open
// error unwrapped as osTree.open unwraps it.
func (osTree) readFile(name string, buf []byte, limit int) ([]byte, error) {
	var fd int
	var err error
	for {
		if fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return buf, err
	}
	defer syscall.Close(fd)
	return readUpTo(buf, fdReader{fd, name}, limit)
}

// fdReader reads a file descriptor; its errors are those of (*os.File).Read.
type fdReader struct {
	fd   int
	name string
}

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(r.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: r.name, Err: err}
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

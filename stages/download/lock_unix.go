//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || (solaris && amd64)

package download

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive flock on path, creating the file if needed.
// flock locks belong to the open file description, so two opens in one
// process exclude each other just as two processes do.
func lockFile(ctx context.Context, path string) (func(), error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(fh.Fd())
	err = pollLock(ctx, func() (bool, error) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EINTR):
			return false, nil
		}
		return false, &os.PathError{Op: "flock", Path: path, Err: err}
	})
	if err != nil {
		fh.Close()
		return nil, err
	}
	return func() {
		unix.Flock(fd, unix.LOCK_UN)
		fh.Close()
	}, nil
}

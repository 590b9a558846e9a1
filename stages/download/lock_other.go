//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || (solaris && amd64) || windows)

package download

import "context"

// lockFile is a no-op where no file lock is available. Goroutines of one
// process are still serialized, but two processes sharing one cache
// directory on such a platform may interleave writes to the same .part file.
func lockFile(ctx context.Context, path string) (func(), error) {
	return func() {}, nil
}

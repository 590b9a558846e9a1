//go:build unix && !linux

package images

// dirCache opens every file by its path (the system has no openat in
// package syscall).
type dirCache struct{}

func (d *dirCache) open(root, rel string) (int, error) { return openPath(osTree{}.join(root, rel), 0) }

func (d *dirCache) close() {}

//go:build !unix

package download

// oNonblock is 0 where opening a file cannot block on a writer (Windows'
// named pipes live in their own namespace, never in a directory tree).
const oNonblock = 0

package idx

import "fmt"

// Error describes malformed input: where it is and what was found there.
// Offset counts bytes of the decompressed stream, so it points into the IDX
// data whether or not the file is gzip-compressed.
//
// Err holds the underlying error, if any (a gzip checksum failure, an I/O
// error), and is returned by Unwrap.
type Error struct {
	File     string // name given to NewReader, or the path given to Open
	Offset   int64  // byte offset in the decompressed stream
	Expected string // what the format requires at Offset
	Got      string // what the input contains instead
	Err      error  // underlying error, may be nil
}

// Error formats e as "idx: FILE: offset N: expected X, got Y".
func (e *Error) Error() string {
	return fmt.Sprintf("idx: %s: offset %d: expected %s, got %s", e.File, e.Offset, e.Expected, e.Got)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

//go:build windows

package durable

// syncDir does nothing: Windows cannot open a directory for FlushFileBuffers,
// and NTFS journals a rename before MoveFileEx returns.
func syncDir(string) error { return nil }

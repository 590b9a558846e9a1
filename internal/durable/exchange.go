package durable

import (
	"errors"
	"path/filepath"
)

// ErrNoExchange is returned by Exchange where the OS has no atomic exchange
// of two names.
var ErrNoExchange = errors.New("atomic exchange of two paths is not supported here")

// Exchange swaps the names a and b atomically (both must exist; either may
// be a directory) and fsyncs their directory, so that at every moment,
// crash included, each name holds one whole version of what it held. It is
// what replaces a non-empty directory without a moment in which neither the
// old nor the new one stands at its name, which two renames cannot do. It
// returns ErrNoExchange where the OS cannot (all but Linux here); callers
// then fall back to two renames.
func Exchange(a, b string) error {
	if err := step(OpRename, b); err != nil {
		return err
	}
	if err := exchange(a, b); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(b))
}

package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofrs/flock"
)

// Lock is an exclusive advisory lock on a file: flock on Unix, LockFileEx
// on Windows (github.com/gofrs/flock). The kernel drops it when the
// process dies, however it dies, so a killed run never leaves a stale
// lock behind. Two Locks on one path exclude each other within a process
// too, since each opens the file anew.
type Lock struct {
	fl *flock.Flock
}

// ErrLocked is returned by TryLock when another holder has the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes the lock on path (created if missing) if it is free, or
// fails at once with an error wrapping ErrLocked.
func TryLock(path string) (*Lock, error) {
	fl := flock.New(path, flock.SetPermissions(0o644))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
	}
	return &Lock{fl: fl}, nil
}

// LockWait takes the lock on path, waiting while another holder has it.
// onWait, when not nil, runs once when the first try finds it held (to say
// why nothing happens). Waiting polls a non-blocking try with a pause that
// grows to 200ms, so it ends as soon as ctx does, with ctx's error: a
// blocking flock could not be interrupted.
func LockWait(ctx context.Context, path string, onWait func()) (*Lock, error) {
	fl := flock.New(path, flock.SetPermissions(0o644))
	pause := 5 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return &Lock{fl: fl}, nil
		}
		if onWait != nil {
			onWait()
			onWait = nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// Unlock releases the lock. The lock file stays: removing it would let a
// waiter lock a file that a third process then recreates and locks too.
func (l *Lock) Unlock() error {
	return l.fl.Unlock()
}

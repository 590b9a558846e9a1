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
// too, since each opens the file anew. Where the OS has no file locks
// (plan9, js, wasip1) taking one succeeds and excludes nothing.
type Lock struct {
	fl *flock.Flock // nil: no file locks here
}

// try is one non-blocking attempt.
func try(fl *flock.Flock) (*Lock, bool, error) {
	ok, err := fl.TryLock()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return &Lock{}, true, nil
	case err != nil:
		return nil, false, err
	case !ok:
		return nil, false, nil
	}
	return &Lock{fl: fl}, true, nil
}

// ErrLocked is returned by TryLock when another holder has the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes the lock on path (created if missing) if it is free, or
// fails at once with an error wrapping ErrLocked.
func TryLock(path string) (*Lock, error) {
	l, ok, err := try(flock.New(path, flock.SetPermissions(0o644)))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
	}
	return l, nil
}

// LockWait takes the lock on path, waiting while another holder has it.
// onWait, when not nil, runs once when the first try finds it held (to say
// why nothing happens). Waiting polls a non-blocking try with a pause that
// grows to 200ms, so it ends as soon as ctx does, with ctx's error: a
// blocking flock could not be interrupted. A free lock is taken even when
// ctx has already ended.
func LockWait(ctx context.Context, path string, onWait func()) (*Lock, error) {
	fl := flock.New(path, flock.SetPermissions(0o644))
	pause := 5 * time.Millisecond
	for {
		l, ok, err := try(fl)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return l, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
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
	if l.fl == nil {
		return nil
	}
	return l.fl.Unlock()
}

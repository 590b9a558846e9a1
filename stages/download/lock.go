package download

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// lockEntry takes the lock of one cache entry: first among the goroutines of
// this process (a table of one-slot channels, so waiting needs no polling),
// then among processes (an advisory lock on the file at path). It returns
// when both are held or ctx ends.
func lockEntry(ctx context.Context, path string) (unlock func(), err error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	release, err := inProcess.acquire(ctx, path)
	if err != nil {
		return nil, err
	}
	funlock, err := lockFile(ctx, path)
	if err != nil {
		release()
		return nil, err
	}
	return func() {
		funlock()
		release()
	}, nil
}

var inProcess = keyedLocks{m: make(map[string]*keyedLock)}

type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	ch   chan struct{} // holds a token while the lock is held
	refs int           // holders and waiters
}

func (k *keyedLocks) acquire(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()

	drop := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() {
			<-l.ch
			drop()
		}, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// lockFile takes the advisory lock on path, among processes; waiting for it
// ends with ctx.
func lockFile(ctx context.Context, path string) (func(), error) {
	l, err := durable.LockWait(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

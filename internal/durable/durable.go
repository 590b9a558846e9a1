// Package durable is the one place that writes files so that a crash, a
// full disk or a kill at any moment leaves either the old contents or the
// complete new ones, never a torn file; and the one place that takes the
// advisory locks that keep two processes out of one output directory.
//
// An atomic write goes to a temporary file in the destination's directory
// (so the final rename never crosses a file system), is fsynced, renamed
// over the destination, and then the directory is fsynced so that the
// rename itself survives a power cut. A write that fails at any step
// removes its temporary file and leaves the destination untouched.
package durable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Op names one step of a durable write, for the test hook.
type Op string

// The steps of an atomic write, in the order they happen.
const (
	OpCreate  Op = "create"    // the temporary file is created
	OpWrite   Op = "write"     // the first byte of contents is written
	OpSync    Op = "fsync"     // the temporary file is fsynced
	OpRename  Op = "rename"    // it is renamed over the destination
	OpSyncDir Op = "fsync-dir" // the destination's directory is fsynced
)

// hook, when set, runs before every step; an error it returns fails that
// step as an I/O error would.
var hook atomic.Pointer[func(op Op, path string) error]

// SetTestHook installs h to run before each step of every durable write in
// the process (path is the destination file, or the directory for
// OpSyncDir) and returns a function that removes it. A test uses it to
// record the order of the steps or to inject a failure at one of them, as a
// full disk or a dying process would; it is not for production code. Tests
// that set it must not run in parallel with other durable writes.
func SetTestHook(h func(op Op, path string) error) (restore func()) {
	prev := hook.Swap(&h)
	return func() { hook.Store(prev) }
}

func step(op Op, path string) error {
	if h := hook.Load(); h != nil && *h != nil {
		return (*h)(op, path)
	}
	return nil
}

// File is a file being written atomically: nothing appears at its path
// until Commit returns nil.
type File struct {
	path  string
	perm  os.FileMode
	tmp   *os.File
	wrote bool
	done  bool
}

// Create starts an atomic write of path; the file gets mode perm when
// committed. Always call Abort (deferred) or Commit.
func Create(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := step(OpCreate, path); err != nil {
		return nil, &os.PathError{Op: "create", Path: path, Err: err}
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err // names the directory
	}
	return &File{path: path, perm: perm, tmp: tmp}, nil
}

// Name returns the destination path.
func (f *File) Name() string { return f.path }

// Write appends to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, &os.PathError{Op: "write", Path: f.path, Err: os.ErrClosed}
	}
	if !f.wrote {
		f.wrote = true
		if err := step(OpWrite, f.path); err != nil {
			return 0, &os.PathError{Op: "write", Path: f.path, Err: err}
		}
	}
	n, err := f.tmp.Write(p)
	if err != nil {
		err = &os.PathError{Op: "write", Path: f.path, Err: unwrapPath(err)}
	}
	return n, err
}

// Commit makes the written contents the file at the destination path:
// fsync, close, rename, fsync of the directory. On an error before the
// rename the temporary file is removed and the destination keeps its old
// contents; an error from the directory fsync means the new contents are
// in place but may not survive a power cut.
func (f *File) Commit() error {
	if f.done {
		return &os.PathError{Op: "commit", Path: f.path, Err: os.ErrClosed}
	}
	f.done = true
	if !f.wrote {
		// An empty file: the write step still happens, for the order.
		f.wrote = true
		if err := step(OpWrite, f.path); err != nil {
			f.discard()
			return &os.PathError{Op: "write", Path: f.path, Err: err}
		}
	}
	if err := f.tmp.Chmod(f.perm); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.discard()
		return &os.PathError{Op: "chmod", Path: f.path, Err: unwrapPath(err)}
	}
	if err := commitOpen(f.tmp, f.path); err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	return nil
}

// Abort discards an uncommitted write; after Commit it does nothing, so it
// can be deferred right after Create.
func (f *File) Abort() {
	if !f.done {
		f.done = true
		f.discard()
	}
}

func (f *File) discard() {
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// commitOpen is the tail shared by File.Commit and Commit: fsync and close
// tmp, rename it to path, fsync path's directory. tmp is closed on return.
func commitOpen(tmp *os.File, path string) error {
	if err := step(OpSync, path); err != nil {
		tmp.Close()
		return &os.PathError{Op: "fsync", Path: path, Err: err}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return &os.PathError{Op: "fsync", Path: path, Err: unwrapPath(err)}
	}
	if err := tmp.Close(); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: unwrapPath(err)}
	}
	if err := step(OpRename, path); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp.Name(), New: path, Err: err}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err // *LinkError names both
	}
	return SyncDir(filepath.Dir(path))
}

// Commit makes f, a file the caller has written in path's directory (a
// resumable download's partial file), the file at path: fsync, close,
// rename, fsync of the directory. f is closed on return; on an error before
// the rename it stays under its own name, for the caller to keep or remove.
func Commit(f *os.File, path string) error {
	return commitOpen(f, path)
}

// Write atomically replaces path with what fn writes.
func Write(path string, perm os.FileMode, fn func(io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fn(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Rename renames oldpath to newpath and fsyncs newpath's directory (and
// oldpath's, when it is another one), so the rename survives a crash.
func Rename(oldpath, newpath string) error {
	if err := step(OpRename, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(newpath)); err != nil {
		return err
	}
	if od := filepath.Dir(oldpath); od != filepath.Dir(newpath) {
		return SyncDir(od)
	}
	return nil
}

// SyncDir fsyncs a directory, making the creations, renames and removals
// in it durable. Where the OS cannot sync a directory (Windows, whose
// renames are durable once they return) it does nothing.
func SyncDir(dir string) error {
	if err := step(OpSyncDir, dir); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return syncDir(dir)
}

// unwrapPath drops the *PathError of the temporary file, whose name means
// nothing to a user, so the error can name the destination instead.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

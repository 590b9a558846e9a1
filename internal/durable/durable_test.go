package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onlyFiles fails unless dir holds exactly the named entries (no temporary
// file left behind).
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("directory holds %q, want %q", got, want)
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, p); got != "two" {
		t.Fatalf("contents %q, want %q", got, "two")
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", fi.Mode().Perm())
		}
	}
	onlyFiles(t, dir, "f.json")
}

// TestStepOrder checks that the contents are on disk before the rename makes
// them visible, and the rename is made durable after it.
func TestStepOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	var got []Op
	defer SetTestHook(func(op Op, path string) error {
		want := p
		if op == OpSyncDir {
			want = dir
		}
		if path != want {
			t.Errorf("%s: path %q, want %q", op, path, want)
		}
		got = append(got, op)
		return nil
	})()
	if err := WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []Op{OpCreate, OpWrite, OpSync, OpRename, OpSyncDir}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	// An empty file goes through the same steps.
	got = nil
	if err := WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("empty file: steps %v, want %v", got, want)
	}
}

// TestFailedWriteKeepsOld injects a failure at each step before the rename:
// the error names the file, the old contents stay and no temporary file is
// left.
func TestFailedWriteKeepsOld(t *testing.T) {
	errDisk := errors.New("no space left on device (injected)")
	for _, at := range []Op{OpCreate, OpWrite, OpSync, OpRename} {
		t.Run(string(at), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := WriteFile(p, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			restore := SetTestHook(func(op Op, _ string) error {
				if op == at {
					return errDisk
				}
				return nil
			})
			err := WriteFile(p, []byte("new contents"), 0o644)
			restore()
			if !errors.Is(err, errDisk) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name %s", err, p)
			}
			if got := readString(t, p); got != "old" {
				t.Fatalf("contents %q after a failed write, want the old %q", got, "old")
			}
			onlyFiles(t, dir, "f")
		})
	}
}

func TestWriterErrorKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("encoder failed")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if got := readString(t, p); got != "old" {
		t.Fatalf("contents %q, want %q", got, "old")
	}
	onlyFiles(t, dir, "f")
}

// TestSyncDirFailure: the rename happened, so the new contents are in place,
// but the caller learns that they may not survive a power cut.
func TestSyncDirFailure(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	errIO := errors.New("input/output error (injected)")
	defer SetTestHook(func(op Op, _ string) error {
		if op == OpSyncDir {
			return errIO
		}
		return nil
	})()
	if err := WriteFile(p, []byte("new"), 0o644); !errors.Is(err, errIO) {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if got := readString(t, p); got != "new" {
		t.Fatalf("contents %q", got)
	}
	onlyFiles(t, dir, "f")
}

func TestAbortAndDoubleCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	f.Abort()
	onlyFiles(t, dir)
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	f, err = Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.Write([]byte("y"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no effect after Commit
	if _, err := f.Write([]byte("z")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if got := readString(t, p); got != "y" {
		t.Fatalf("contents %q", got)
	}
	onlyFiles(t, dir, "f")
}

// TestCommitPartial: a file written under its own name (a partial download)
// becomes the destination, in the same step order.
func TestCommitPartial(t *testing.T) {
	dir := t.TempDir()
	part, final := filepath.Join(dir, "x.part"), filepath.Join(dir, "x")
	fh, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("data")
	var got []Op
	defer SetTestHook(func(op Op, _ string) error { got = append(got, op); return nil })()
	if err := Commit(fh, final); err != nil {
		t.Fatal(err)
	}
	if want := []Op{OpSync, OpRename, OpSyncDir}; !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	if readString(t, final) != "data" {
		t.Fatal("wrong contents")
	}
	onlyFiles(t, dir, "x")
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("a"), 0o644)
	var got []Op
	defer SetTestHook(func(op Op, _ string) error { got = append(got, op); return nil })()
	if err := Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if want := []Op{OpRename, OpSyncDir}; !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	onlyFiles(t, dir, "b")
	if err := Rename(a, b); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("renaming a missing file: %v", err)
	}
}

func TestCreateInMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "f")
	if err := WriteFile(p, []byte("x"), 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

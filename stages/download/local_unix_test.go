//go:build unix

package download

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFetchLocalNotRegular: a FIFO with no writer (opening it for reading
// would block forever), a link to one, and a character device are refused
// at once, naming the path and what it is, before anything is read.
func TestFetchLocalNotRegular(t *testing.T) {
	srcDir := t.TempDir()
	fifo := filepath.Join(srcDir, "pipe.gz")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("cannot make a FIFO:", err)
	}
	link := filepath.Join(srcDir, "link.gz")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, path, what string }{
		{"FIFO", fifo, "a named pipe (FIFO)"},
		{"link to a FIFO", link, "a named pipe (FIFO)"},
	}
	if fi, err := os.Stat("/dev/zero"); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		cases = append(cases, struct{ name, path, what string }{"character device", "/dev/zero", "a character device"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, dir, _ := newTestFetcher(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			data := testData(16)
			_, err := f.Fetch(ctx, Source{Name: "pipe.gz", SHA256: hexSum(data), URLs: []string{tc.path}})
			if ctx.Err() != nil {
				t.Fatalf("Fetch blocked on %s until the test's deadline", tc.path)
			}
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			want := tc.path + " is not a regular file but " + tc.what
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q lacks %q", err, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusal took %v", d)
			}
			final, part := entryPaths(dir, data)
			if exists(t, final) || exists(t, part) {
				t.Errorf("cache entry left after the refusal")
			}
		})
	}
}

// TestOpenRegularReplacedByFIFO: the check of the opened file catches a path
// that became a FIFO after the first check, without blocking in the open.
func TestOpenRegularReplacedByFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("cannot make a FIFO:", err)
	}
	done := make(chan error, 1)
	go func() {
		in, err := os.OpenFile(p, os.O_RDONLY|oNonblock, 0)
		if err == nil {
			in.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("non-blocking open of a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening a FIFO with oNonblock blocked")
	}
}

package download

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The test binary doubles as a second process for the cross-process tests:
// with DOWNLOAD_TEST_CHILD set it runs one action and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("DOWNLOAD_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "trylock":
		// Exit 0 if the lock was free, 3 if another process holds it.
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // one attempt, no waiting
		unlock, err := lockFile(ctx, os.Getenv("DOWNLOAD_TEST_PATH"))
		if errors.Is(err, context.Canceled) {
			os.Exit(3)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		unlock()
		os.Exit(0)
	case "fetch":
		f := New(WithCacheDir(os.Getenv("DOWNLOAD_TEST_PATH")))
		path, err := f.Fetch(context.Background(), Source{
			Name:   "child.bin",
			SHA256: os.Getenv("DOWNLOAD_TEST_SHA256"),
			URLs:   []string{os.Getenv("DOWNLOAD_TEST_URL")},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(path)
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown DOWNLOAD_TEST_CHILD")
	os.Exit(2)
}

func child(t *testing.T, action string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{"DOWNLOAD_TEST_CHILD=" + action}, env...)...)
	return cmd
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestLockFileExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	// A second open of the same file, as another process would have.
	if _, err := lockFile(cancelled(), path); !errors.Is(err, context.Canceled) {
		t.Fatalf("second lock while held: err = %v, want it to wait (and give up on the cancelled context)", err)
	}
	// Another process sees it held too.
	err = child(t, "trylock", "DOWNLOAD_TEST_PATH="+path).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("other process while held: %v, want exit status 3", err)
	}
	unlock()
	unlock2, err := lockFile(cancelled(), path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
	if err := child(t, "trylock", "DOWNLOAD_TEST_PATH="+path).Run(); err != nil {
		t.Errorf("other process after unlock: %v", err)
	}
}

func TestLockEntryInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "y.lock")
	unlock, err := lockEntry(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockEntry(cancelled(), path); !errors.Is(err, context.Canceled) {
		t.Fatalf("second lockEntry while held: %v", err)
	}
	// A waiter blocks until the holder lets go.
	got := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		close(ready)
		u, err := lockEntry(context.Background(), path)
		if err == nil {
			u()
		}
		got <- err
	}()
	<-ready
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	inProcess.mu.Lock()
	n := len(inProcess.m)
	inProcess.mu.Unlock()
	if n != 0 {
		t.Errorf("%d in-process lock entries left", n)
	}
}

// TestFetchTwoProcesses runs two processes fetching the same file into one
// cache at once: both must end with the verified file and only one of them
// may download it.
func TestFetchTwoProcesses(t *testing.T) {
	data := testData(testSize)
	m := newMirror(t, serve(data))
	dir := t.TempDir()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := child(t, "fetch", "DOWNLOAD_TEST_PATH="+dir, "DOWNLOAD_TEST_SHA256="+hexSum(data), "DOWNLOAD_TEST_URL="+m.URL)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			outs[i] = string(out)
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
			}
		})
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		checkFetched(t, outs[i], dir, data)
	}
	if n := len(m.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

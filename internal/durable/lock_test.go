package durable

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The test binary doubles as a second process: with DURABLE_TEST_CHILD set
// it runs one action on DURABLE_TEST_PATH and exits.
func TestMain(m *testing.M) {
	path := os.Getenv("DURABLE_TEST_PATH")
	switch os.Getenv("DURABLE_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "trylock":
		// Exit 0 if the lock was free, 3 if another process holds it.
		l, err := TryLock(path)
		if errors.Is(err, ErrLocked) {
			os.Exit(3)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l.Unlock()
		os.Exit(0)
	case "hold":
		// Take the lock, say so, and wait to be killed.
		if _, err := TryLock(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown DURABLE_TEST_CHILD")
	os.Exit(2)
}

func child(t *testing.T, action, path string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "DURABLE_TEST_CHILD="+action, "DURABLE_TEST_PATH="+path)
	return cmd
}

func otherProcessSees(t *testing.T, path string) (held bool) {
	t.Helper()
	err := child(t, "trylock", path).Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return true
	}
	t.Fatalf("trylock child: %v", err)
	return false
}

func TestTryLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock in the process while held: %v, want ErrLocked", err)
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !otherProcessSees(t, path) {
		t.Error("another process could take the lock while it was held")
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if otherProcessSees(t, path) {
		t.Error("another process could not take the lock after Unlock")
	}
	l2, err := TryLock(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

func TestLockWaitCancellable(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var waits atomic.Int32
	start := time.Now()
	if _, err := LockWait(ctx, path, func() { waits.Add(1) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled wait took %v", d)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("onWait ran %d times, want once", n)
	}
}

func TestLockWaitGetsReleasedLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		w, err := LockWait(context.Background(), path, func() { close(waiting) })
		if err == nil {
			w.Unlock()
		}
		got <- err
	}()
	<-waiting
	l.Unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter did not get the released lock")
	}
}

// TestLockDiesWithProcess: a holder killed with SIGKILL leaves no stale lock.
func TestLockDiesWithProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	cmd := child(t, "hold", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by a live child: %v, want ErrLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}

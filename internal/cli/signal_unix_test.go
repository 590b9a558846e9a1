//go:build unix

package cli

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestSignalContextSIGTERM(t *testing.T) {
	ctx, stop, sig := SignalContext()
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	if s := sig(); s != syscall.SIGTERM || InterruptStatus(s) != 143 {
		t.Fatalf("signal %v, status %d; want SIGTERM, 143", s, InterruptStatus(s))
	}
	if InterruptStatus(os.Interrupt) != 130 {
		t.Error("SIGINT is not exit status 130")
	}
}

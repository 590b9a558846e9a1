// Package cli is what the shardsmith commands (prep, trainer) share at their
// edge with the user: the signal context that turns SIGINT and SIGTERM into a
// cancelled context and exit status 130 or 143, usage errors (exit 2), flag
// parsing with validated numeric flags, a one-line progress display on a
// terminal and CPU profiling. One copy, so both commands behave alike.
package cli

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
)

// ErrUsage marks a command-line mistake (exit status 2). What was wrong has
// already been printed when it is returned.
var ErrUsage = errors.New("usage")

// Exit statuses shared by the commands.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130 // SIGINT
	ExitTerminated  = 143 // SIGTERM
)

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM.
// stop releases the signal handler; sig reports which signal came
// (os.Interrupt if none did).
func SignalContext() (ctx context.Context, stop func(), sig func() os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var (
		mu  sync.Mutex
		got os.Signal = os.Interrupt
	)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			mu.Lock()
			got = s
			mu.Unlock()
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); signal.Stop(ch); cancel() }) }
	sig = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	return ctx, stop, sig
}

// InterruptStatus is the exit status for a run stopped by s: 143 for
// SIGTERM, 130 otherwise.
func InterruptStatus(s os.Signal) int {
	if s == syscall.SIGTERM {
		return ExitTerminated
	}
	return ExitInterrupted
}

// OnFlagSet, when set, sees every flag set Parse parses, before parsing.
// Tests use it to enumerate the flags of every command.
var OnFlagSet func(*flag.FlagSet)

// Parse parses args into fs. --help gives flag.ErrHelp (exit 0); any other
// mistake gives ErrUsage, the flag package having printed what was wrong
// (for a value a flag refuses: the flag, the value and why).
func Parse(fs *flag.FlagSet, args []string) error {
	if OnFlagSet != nil {
		OnFlagSet(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	return nil
}

// StartCPUProfile writes a CPU profile to path until stop is called; an
// empty path profiles nothing.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

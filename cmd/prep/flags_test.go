package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/internal/cli/clitest"
)

// Every flag of every command, enumerated from the flag sets (a flag or
// command added later is covered without touching this test), is tried with
// NaN, ±Inf, -1, 0, 1e308, 2^63, "" and garbage.
func TestEveryFlagRefusesHostileValues(t *testing.T) {
	t.Chdir(t.TempDir()) // a value taken as a file name lands here
	missing := filepath.Join(t.TempDir(), "missing")
	runner := func(args []string, so, se *bytes.Buffer) int { return run(args, so, se) }
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			// A missing CONFIG or DIR makes every command fail fast once its
			// flags are accepted.
			clitest.TryFlags(t, runner, []string{name, missing})
		})
	}
}

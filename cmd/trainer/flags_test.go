package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/internal/cli/clitest"
)

// Every flag of every subcommand, enumerated from the flag sets (a flag or
// subcommand added later is covered without touching this test), is tried
// with NaN, ±Inf, -1, 0, 1e308, 2^63, "" and garbage.
func TestEveryFlagRefusesHostileValues(t *testing.T) {
	t.Chdir(t.TempDir()) // a value taken as a file name lands here
	missing := filepath.Join(t.TempDir(), "missing")
	// Arguments that make a subcommand fail fast (exit 1) once its flags
	// are accepted: nothing trains.
	base := map[string][]string{
		"":         {"--shards", missing},
		"eval":     {"eval", "--checkpoint", missing, "--shards", missing},
		"finetune": {"finetune", "--from", missing, "--shards", missing},
		"sweep":    {"sweep", "--shards", missing, "--grid", "lr=1e-3,2e-3"},
		"order":    {"order", "--shards", missing},
	}
	runner := func(args []string, so, se *bytes.Buffer) int { return run(args, so, se) }
	for name := range subcommands {
		b, ok := base[name]
		if !ok {
			t.Fatalf("subcommand %q has no base arguments here: add them so its flags are tried", name)
		}
		t.Run(fmt.Sprintf("cmd=%q", name), func(t *testing.T) {
			if n := clitest.TryFlags(t, runner, b); n < 2*len(clitest.Hostile) {
				t.Fatalf("tried only %d command lines", n)
			}
		})
	}
}

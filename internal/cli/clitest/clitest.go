// Package clitest tries every flag of a command with hostile values, for
// the commands' tests. It takes a small interface rather than *testing.T so
// that it does not import package testing into non-test code.
package clitest

import (
	"bytes"
	"flag"
	"slices"
	"strconv"
	"strings"

	"github.com/shardsmith/shardsmith/internal/cli"
)

// TB is the part of testing.TB the checks use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Run runs a command line in process and returns its exit status.
type Run func(args []string, stdout, stderr *bytes.Buffer) int

// Hostile are the values every flag is tried with.
var Hostile = []string{"NaN", "Inf", "-Inf", "-1", "0", "1e308", "9223372036854775808", "", "garbage"}

// RefusedByNumeric are the hostile values no numeric flag may accept.
var RefusedByNumeric = []string{"NaN", "Inf", "-Inf", "-1", "", "garbage"}

// FlagSets returns the flag sets the command line args parses (through
// cli.Parse), found by running it with --help.
func FlagSets(t TB, run Run, args ...string) []*flag.FlagSet {
	t.Helper()
	var sets []*flag.FlagSet
	cli.OnFlagSet = func(fs *flag.FlagSet) {
		if !slices.Contains(sets, fs) {
			sets = append(sets, fs)
		}
	}
	defer func() { cli.OnFlagSet = nil }()
	var so, se bytes.Buffer
	if code := run(append(slices.Clone(args), "--help"), &so, &se); code != 0 || len(sets) == 0 {
		t.Fatalf("%q --help: exit %d, %d flag sets\n%s", args, code, len(sets), se.String())
	}
	return sets
}

// TryFlags runs base + --NAME=VALUE for every flag of the command base
// names and every hostile value, and checks that the exit status is 0, 1
// or 2, that nothing panics, that a usage error names the flag, and that a
// numeric flag (one whose default is a number) refuses NaN, ±Inf,
// negatives and non-numbers naming the value too: as given, or as parsed
// when the flag was accepted and a check across flags refused it. base
// should make the command fail fast once its flags are accepted. It
// returns how many command lines it ran.
func TryFlags(t TB, run Run, base []string) int {
	t.Helper()
	tried := 0
	for _, fs := range FlagSets(t, run, base...) {
		fs.VisitAll(func(f *flag.Flag) {
			_, err := strconv.ParseFloat(f.DefValue, 64)
			numeric := err == nil
			for _, v := range Hostile {
				args := append(slices.Clone(base), "--"+f.Name+"="+v)
				tried++
				var so, se bytes.Buffer
				code := func() (code int) {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%q panics: %v", args, r)
							code = -1
						}
					}()
					return run(args, &so, &se)
				}()
				msg := se.String()
				switch {
				case code < 0:
				case code != 0 && code != 1 && code != 2:
					t.Errorf("%q: exit %d\n%s", args, code, msg)
				case numeric && slices.Contains(RefusedByNumeric, v) && code != 2:
					t.Errorf("%q: exit %d, want 2 (a numeric flag refuses %q)\n%s", args, code, v, msg)
				case code == 2 && !strings.Contains(msg, "-"+f.Name):
					t.Errorf("%q: usage error does not name the flag:\n%s", args, msg)
				case code == 2 && numeric && !strings.Contains(msg, v) && !strings.Contains(msg, f.Value.String()):
					t.Errorf("%q: usage error does not name the value %q:\n%s", args, v, msg)
				}
			}
		})
	}
	return tried
}

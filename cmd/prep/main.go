// Command prep turns raw image datasets into versioned, reproducible Arrow
// shards. Run `prep help` for the commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `prep turns raw image datasets into versioned, reproducible Arrow shards.

Usage:
  prep run CONFIG [flags]      build the dataset version CONFIG describes (no work if it exists)
  prep verify DIR              re-hash every shard of a version against its manifest
  prep show DIR                summarize a version: splits, rows, labels, shards
  prep ls [OUT]                list datasets and versions under an output root (default out)
  prep reproduce DIR           rebuild a version from its manifest and compare every shard
  prep preview DIR [flags]     write a PNG grid of samples (augmented variants beside their source)
  prep help [COMMAND]          show help for a command

A version directory is OUT/DATASET/VERSION, where VERSION is the first 12 hex
digits of a SHA-256 over everything that determines the shard bytes (the
resolved config, the sources' SHA-256, each stage's version, the Arrow and
zstd library versions) and nothing else: not the output path, the cache, the
worker count or the mirror list. Same version, byte-identical shards.

Examples:
  prep run configs/mnist.yaml
  prep run configs/mnist.yaml --out data/ --workers 4 --json
  prep verify out/mnist/latest
  prep reproduce out/mnist/latest

Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop, sig := signalContext()
	defer stop()

	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "verify":
		err = cmdVerify(rest, stdout, stderr)
	case "show":
		err = cmdShow(rest, stdout, stderr)
	case "ls":
		err = cmdLs(rest, stdout, stderr)
	case "reproduce":
		err = cmdReproduce(ctx, rest, stdout, stderr)
	case "preview":
		err = cmdPreview(rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 {
			return run([]string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "prep: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case ctx.Err() != nil:
		if sig() == syscall.SIGTERM {
			fmt.Fprintln(stderr, "prep: interrupted by SIGTERM; nothing was published")
			return 143
		}
		fmt.Fprintln(stderr, "prep: interrupted by SIGINT; nothing was published")
		return 130
	default:
		fmt.Fprintf(stderr, "prep: %v\n", err)
		return 1
	}
}

// signalContext is cancelled by SIGINT or SIGTERM; sig reports which came.
func signalContext() (ctx context.Context, stop func(), sig func() os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got os.Signal = os.Interrupt
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got = s
			cancel()
		case <-done:
		}
	}()
	return ctx, func() { close(done); signal.Stop(ch); cancel() }, func() os.Signal { return got }
}

// newFlags returns a flag set whose --help prints the command's help.
func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("prep "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

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
	"syscall"

	"github.com/shardsmith/shardsmith/internal/cli"
)

const usage = `prep turns raw image datasets into versioned, reproducible Arrow shards.

Usage:
  prep run CONFIG [flags]      build the dataset version CONFIG describes (no work if it exists)
                               (--partition I/N: only partition I's shards, for prep commit)
  prep commit CONFIG [flags]   publish a version built in partitions, once all of them verify
  prep verify DIR              re-hash every shard of a version against its manifest
  prep show DIR                summarize a version: splits, rows, labels, shards
  prep ls [OUT]                list datasets and versions under an output root (default out)
  prep reproduce DIR           rebuild a version from its manifest and compare every shard
  prep preview DIR [flags]     write a PNG grid of samples (augmented variants beside their source)
  prep gc [OUT]                remove what failed runs left (temporary directories, unpublished store versions)
  prep help [COMMAND]          show help for a command

OUT and DIR may be local paths or s3://BUCKET/PREFIX URLs (credentials and
endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
AWS_ENDPOINT_URL); any other scheme is refused.

A version directory is OUT/DATASET/VERSION, where VERSION is the first 12 hex
digits of a SHA-256 over everything that determines the shard bytes (the
resolved config, the sources' SHA-256, each stage's version, the Arrow and
zstd library versions) and nothing else: not the output path, the cache, the
worker count or the mirror list. Same version, byte-identical shards.

Examples:
  prep run configs/mnist.yaml
  prep run configs/mnist.yaml --out data/ --workers 4 --json
  prep verify out/mnist/latest
  prep run configs/mnist.yaml --partition 0/4   (… 1/4, 2/4, 3/4 anywhere), then prep commit configs/mnist.yaml
  prep reproduce out/mnist/latest

Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks command-line mistakes (exit status 2).
var errUsage = cli.ErrUsage

// commands maps each command to its implementation (help is handled apart).
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"run":       cmdRun,
	"commit":    cmdCommit,
	"verify":    func(_ context.Context, a []string, o, e io.Writer) error { return cmdVerify(a, o, e) },
	"show":      func(_ context.Context, a []string, o, e io.Writer) error { return cmdShow(a, o, e) },
	"ls":        func(_ context.Context, a []string, o, e io.Writer) error { return cmdLs(a, o, e) },
	"reproduce": cmdReproduce,
	"gc":        cmdGC,
	"preview":   func(_ context.Context, a []string, o, e io.Writer) error { return cmdPreview(a, o, e) },
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 {
			return run([]string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	do, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "prep: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	ctx, stop, sig := cli.SignalContext()
	defer stop()
	err := do(ctx, rest, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case ctx.Err() != nil:
		s := sig()
		name := "SIGINT"
		if s == syscall.SIGTERM {
			name = "SIGTERM"
		}
		fmt.Fprintf(stderr, "prep: interrupted by %s; nothing was published\n", name)
		return cli.InterruptStatus(s)
	default:
		fmt.Fprintf(stderr, "prep: %v\n", err)
		return 1
	}
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
		if err := cli.Parse(fs, args); err != nil {
			return nil, err
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

// intFlag defines an int flag that accepts only integers in [lo, hi] (see
// cli.Int).
func intFlag(fs *flag.FlagSet, name string, value, lo, hi int, usage string) *int {
	return cli.Int(fs, name, value, lo, hi, usage)
}

// Bounds of preview's flags: a grid of more rows, or a larger upscale, than
// anyone can look at is a mistake (the scale bound is the preview package's).
const (
	maxPreviewRows  = 1 << 16
	maxPreviewScale = 64
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

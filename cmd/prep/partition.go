package main

import (
	"context"
	"fmt"
	"io"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/prep"
)

// partitionHelp is the part of `prep run --help` about --partition.
const partitionHelp = `
With --partition I/N, builds only the shards of partition I of N (0 ≤ I < N)
into the version's staging area, OUT/DATASET/.partitions-VERSION/, with a
receipt (partition-I-of-N.json: each shard's name, rows, size, SHA-256 and
label counts), and publishes nothing: run every partition, at once on any
number of machines sharing OUT, then ` + "`prep commit CONFIG`" + `. Shard g of the
version (train's shards, then val's, then test's) belongs to partition g mod N.
Every partition reads all the sources and computes the train statistics itself
(they are integer histograms, so every partition gets the same bits; no
partition waits for another), and augments, normalizes, compresses and writes
only its own shards. A partition whose receipt is there and whose shards
verify does nothing when run again (--force rebuilds it: same bytes); a killed
partition leaves only its .run-* directory, which its next run removes.
With --out s3://BUCKET/PREFIX there is no shared file system to stage on:
each partition builds its shards in a local temporary directory and uploads
them to their final keys under PREFIX/DATASET/VERSION/, then its receipt to
PREFIX/DATASET/VERSION/.partitions/; still nothing is published (no
manifest.json, no latest). A rerun verifies a partition's shards by
downloading and hashing them.
The value may come from a scheduler's environment, e.g.
--partition "$JOB_COMPLETION_INDEX/7" (Kubernetes Indexed Job) or
--partition "$SLURM_ARRAY_TASK_ID/7" (Slurm array job, --array=0-6).
`

// partitionFlag is --partition: I/N, checked as it is parsed (exit 2).
type partitionFlag struct {
	p   prep.Partition
	set bool
}

func (f *partitionFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.p.String()
}

func (f *partitionFlag) Set(s string) error {
	p, err := prep.ParsePartition(s)
	if err != nil {
		return err
	}
	f.p, f.set = p, true
	return nil
}

type partitionJSON struct {
	Dataset   string              `json:"dataset"`
	Version   string              `json:"version"`
	Partition string              `json:"partition"`
	Receipt   string              `json:"receipt"`
	UpToDate  bool                `json:"up_to_date"`
	Published bool                `json:"published"`
	Shards    int                 `json:"shards"`
	Rows      int                 `json:"rows"`
	Seconds   float64             `json:"seconds"`
	Stages    []pipeline.Snapshot `json:"stages"`
}

// runPartition is `prep run CONFIG --partition I/N`.
func runPartition(ctx context.Context, cfg *config.Config, opts prep.Options, p prep.Partition, asJSON, quiet bool, stdout io.Writer) error {
	res, err := prep.BuildPartition(ctx, cfg, opts, p)
	if err != nil {
		return err
	}
	rep := partitionJSON{Dataset: cfg.Dataset, Version: res.Version, Partition: p.String(), Receipt: res.Path, UpToDate: res.UpToDate,
		Published: res.Published, Seconds: res.Elapsed.Seconds(), Stages: res.Stages}
	if rep.Stages == nil {
		rep.Stages = []pipeline.Snapshot{}
	}
	if r := res.Receipt; r != nil {
		rep.Shards = len(r.Shards)
		for _, sh := range r.Shards {
			rep.Rows += sh.Rows
		}
	}
	switch {
	case asJSON:
		return printJSON(stdout, rep)
	case res.Published:
		fmt.Fprintf(stdout, "%s version %s is already published; partition %s has nothing to build\n", cfg.Dataset, manifest.Short(rep.Version), p)
	case quiet:
		fmt.Fprintln(stdout, manifest.Short(rep.Version))
	case res.UpToDate:
		fmt.Fprintf(stdout, "partition %s of %s version %s is already built (%d shards verified): %s\n", p, cfg.Dataset, manifest.Short(rep.Version), rep.Shards, res.Path)
	default:
		printStages(stdout, res.Stages)
		fmt.Fprintf(stdout, "built partition %s of %s version %s: %d shard(s), %d rows in %.2fs: %s\n", p, cfg.Dataset, manifest.Short(rep.Version), rep.Shards, rep.Rows, rep.Seconds, res.Path)
	}
	return nil
}

const commitHelp = `Usage: prep commit CONFIG [--out DIR|s3://BUCKET/PREFIX] [--cache DIR] [--partitions N] [--json] [--quiet]

Publishes the version CONFIG describes from the shards its partitions built
(` + "`prep run CONFIG --partition I/N`" + ` for every I): checks that every
partition's receipt is in OUT/DATASET/.partitions-VERSION/ and that no
partition is still running, that the receipts agree (statistics, sources,
config, splits) and each lists the shards the assignment gives it, and that
every shard has the size and SHA-256 its receipt records; then writes the
manifest and points OUT/DATASET/latest at the version, as ` + "`prep run`" + ` does (one
atomic rename), and removes the staging area. A partition missing, still
running or with a shard missing or damaged is an error naming it, and nothing
is published: rerun that partition (with --force for a damaged shard) and
commit again. The result is byte for byte the version a one-process
` + "`prep run`" + ` builds; only the manifest's created time differs.

With --out s3://BUCKET/PREFIX the receipts are under
PREFIX/DATASET/VERSION/.partitions/ and the shards already at their final
keys: commit downloads every shard object and checks its size and SHA-256
(a commit reads the whole version once), then uploads manifest.json (the
commit point: until then the version does not exist for any reader), then
PREFIX/DATASET/latest, and deletes the receipts. A store has no locks: a
partition still running shows only as one without a receipt.

commit resolves CONFIG as run does to find the version: IDX sources pinned
only by sha256 are fetched (from the cache when it has them), image trees and
lists are read once for their digest.
`

func cmdCommit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("commit", commitHelp, stderr)
	out := fs.String("out", "", "output root (default: the config's `out`, else ./out)")
	cache := fs.String("cache", "", "download cache directory (default: $XDG_CACHE_HOME/shardsmith)")
	partitions := cli.Int(fs, "partitions", 0, 0, prep.MaxPartitions, "number of partitions N (0: the N the receipts name)")
	asJSON := fs.Bool("json", false, "print one JSON object with the result")
	quiet := fs.Bool("quiet", false, "print only the version id (or, with --json, the JSON)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cfg, err := config.Load(pos[0])
	if err != nil {
		return err
	}
	logw := stderr
	if *quiet {
		logw = io.Discard
	}
	opts := prep.Options{Out: *out, Cache: *cache,
		Logf: func(format string, a ...any) { fmt.Fprintf(logw, "prep: "+format+"\n", a...) }}
	res, err := prep.Commit(ctx, cfg, opts, *partitions)
	if err != nil {
		return err
	}
	m := res.Manifest
	switch {
	case *asJSON:
		return printJSON(stdout, runReport(res))
	case *quiet:
		fmt.Fprintln(stdout, m.ShortVersion())
	case res.UpToDate:
		fmt.Fprintf(stdout, "%s version %s is up to date: %s\n", m.Dataset, m.ShortVersion(), res.Dir)
	default:
		for _, sp := range m.Splits {
			fmt.Fprintf(stdout, "  %-5s %7d rows in %d shard(s)\n", sp.Name, sp.Rows, len(sp.Shards))
		}
		fmt.Fprintf(stdout, "committed %s version %s in %.2fs: %s\n", m.Dataset, m.ShortVersion(), res.Elapsed.Seconds(), res.Dir)
	}
	return nil
}

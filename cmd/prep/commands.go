package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/prep"
)

// maxWorkers bounds --workers: more goroutines than any machine has cores
// only cost memory.
const maxWorkers = 4096

const runHelp = `Usage: prep run CONFIG [--out DIR|s3://BUCKET/PREFIX] [--cache DIR] [--workers N] [--force] [--json] [--quiet] [--partition I/N]

Builds the dataset version CONFIG describes into OUT/DATASET/VERSION and points
OUT/DATASET/latest at it. If that version already exists and its shards are
all there, prints "up to date" and does nothing (use --force to rebuild; the
rebuilt shards are byte-identical).

The build runs in a temporary directory next to the target and appears by one
atomic rename when every shard and the manifest are written and synced: a
failed or interrupted run publishes nothing.

With --out s3://BUCKET/PREFIX the version is built in a local staging
directory and uploaded: the shards under PREFIX/DATASET/VERSION/ first, the
manifest last (the commit point: a version without one does not exist for
any reader), then PREFIX/DATASET/latest, a small object naming the version.
Credentials and endpoint: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION, AWS_ENDPOINT_URL (an S3-compatible server).
` + partitionHelp

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", runHelp, stderr)
	out := fs.String("out", "", "output root (default: the config's `out`, else ./out)")
	cache := fs.String("cache", "", "download cache directory (default: $XDG_CACHE_HOME/shardsmith)")
	workers := cli.Int(fs, "workers", 0, 0, maxWorkers, "parallel workers (0: the number of CPUs); never changes the output")
	force := fs.Bool("force", false, "rebuild even if the version exists")
	asJSON := fs.Bool("json", false, "print one JSON object with the result and per-stage counters")
	quiet := fs.Bool("quiet", false, "print only the version id (or, with --json, the JSON)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `file` (for performance work)")
	var partition partitionFlag
	fs.Var(&partition, "partition", "build only partition `I/N` of the version's shards, and publish nothing (see above)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	stopProfile, err := cli.StartCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if *cache != "" {
		if *cache, err = store.MustLocal("--cache", *cache); err != nil {
			return err
		}
	}
	if *out != "" {
		if _, err := store.Parse(*out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	cfg, err := config.Load(pos[0])
	if err != nil {
		return err
	}
	logw := stderr
	if *quiet {
		logw = io.Discard
	}
	opts := prep.Options{Out: *out, Cache: *cache, Workers: *workers, Force: *force,
		Logf: func(format string, a ...any) { fmt.Fprintf(logw, "prep: "+format+"\n", a...) }}
	bar := cli.NewBar(stderr, *quiet, 0)
	opts.Progress = func(p prep.Progress) {
		if p.RowsTotal == 0 {
			return
		}
		frac := float64(p.RowsDone) / float64(p.RowsTotal)
		rate := float64(p.RowsDone) / bar.Elapsed().Seconds()
		bar.Draw(false, "[%s] %3.0f%% %d/%d rows  %.0f rows/s ", cli.Gauge(30, frac), frac*100, p.RowsDone, p.RowsTotal, rate)
	}
	if partition.set {
		err := runPartition(ctx, cfg, opts, partition.p, *asJSON, *quiet, stdout)
		bar.Clear()
		return err
	}
	res, err := prep.Build(ctx, cfg, opts)
	bar.Clear()
	if err != nil {
		return err
	}
	m := res.Manifest
	if *asJSON {
		return printJSON(stdout, runReport(res))
	}
	if *quiet {
		fmt.Fprintln(stdout, m.ShortVersion())
		return nil
	}
	if res.UpToDate {
		fmt.Fprintf(stdout, "%s version %s is up to date: %s\n", m.Dataset, m.ShortVersion(), res.Dir)
		return nil
	}
	printStages(stdout, res.Stages)
	for _, sp := range m.Splits {
		fmt.Fprintf(stdout, "  %-5s %7d rows in %d shard(s)\n", sp.Name, sp.Rows, len(sp.Shards))
	}
	fmt.Fprintf(stdout, "built %s version %s in %.2fs: %s\n", m.Dataset, m.ShortVersion(), res.Elapsed.Seconds(), res.Dir)
	return nil
}

type runJSON struct {
	Dataset  string              `json:"dataset"`
	Version  string              `json:"version"`
	Short    string              `json:"short_version"`
	Dir      string              `json:"dir"`
	UpToDate bool                `json:"up_to_date"`
	Seconds  float64             `json:"seconds"`
	Splits   map[vocab.Split]int `json:"splits"`
	Stages   []pipeline.Snapshot `json:"stages"`
}

func runReport(res *prep.Result) runJSON {
	r := runJSON{Dataset: res.Manifest.Dataset, Version: res.Manifest.Version, Short: res.Manifest.ShortVersion(), Dir: res.Dir,
		UpToDate: res.UpToDate, Seconds: res.Elapsed.Seconds(), Splits: map[vocab.Split]int{}, Stages: res.Stages}
	for _, sp := range res.Manifest.Splits {
		r.Splits[sp.Name] = sp.Rows
	}
	if r.Stages == nil {
		r.Stages = []pipeline.Snapshot{}
	}
	return r
}

func printStages(w io.Writer, st []pipeline.Snapshot) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tworkers\titems\trows\tbusy\twall\trows/s\t")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2fs\t%.2fs\t%.0f\t\n", s.Name, s.Workers, s.Items, s.Rows, s.Busy.Seconds(), s.Wall.Seconds(), s.RowsPerSecond)
	}
	tw.Flush()
}

const verifyHelp = `Usage: prep verify DIR [--json]

Re-hashes every shard of the version in DIR (a version directory or
OUT/DATASET/latest, on local disk or s3://…) against its manifest: the file bytes (SHA-256), the row
count and the hash of the decoded column data. Reports missing, truncated or
altered shards and files the manifest does not list. Exit status 1 if any.
`

func cmdVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", verifyHelp, stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, err := prep.Verify(pos[0])
	if *asJSON {
		rep := map[string]any{"dir": pos[0], "ok": err == nil}
		if m != nil {
			rep["version"] = m.Version
		}
		if ve := (*prep.VerifyError)(nil); errors.As(err, &ve) {
			rep["problems"] = ve.Problems
		} else if err != nil {
			rep["error"] = err.Error()
		}
		if perr := printJSON(stdout, rep); perr != nil {
			return perr
		}
		return err
	}
	if err != nil {
		return err
	}
	n := 0
	for _, sp := range m.Splits {
		n += len(sp.Shards)
	}
	fmt.Fprintf(stdout, "%s version %s: all %d shards verified\n", m.Dataset, m.ShortVersion(), n)
	return nil
}

const showHelp = `Usage: prep show DIR [--json]

Summarizes the version in DIR: dataset, version, image shape, normalization,
sources, and per split its rows, label histogram and shards.
`

func cmdShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("show", showHelp, stderr)
	asJSON := fs.Bool("json", false, "print the whole manifest")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, err := dataset.LoadManifest(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, m)
	}
	fmt.Fprintf(stdout, "dataset   %s\nversion   %s (%s)\ncreated   %s by %s\n", m.Dataset, m.ShortVersion(), m.Version, m.Created, m.Tool)
	fmt.Fprintf(stdout, "image     %dx%dx%d %s\n", m.Image.Height, m.Image.Width, m.Image.Channels, m.Image.DType)
	fmt.Fprintf(stdout, "normalize %s mean=%s std=%s\n", m.Normalize.Mode, m.Normalize.Mean.Decimals(6), m.Normalize.Std.Decimals(6))
	fmt.Fprintf(stdout, "classes   %s\n", strings.Join(m.Classes, " "))
	for _, s := range m.Sources {
		if s.Files > 0 { // an image tree or list: the digest of its decoded content
			fmt.Fprintf(stdout, "source    %-12s %s %s (%d files)\n", s.Name, s.File, s.SHA256[:12], s.Files)
			continue
		}
		fmt.Fprintf(stdout, "source    %-12s %s %s (%d bytes)\n", s.Name, s.File, s.SHA256[:12], s.Bytes)
	}
	for _, sp := range m.Splits {
		var bytes int64
		for _, sh := range sp.Shards {
			bytes += sh.Bytes
		}
		fmt.Fprintf(stdout, "split     %-5s %7d rows  %d shards  %.1f MB  labels %v\n", sp.Name, sp.Rows, len(sp.Shards), float64(bytes)/1e6, sp.Labels)
	}
	return nil
}

const lsHelp = `Usage: prep ls [OUT]

Lists every dataset and version under the output root OUT (default out),
newest first, marking the one "latest" points at.
`

func cmdLs(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ls", lsHelp, stderr)
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	root := "out"
	if len(pos) == 1 {
		root = pos[0]
	}
	loc, err := store.Parse(root)
	if err != nil {
		return err
	}
	if !loc.Local() {
		return lsRemote(context.Background(), loc, stdout)
	}
	root = loc.Path
	datasets, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tVERSION\tCREATED\tROWS\tLATEST")
	for _, d := range datasets {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		dsDir := filepath.Join(root, d.Name())
		latest, _ := os.Readlink(filepath.Join(dsDir, manifest.LatestName))
		entries, _ := os.ReadDir(dsDir)
		var ms []*manifest.Manifest
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if m, err := manifest.Load(filepath.Join(dsDir, e.Name())); err == nil {
				ms = append(ms, m)
			}
		}
		listVersions(tw, ms, latest)
	}
	return tw.Flush()
}

const reproduceHelp = `Usage: prep reproduce DIR [--cache DIR] [--workers N] [--json]

Rebuilds the version in DIR from the configuration embedded in its manifest,
in a temporary directory, and compares every shard:
  identical   same bytes
  same-data   same uncompressed column data, different bytes (another zstd or
              Arrow library version compressed or laid it out)
  different   different rows
Exit status 1 unless every shard holds the same data.
`

func cmdReproduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reproduce", reproduceHelp, stderr)
	cache := fs.String("cache", "", "download cache directory")
	workers := cli.Int(fs, "workers", 0, 0, maxWorkers, "parallel workers (0: the number of CPUs)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *cache != "" {
		if *cache, err = store.MustLocal("--cache", *cache); err != nil {
			return err
		}
	}
	rep, err := prep.Reproduce(ctx, pos[0], prep.Options{Cache: *cache, Workers: *workers,
		Logf: func(format string, a ...any) { fmt.Fprintf(stderr, "prep: "+format+"\n", a...) }})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		counts := map[string]int{}
		for _, c := range rep.Shards {
			counts[c.Status]++
			if c.Status != prep.Identical {
				fmt.Fprintf(stdout, "  %-9s %s\n", c.Status, c.Path)
			}
		}
		fmt.Fprintf(stdout, "version %s rebuilt as %s: %d identical, %d same-data, %d different, %d missing, %d extra\n",
			manifest.Short(rep.Version), manifest.Short(rep.RebuiltVersion), counts[prep.Identical], counts[prep.SameData], counts[prep.Different], counts[prep.Missing], counts[prep.Extra])
	}
	if !rep.SameData {
		return fmt.Errorf("reproduce: the rebuild holds different data")
	}
	return nil
}

// listVersions prints one `prep ls` row per version, newest first, marking
// the one latest names: the same table for local and store output roots.
func listVersions(w io.Writer, ms []*manifest.Manifest, latest string) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Created > ms[j].Created })
	for _, m := range ms {
		rows := 0
		for _, sp := range m.Splits {
			rows += sp.Rows
		}
		mark := ""
		if m.ShortVersion() == latest {
			mark = "*"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", m.Dataset, m.ShortVersion(), m.Created, rows, mark)
	}
}

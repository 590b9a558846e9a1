// Package prep builds dataset versions: it resolves a configuration, fetches
// the sources, derives the version id, runs the stage graph
// (decode → augment → normalize → route → write → collect) into a temporary
// directory, and publishes the result with one atomic rename. It also
// verifies and reproduces published versions.
//
// The split decision is made from the labels before the graph runs, so the
// graph order differs from the order stages are usually listed in: the split
// is decided first (by source index), augmented copies are made next (and
// inherit their source's split, so nothing leaks between splits), and
// pixels are normalized last, with statistics taken from the un-augmented
// train originals.
//
// Files by concern: build.go orchestrates a build; fetch.go fetches the
// sources (and computes the digests of their content); images.go lists
// image trees, lists and CIFAR files (on disk or in a fetched archive),
// decodes them once for their content digest, keeping the decoded rows for
// the graph; plan.go remaps labels, assigns splits and plans shards (and
// refuses empty splits); graph.go wires the stage graph; stats.go computes
// and caches the train statistics; shards.go routes rows into whole shards
// and writes them as stages of the graph; pool.go recycles pixel buffers;
// progress.go reports progress; publish.go makes a version visible.
package prep

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/stages/download"
)

// ToolVersion is recorded in every manifest.
var ToolVersion = "shardsmith 0.1.0"

// Options control a build; none of them changes the bytes of a version.
type Options struct {
	// Out overrides the configuration's output root.
	Out string
	// Workers bounds the parallel stages (default: config, then GOMAXPROCS).
	Workers int
	// Force rebuilds a version that already exists.
	Force bool
	// Fetcher fetches the sources (default: download.New with Cache).
	Fetcher *download.Fetcher
	// Cache is the download cache directory when Fetcher is nil.
	Cache string
	// Logf receives one-line status messages.
	Logf func(format string, args ...any)
	// Progress is called a few times a second while the graph runs.
	Progress func(Progress)

	// wrapShard, when set, wraps each shard file's writer (tests inject faults).
	wrapShard func(io.Writer) io.Writer
}

// Progress is a snapshot of a running build.
type Progress struct {
	RowsDone, RowsTotal int64
	Stages              []pipeline.Snapshot
}

// Result describes a finished build.
type Result struct {
	Manifest *manifest.Manifest
	// Dir is the published version directory.
	Dir string
	// UpToDate is true when the version already existed and nothing was built.
	UpToDate bool
	Stages   []pipeline.Snapshot
	Elapsed  time.Duration
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Build makes sure the dataset version described by cfg exists under the
// output root, building and publishing it if needed.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	t0 := time.Now()
	out := opts.Out
	if out == "" {
		out = cfg.Out
	}
	if opts.Workers == 0 {
		opts.Workers = cfg.Workers
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Augment.Copies > 0 {
		// Check the ops now, before any download. The image size is not
		// known yet: validate against a generous nominal one; the real size
		// is checked again when the stage is built.
		if _, err := newAugmenter(cfg, 256, 256, 1); err != nil {
			return nil, err
		}
	}
	if opts.Fetcher == nil {
		opts.Fetcher = newFetcher(cfg, &opts)
	}
	var set *imageSet
	if !cfg.Sources.IDX() {
		c := *cfg // the classes are resolved into a copy
		cfg = &c
		var err error
		if set, err = openImages(ctx, cfg, &opts); err != nil {
			return nil, err
		}
		defer set.close()
	}
	dsDir := filepath.Join(out, cfg.Dataset)
	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if err := checkWritable(dsDir); err != nil {
		return nil, err
	}
	// IDX sources all pinned by content_sha256 give the version without a
	// fetch (the build checks the pins); otherwise the content digests come
	// from the fetched files.
	var paths, contents map[string]string
	var sources []manifest.Source
	fetch := func() error {
		var err error
		paths, contents, sources, err = fetchAll(ctx, cfg, &opts)
		return err
	}
	if set == nil && !contentPinned(cfg) {
		if err := fetch(); err != nil {
			return nil, err
		}
	}
	hin := NewHashInput(cfg)
	switch {
	case set != nil:
		hin = hin.withContent(set)
	case contents != nil:
		hin = hin.withIDXContent(contents)
	}
	version := hin.Version()
	short := manifest.Short(version)
	final := filepath.Join(dsDir, short)

	unlock, err := lockDir(ctx, dsDir, opts.logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStale(dsDir, opts.logf)

	if !opts.Force {
		if m, err := manifest.Load(final); err == nil && m.Version == version && shardsPresent(final, m) {
			if err := setLatest(dsDir, short); err != nil {
				return nil, err
			}
			return &Result{Manifest: m, Dir: final, UpToDate: true, Elapsed: time.Since(t0)}, nil
		}
	}

	if set != nil {
		sources = set.manifestSources()
	} else if paths == nil {
		if err := fetch(); err != nil {
			return nil, err
		}
	}

	tmp, err := os.MkdirTemp(dsDir, ".tmp-"+short+"-")
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("output directory: %w", err)
	}
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()

	opts.logf("building %s version %s into %s", cfg.Dataset, short, final)
	in, err := openInput(ctx, cfg, paths, sources, set, &opts)
	if err != nil {
		return nil, err
	}
	defer in.close()
	m, stages, err := buildInto(ctx, tmp, cfg, hin, in, &opts)
	if err != nil {
		return nil, err
	}
	m.Sources = sources
	if set != nil {
		m.Skipped = set.skipped
	}
	if err := writeManifest(tmp, m); err != nil {
		return nil, err
	}
	if err := publish(tmp, final, dsDir); err != nil {
		return nil, err
	}
	published = true
	if err := setLatest(dsDir, short); err != nil {
		return nil, err
	}
	return &Result{Manifest: m, Dir: final, Stages: stages, Elapsed: time.Since(t0)}, nil
}

// resolvedForManifest is the configuration as embedded in a manifest:
// defaults filled in, machine-local settings (output, cache, workers) left out.
func resolvedForManifest(cfg *config.Config) *config.Config {
	c := *cfg
	c.Out, c.Cache, c.Workers = "", "", 0
	return &c
}

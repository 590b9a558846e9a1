// Package prep builds dataset versions: it resolves a configuration, fetches
// the sources, derives the version id, runs the stage graph
// (decode → augment → route, normalizing on the way → write → collect) into a temporary
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
// progress.go reports progress; publish.go makes a version visible;
// partition.go assigns shards to the partitions of a partitioned build and
// filters the graph's rows to a partition's shards, partition_run.go builds
// one partition with its receipt, partition_commit.go verifies the
// partitions and publishes their version, partition_stage.go is where the
// partitions stage their shards (a local directory or a store prefix).
package prep

import (
	"context"
	"io"
	"os"
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
	// partition, when set, builds only that partition's shards (BuildPartition).
	partition *partitionRun
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
	t, err := resolve(ctx, cfg, &opts)
	if err != nil {
		return nil, err
	}
	defer t.close()
	cfg, dst, short, final := t.cfg, t.dst, t.short, t.final

	unlock, err := dst.lock(ctx, opts.logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dst.cleanup(ctx, opts.logf)

	if !opts.Force {
		if m, ok := dst.current(ctx, short, t.version); ok {
			if err := dst.setLatest(ctx, short); err != nil {
				return nil, err
			}
			return &Result{Manifest: m, Dir: final, UpToDate: true, Elapsed: time.Since(t0)}, nil
		}
	}

	if err := t.fetchRest(ctx, &opts); err != nil {
		return nil, err
	}

	tmp, err := dst.staging(short)
	if err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()

	opts.logf("building %s version %s into %s", cfg.Dataset, short, final)
	m, stages, err := t.buildInto(ctx, tmp, &opts)
	if err != nil {
		return nil, err
	}
	if err := dst.publish(ctx, tmp, short, m); err != nil {
		return nil, err
	}
	published = true
	return &Result{Manifest: m, Dir: final, Stages: stages, Elapsed: time.Since(t0)}, nil
}

// target is a resolved build: the configuration (classes resolved), its
// version and where it is published, and the sources as far as the version
// needed them (fetchRest fetches the rest). Build, BuildPartition and
// Commit all start from one.
type target struct {
	cfg             *config.Config
	set             *imageSet // image tree and list sources; nil for IDX
	dst             destination
	dsDir           string // OUT/DATASET on local disk; "" on a store
	final           string // OUT/DATASET/SHORT (a URL on a store)
	hin             HashInput
	version, short  string
	paths, contents map[string]string
	sources         []manifest.Source
}

// resolve checks cfg, reads what the version depends on and derives it,
// filling in opts' defaults. It fetches IDX sources unless all are pinned
// by content_sha256, and reads image trees and lists once for their digest.
func resolve(ctx context.Context, cfg *config.Config, opts *Options) (*target, error) {
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
		opts.Fetcher = newFetcher(cfg, opts)
	}
	t := &target{}
	ok := false
	defer func() {
		if !ok {
			t.close()
		}
	}()
	if !cfg.Sources.IDX() {
		c := *cfg // the classes are resolved into a copy
		cfg = &c
		var err error
		if t.set, err = openImages(ctx, cfg, opts); err != nil {
			return nil, err
		}
	}
	t.cfg = cfg
	if err := checkMirrors(allURLs(cfg)); err != nil {
		return nil, err
	}
	dst, err := openDestination(ctx, out, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	t.dst = dst
	if d, ok := dst.(localDest); ok {
		t.dsDir = string(d)
	}
	// IDX sources all pinned by content_sha256 give the version without a
	// fetch (the build checks the pins); otherwise the content digests come
	// from the fetched files.
	if t.set == nil && !contentPinned(cfg) {
		if err := t.fetch(ctx, opts); err != nil {
			return nil, err
		}
	}
	t.hin = NewHashInput(cfg)
	switch {
	case t.set != nil:
		t.hin = t.hin.withContent(t.set)
	case t.contents != nil:
		t.hin = t.hin.withIDXContent(t.contents)
	}
	t.version = t.hin.Version()
	t.short = manifest.Short(t.version)
	t.final = dst.final(t.short)
	ok = true
	return t, nil
}

// close releases the destination (a store's connection) and the image
// set's decoded rows.
func (t *target) close() {
	if t.dst != nil {
		t.dst.close()
	}
	if t.set != nil {
		t.set.close()
	}
}

func (t *target) fetch(ctx context.Context, opts *Options) error {
	var err error
	t.paths, t.contents, t.sources, err = fetchAll(ctx, t.cfg, opts)
	return err
}

// fetchRest fetches what resolve did not need: the IDX sources pinned by
// content_sha256 (an image set is already read).
func (t *target) fetchRest(ctx context.Context, opts *Options) error {
	if t.set != nil {
		t.sources = t.set.manifestSources()
		return nil
	}
	if t.paths == nil {
		return t.fetch(ctx, opts)
	}
	return nil
}

// buildInto opens the fetched sources and runs the stage graph into dir,
// returning the whole manifest (sources and skipped files included).
func (t *target) buildInto(ctx context.Context, dir string, opts *Options) (*manifest.Manifest, []pipeline.Snapshot, error) {
	in, err := openInput(ctx, t.cfg, t.paths, t.sources, t.set, opts)
	if err != nil {
		return nil, nil, err
	}
	defer in.close()
	m, stages, err := buildInto(ctx, dir, t.cfg, t.hin, in, opts)
	if err != nil {
		return nil, nil, err
	}
	m.Sources = t.sources
	if t.set != nil {
		m.Skipped = t.set.skipped
	}
	return m, stages, nil
}

// resolvedForManifest is the configuration as embedded in a manifest:
// defaults filled in, machine-local settings (output, cache, workers) left out.
func resolvedForManifest(cfg *config.Config) *config.Config {
	c := *cfg
	c.Out, c.Cache, c.Workers = "", "", 0
	return &c
}

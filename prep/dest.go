package prep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/stages/download"
)

// destination is where a build publishes: a dataset directory on local
// disk (localDest: built in a temporary directory beside the version and
// published by one rename) or a dataset prefix on an object store
// (storeDest, store.go: built in a local staging directory and uploaded,
// the manifest last).
type destination interface {
	// final is the version's location as a user names it.
	final(short string) string
	// lock serializes runs on the dataset (a no-op where there is no lock).
	lock(ctx context.Context, logf func(string, ...any)) (unlock func(), err error)
	// cleanup removes what failed runs left.
	cleanup(ctx context.Context, logf func(string, ...any))
	// current returns the manifest of the version if it is published whole.
	current(ctx context.Context, short, version string) (*manifest.Manifest, bool)
	// setLatest points latest at an already published version.
	setLatest(ctx context.Context, short string) error
	// staging makes the directory a build writes its shards and manifest in.
	staging(short string) (string, error)
	// publish makes the build in tmp visible as version short and points
	// latest at it; on failure nothing new is visible.
	publish(ctx context.Context, tmp, short string, m *manifest.Manifest) error
	close()
}

// openDestination parses the output root and checks, before any download,
// that the dataset can be written there.
func openDestination(ctx context.Context, out, dataset string) (destination, error) {
	loc, err := store.Parse(out)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if !loc.Local() {
		return openStoreDest(ctx, loc, dataset)
	}
	dsDir := filepath.Join(loc.Path, dataset)
	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if err := checkWritable(dsDir); err != nil {
		return nil, err
	}
	return localDest(dsDir), nil
}

// allURLs lists every mirror URL of the IDX sources (none for trees and lists).
func allURLs(cfg *config.Config) []string {
	if !cfg.Sources.IDX() {
		return nil
	}
	var urls []string
	for _, s := range cfg.Sources.All() {
		urls = append(urls, cfg.URLs(s.File)...)
	}
	return urls
}

// checkMirrors refuses, before anything is fetched or created, a mirror or
// URL of a scheme the download stage cannot read.
func checkMirrors(urls []string) error {
	for _, u := range urls {
		if err := download.CheckLocation(u); err != nil {
			return fmt.Errorf("mirror %s: %w", u, err)
		}
	}
	return nil
}

type localDest string // the dataset directory

func (d localDest) final(short string) string { return filepath.Join(string(d), short) }

func (d localDest) lock(ctx context.Context, logf func(string, ...any)) (func(), error) {
	return lockDir(ctx, string(d), logf)
}

func (d localDest) cleanup(_ context.Context, logf func(string, ...any)) {
	removeStale(string(d), logf)
}

func (d localDest) current(_ context.Context, short, version string) (*manifest.Manifest, bool) {
	final := d.final(short)
	m, err := manifest.Load(final)
	return m, err == nil && m.Version == version && shardsPresent(final, m)
}

func (d localDest) setLatest(_ context.Context, short string) error {
	return setLatest(string(d), short)
}

func (d localDest) staging(short string) (string, error) {
	tmp, err := os.MkdirTemp(string(d), ".tmp-"+short+"-")
	if err != nil {
		return "", fmt.Errorf("output directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("output directory: %w", err)
	}
	return tmp, nil
}

func (d localDest) publish(_ context.Context, tmp, short string, m *manifest.Manifest) error {
	if err := writeManifest(tmp, m); err != nil {
		return err
	}
	if err := publish(tmp, d.final(short), string(d)); err != nil {
		return err
	}
	return setLatest(string(d), short)
}

func (d localDest) close() {}

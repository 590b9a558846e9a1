package prep

import (
	"context"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/stages/download"
)

// newFetcher is the default fetcher: the cache directory from the options,
// else from the config, else the user cache.
func newFetcher(cfg *config.Config, opts *Options) *download.Fetcher {
	var fo []download.Option
	if opts.Cache != "" {
		fo = append(fo, download.WithCacheDir(opts.Cache))
	} else if cfg.Cache != "" {
		fo = append(fo, download.WithCacheDir(cfg.Cache))
	}
	if opts.Logf != nil {
		fo = append(fo, download.WithLogf(opts.Logf))
	}
	return download.New(fo...)
}

// fetchAll fetches the four sources concurrently; results land in
// index-aligned slots so their order never depends on which finished first.
func fetchAll(ctx context.Context, cfg *config.Config, opts *Options) (map[string]string, []manifest.Source, error) {
	f := opts.Fetcher
	all := cfg.Sources.All()
	got := make([]string, len(all))
	srcs := make([]manifest.Source, len(all))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(len(all))
	for i, s := range all {
		eg.Go(func() error {
			p, err := f.Fetch(ectx, download.Source{Name: s.Key, SHA256: s.File.SHA256, URLs: cfg.URLs(s.File)})
			if err != nil {
				return err
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			got[i] = p
			srcs[i] = manifest.Source{Name: s.Key, File: s.File.File, SHA256: s.File.SHA256, Bytes: fi.Size()}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, nil, err
	}
	paths := map[string]string{}
	for i, s := range all {
		paths[s.Key] = got[i]
	}
	return paths, srcs, nil
}

// sourceFile is the file name of a source, for messages.
func sourceFile(cfg *config.Config, key string) string {
	for _, s := range cfg.Sources.All() {
		if s.Key == key {
			if s.File.File != "" {
				return s.File.File
			}
			return s.File.URLs[0]
		}
	}
	return key
}

// sourceSHA is the SHA-256 the config pins a source to.
func sourceSHA(cfg *config.Config, key string) string {
	for _, s := range cfg.Sources.All() {
		if s.Key == key {
			return s.File.SHA256
		}
	}
	return ""
}

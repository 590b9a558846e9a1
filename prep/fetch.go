package prep

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/stages/decode"
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
// It returns each source's path, the digest of each source's content (see
// idxContents), and the manifest's description of the sources.
func fetchAll(ctx context.Context, cfg *config.Config, opts *Options) (map[string]string, map[string]string, []manifest.Source, error) {
	all := cfg.Sources.All()
	got := make([]string, len(all))
	srcs := make([]manifest.Source, len(all))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(len(all))
	for i, s := range all {
		eg.Go(func() error {
			p, sha, err := fetchOne(ectx, cfg, opts, s)
			if err != nil {
				return err
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			got[i] = p
			srcs[i] = manifest.Source{Name: s.Key, File: s.File.File, SHA256: sha, ContentSHA256: s.File.ContentSHA256, Bytes: fi.Size()}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, nil, nil, err
	}
	paths := map[string]string{}
	for i, s := range all {
		paths[s.Key] = got[i]
	}
	contents, err := idxContents(ctx, cfg, paths, srcs)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range srcs {
		srcs[i].ContentSHA256 = contents[srcs[i].Name]
	}
	return paths, contents, srcs, nil
}

// idxContents returns the digest of each source's content: its
// content_sha256 pin (which the decode stage checks as it reads), or, where
// a pair is pinned by sha256 alone, the digest of its bytes after gzip
// decoding, read here once (after the checks decode.Open makes) — the one
// extra read that makes the version follow the content rather than the
// container.
func idxContents(ctx context.Context, cfg *config.Config, paths map[string]string, srcs []manifest.Source) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range cfg.Sources.All() {
		out[s.Key] = s.File.ContentSHA256
	}
	file := func(key string) decode.File {
		f := decode.File{Path: paths[key], Name: fmt.Sprintf("%s (%s)", key, sourceFile(cfg, key)), ContentSHA256: out[key]}
		for _, s := range srcs {
			if s.Name == key {
				f.SHA256 = s.SHA256
			}
		}
		return f
	}
	for _, pair := range [][2]string{{"train_images", "train_labels"}, {"test_images", "test_labels"}} {
		if out[pair[0]] != "" && out[pair[1]] != "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, lab, err := decode.Contents(file(pair[0]), file(pair[1]), len(cfg.Classes))
		if err != nil {
			return nil, err
		}
		out[pair[0]], out[pair[1]] = img, lab
	}
	return out, nil
}

// fetchOne fetches one source through the download cache and returns its
// path and SHA-256. A source pinned by sha256 is fetched by it; one pinned by
// content_sha256 (alone, or when no mirror has the sha256 copy) is taken
// from the first local mirror whose copy's content verifies, and cached
// under that copy's SHA-256.
func fetchOne(ctx context.Context, cfg *config.Config, opts *Options, s config.NamedFile) (string, string, error) {
	urls := cfg.URLs(s.File)
	var ferr error
	if sha := s.File.SHA256; sha != "" {
		p, err := opts.Fetcher.Fetch(ctx, download.Source{Name: s.Key, SHA256: sha, URLs: urls})
		if err == nil || s.File.ContentSHA256 == "" || ctx.Err() != nil {
			return p, sha, err
		}
		ferr = err
	}
	var tried []string
	for _, u := range urls {
		local, ok := localPath(u)
		if !ok {
			continue
		}
		tried = append(tried, u)
		f := decode.File{Path: local, Name: fmt.Sprintf("%s (%s)", s.Key, local), ContentSHA256: s.File.ContentSHA256}
		if _, err := decode.FileContent(f); err != nil {
			opts.logf("%s: %s: %v", s.Key, u, err)
			continue
		}
		sha, err := fileSHA256(local)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", s.Key, err)
		}
		p, err := opts.Fetcher.Fetch(ctx, download.Source{Name: s.Key, SHA256: sha, URLs: []string{u}})
		return p, sha, err
	}
	msg := fmt.Sprintf("%s: no local mirror holds a copy whose content has content_sha256 %s (tried %d: %v)", s.Key, s.File.ContentSHA256, len(tried), tried)
	if ferr != nil {
		return "", "", fmt.Errorf("%w; and %s", ferr, msg)
	}
	return "", "", errors.New(msg + "; a source pinned only by content_sha256 needs a local copy (a directory or file:// mirror), or a sha256 to fetch it by")
}

// localPath is the file a mirror URL names on this machine: file:// URLs
// and plain paths; not http(s):// or gomod://.
func localPath(u string) (string, bool) {
	if rest, ok := strings.CutPrefix(u, "file://"); ok {
		return rest, true
	}
	if strings.Contains(u, "://") {
		return "", false
	}
	return u, true
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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

// contentPinned reports whether every IDX source is pinned by content_sha256.
func contentPinned(cfg *config.Config) bool {
	for _, s := range cfg.Sources.All() {
		if s.File.ContentSHA256 == "" {
			return false
		}
	}
	return true
}

package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
)

// A version on an object store (s3://BUCKET/ROOT/DATASET/VERSION) is read
// through a local Cache: OpenShard downloads a shard into it (checking its
// size and SHA-256 against the manifest on the way), decodes the local
// copy, and lets the cache evict it once the reader is closed. Prefetch
// starts that download ahead of time. Only versions with a manifest exist:
// a prefix a failed upload left without one is not a version.

// WithCache sets the cache that shards of a version on an object store are
// read through (default: a cache in DefaultCacheDir of DefaultCacheBytes).
// Local versions are read in place and do not use it.
func WithCache(c *Cache) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("dataset: WithCache(nil)")
		}
		o.cache = c
		return nil
	}
}

var (
	defaultCacheOnce sync.Once
	defaultCache     *Cache
	defaultCacheErr  error
)

// cache is the shard cache of the dataset: its own, or the default one,
// opened on first use.
func (d *Dataset) cache() (*Cache, error) {
	if d.opts.cache != nil {
		return d.opts.cache, nil
	}
	defaultCacheOnce.Do(func() { defaultCache, defaultCacheErr = NewCache(DefaultCacheDir(), DefaultCacheBytes) })
	return defaultCache, defaultCacheErr
}

// LoadManifest loads the manifest of the version at loc: a version
// directory or its manifest.json, or the URL of either on an object store.
func LoadManifest(loc string) (*manifest.Manifest, error) {
	l, err := store.Parse(loc)
	if err != nil {
		return nil, err
	}
	if l.Local() {
		return manifest.Load(l.Path)
	}
	dir, err := resolveRemote(context.Background(), l)
	if err != nil {
		return nil, err
	}
	if l, err = store.Parse(dir); err != nil {
		return nil, err
	}
	st, m, err := loadRemote(context.Background(), l)
	if err != nil {
		return nil, err
	}
	st.Close()
	return m, nil
}

func loadRemote(ctx context.Context, loc store.Location) (*store.Store, *manifest.Manifest, error) {
	st, err := store.Open(ctx, loc)
	if err != nil {
		return nil, nil, err
	}
	data, err := st.Get(ctx, manifest.FileName)
	if err != nil {
		st.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("manifest: %w (no published version here: a version exists once its manifest is written)", err)
		}
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("manifest %s: %w", st.URL(manifest.FileName), err)
	}
	return st, m, nil
}

// checkRemote checks that every shard object is present with its size.
func (d *Dataset) checkRemote(ctx context.Context) error {
	objs, err := d.st.List(ctx, "", false)
	if err != nil {
		return fmt.Errorf("dataset %s: %w", d.dir, err)
	}
	sizes := map[string]int64{}
	for _, o := range objs {
		sizes[o.Key] = o.Size
	}
	for _, sp := range d.m.Splits {
		for _, sh := range sp.Shards {
			p := d.st.URL(sh.Path)
			n, ok := sizes[sh.Path]
			if !ok {
				return fmt.Errorf("dataset %s: split %s: %w", d.dir, sp.Name,
					fileError(p, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}))
			}
			if n != sh.Bytes {
				return fmt.Errorf("dataset %s: split %s: %w", d.dir, sp.Name, sizeError(p, n, sh.Bytes))
			}
		}
	}
	return nil
}

// fetch brings a shard into the cache and holds it there until release.
func (d *Dataset) fetch(ctx context.Context, sh manifest.Shard) (string, func(), error) {
	c, err := d.cache()
	if err != nil {
		return "", nil, err
	}
	p, release, err := c.get(ctx, d.st, sh.Path, sh.SHA256, sh.Bytes, path.Ext(sh.Path))
	if err == nil {
		return p, release, nil
	}
	url := d.st.URL(sh.Path)
	var mm *mismatch
	switch {
	case errors.As(err, &mm) && mm.n != sh.Bytes:
		return "", nil, sizeError(url, mm.n, sh.Bytes)
	case errors.As(err, &mm):
		return "", nil, &ShardError{Path: url, Field: FieldSHA256, Got: mm.sum, Want: sh.SHA256,
			Detail: fmt.Sprintf("SHA-256 %s, manifest says %s (the object was replaced or damaged after it was published; prep verify tells more)", mm.sum, sh.SHA256)}
	case ctx.Err() != nil:
		return "", nil, err
	}
	return "", nil, fileError(url, err)
}

// Remote reports whether the version is on an object store.
func (d *Dataset) Remote() bool { return d.st != nil }

// Prefetched is a shard being fetched ahead of its reading; Release lets the
// cache evict it again (call it once the shard is opened, or not needed).
type Prefetched struct {
	done    chan struct{}
	release func()
	cancel  context.CancelFunc
}

// Done is closed once the fetch has ended (the shard is in the cache, or the
// fetch failed and OpenShard will say why).
func (p *Prefetched) Done() <-chan struct{} { return p.done }

// Release ends the hold on the prefetched shard (cancelling the download if
// it is still running).
func (p *Prefetched) Release() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	if p.release != nil {
		p.release()
	}
}

// Prefetch starts fetching shard i of a split into the cache, so that a
// later OpenShard of it finds it there; for a local version it does
// nothing. Errors are not reported here: OpenShard meets them again.
func (d *Dataset) Prefetch(ctx context.Context, split vocab.Split, i int) *Prefetched {
	if d.st == nil {
		return nil
	}
	sp := d.m.Split(split)
	if sp == nil || i < 0 || i >= len(sp.Shards) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Prefetched{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		if _, release, err := d.fetch(ctx, sp.Shards[i]); err == nil {
			p.release = release
		}
	}()
	return p
}

// Objects lists the objects of a version on a store (relative keys), for
// tools that report what does not belong to it (prep verify).
func (d *Dataset) Objects(ctx context.Context) ([]string, error) {
	if d.st == nil {
		return nil, fmt.Errorf("dataset %s: not on an object store", d.dir)
	}
	objs, err := d.st.List(ctx, "", false)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys, nil
}

// resolveRemote is Resolve for an object store location.
func resolveRemote(ctx context.Context, loc store.Location) (string, error) {
	if loc.Base() == manifest.FileName {
		return loc.Dir().String(), nil
	}
	st, err := store.Open(ctx, loc)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if _, err := st.Stat(ctx, manifest.FileName); err == nil {
		return loc.String(), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", loc, err)
	}
	if loc.Base() == manifest.LatestName && loc.Key != "" {
		parent, err := store.Open(ctx, loc.Dir())
		if err != nil {
			return "", err
		}
		defer parent.Close()
		if v, ok, err := latestOf(ctx, parent, ""); err != nil || ok {
			if err != nil {
				return "", err
			}
			return loc.Dir().Join(v).String(), nil
		}
	}
	if v, ok, err := latestOf(ctx, st, ""); err != nil || ok {
		if err != nil {
			return "", err
		}
		return loc.Join(v).String(), nil
	}
	dirs, err := st.List(ctx, "", true)
	if err != nil {
		return "", fmt.Errorf("%s: %w", loc, err)
	}
	var choices []string
	for _, dd := range dirs {
		if !dd.IsDir {
			continue
		}
		name := strings.TrimSuffix(dd.Key, "/")
		if _, ok, err := latestOf(ctx, st, name); err == nil && ok {
			choices = append(choices, loc.Join(name).String())
		}
	}
	sort.Strings(choices)
	switch len(choices) {
	case 0:
		return "", fmt.Errorf("%s: no dataset version here (expected a manifest.json, a dataset prefix with a '%s' object, or an output root of prep)", loc, manifest.LatestName)
	case 1:
		v, _, _ := latestOf(ctx, st, path.Base(choices[0]))
		return loc.Join(path.Base(choices[0]), v).String(), nil
	}
	return "", fmt.Errorf("%s holds %d datasets; name one of:\n  %s", loc, len(choices), strings.Join(choices, "\n  "))
}

// latestOf reads the latest object of the dataset prefix ds of st: the
// version it names, once that version's manifest is there.
func latestOf(ctx context.Context, st *store.Store, ds string) (string, bool, error) {
	key := path.Join(ds, manifest.LatestName)
	data, err := st.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	v := strings.TrimSpace(string(data))
	if v == "" || strings.ContainsAny(v, "/\\") || v == "." || v == ".." || len(v) > 64 {
		return "", false, fmt.Errorf("%s: %q does not name a version", st.URL(key), data)
	}
	if _, err := st.Stat(ctx, path.Join(ds, v, manifest.FileName)); err != nil {
		return "", false, fmt.Errorf("%s names version %s, which has no manifest: %w", st.URL(key), v, err)
	}
	return v, true, nil
}

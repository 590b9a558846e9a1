package dataset

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/internal/store"
)

// DefaultCacheBytes bounds a shard cache when its user gives no size.
const DefaultCacheBytes = 2 << 30

// DefaultCacheDir is where shards read from an object store are cached:
// $XDG_CACHE_HOME/shardsmith/shards (os.UserCacheDir), or a directory under
// the system's temporary directory where there is no cache directory.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "shardsmith", "shards")
	}
	return filepath.Join(os.TempDir(), "shardsmith-shards")
}

// Cache is a bounded local cache of shard files read from an object store.
// A file is named by its SHA-256 (and the shard's extension), enters the
// cache only after its size and SHA-256 matched the manifest while it was
// downloaded, and a file found from an earlier process is hashed again
// before its first use. When the cache outgrows its size the least recently
// used files that no reader holds are removed; a file being read (or
// prefetched for reading) is never removed, so the cache may exceed its
// size by the shards in use when it is smaller than they are. Several
// processes may share a directory: a file is written under a temporary name
// and renamed into place, and one that another process removed is fetched
// again.
type Cache struct {
	dir string
	max int64

	mu       sync.Mutex
	entries  map[string]*cacheEntry
	lru      *list.List // front: most recently used
	size     int64
	inflight map[string]*fetchCall
}

type cacheEntry struct {
	name     string
	size     int64
	pins     int
	verified bool
	elem     *list.Element
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// NewCache opens (creating it if needed) a cache directory bounded to
// maxBytes (0: keep only the files in use).
func NewCache(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes < 0 {
		return nil, fmt.Errorf("shard cache size %d: must be ≥ 0", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("shard cache: %w", err)
	}
	c := &Cache{dir: dir, max: maxBytes, entries: map[string]*cacheEntry{}, lru: list.New(), inflight: map[string]*fetchCall{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shard cache: %w", err)
	}
	type old struct {
		name string
		info fs.FileInfo
	}
	var found []old
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil {
			found = append(found, old{e.Name(), info})
		}
	}
	// The most recently written first: they are the likeliest to be read.
	sort.Slice(found, func(i, j int) bool { return found[i].info.ModTime().After(found[j].info.ModTime()) })
	for _, f := range found {
		en := &cacheEntry{name: f.name, size: f.info.Size()}
		en.elem = c.lru.PushBack(en)
		c.entries[f.name] = en
		c.size += en.size
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Size is the number of bytes the cache holds.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// mismatch is a download whose bytes disagree with the manifest.
type mismatch struct {
	n   int64
	sum string
}

func (m *mismatch) Error() string { return fmt.Sprintf("%d bytes with SHA-256 %s", m.n, m.sum) }

// get returns the local path of the object key of st, whose manifest says
// it has size bytes and SHA-256 sum, downloading it if the cache does not
// hold it. The file stays in the cache until release is called.
func (c *Cache) get(ctx context.Context, st *store.Store, key, sum string, size int64, ext string) (p string, release func(), err error) {
	name := sum + ext
	for {
		c.mu.Lock()
		if call, ok := c.inflight[name]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return "", nil, ctx.Err()
			}
			if call.err != nil && !isCancel(call.err) {
				return "", nil, call.err
			}
			continue // fetched, or the fetch was cancelled by its caller: look again
		}
		en := c.entries[name]
		if en != nil && en.verified {
			p := filepath.Join(c.dir, name)
			if _, err := os.Stat(p); err == nil {
				en.pins++
				c.lru.MoveToFront(en.elem)
				c.mu.Unlock()
				return p, c.releaser(en), nil
			}
			c.drop(en) // another process removed it
			en = nil
		}
		call := &fetchCall{done: make(chan struct{})}
		c.inflight[name] = call
		c.mu.Unlock()

		verified := false
		if en != nil {
			// Left by an earlier process: hash it before trusting it.
			n, s, herr := hashFile(filepath.Join(c.dir, name))
			verified = herr == nil && n == size && s == sum
		}
		if !verified {
			call.err = c.download(ctx, st, key, name, sum, size)
		}
		c.mu.Lock()
		delete(c.inflight, name)
		if call.err == nil {
			if en = c.entries[name]; en == nil {
				en = &cacheEntry{name: name, size: size}
				en.elem = c.lru.PushFront(en)
				c.entries[name] = en
				c.size += size
			}
			en.verified = true
		} else if en := c.entries[name]; en != nil {
			c.drop(en)
		}
		close(call.done)
		c.mu.Unlock()
		if call.err != nil {
			return "", nil, call.err
		}
	}
}

func (c *Cache) releaser(en *cacheEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			en.pins--
			c.evict()
			c.mu.Unlock()
		})
	}
}

// download fetches the object into the cache under name, checking it
// against size and sum.
func (c *Cache) download(ctx context.Context, st *store.Store, key, name, sum string, size int64) error {
	c.mu.Lock()
	c.size += size // room for it, before it is written
	c.evict()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.size -= size
		c.mu.Unlock()
	}()
	f, err := os.CreateTemp(c.dir, ".part-")
	if err != nil {
		return fmt.Errorf("shard cache: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, a no-op
	n, got, err := st.Download(ctx, key, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != size || got != sum {
		return &mismatch{n: n, sum: got}
	}
	return durable.Rename(tmp, filepath.Join(c.dir, name))
}

// drop forgets an entry and removes its file; c.mu is held.
func (c *Cache) drop(en *cacheEntry) {
	c.lru.Remove(en.elem)
	delete(c.entries, en.name)
	c.size -= en.size
	os.Remove(filepath.Join(c.dir, en.name))
}

// evict removes least recently used files no one holds until the cache
// fits its size; c.mu is held.
func (c *Cache) evict() {
	for e := c.lru.Back(); e != nil && c.size > c.max; {
		prev := e.Prev()
		if en := e.Value.(*cacheEntry); en.pins == 0 {
			c.drop(en)
		}
		e = prev
	}
}

func hashFile(p string) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// isCancel reports whether err is a fetch's caller giving up.
func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

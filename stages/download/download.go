// Package download fetches the raw source files of a dataset into a
// content-addressed cache and hands back the path of a file whose SHA-256 was
// checked on this very call.
//
// The SHA-256 is the identity of a source file: the cache is keyed by it, a
// mirror's bytes are accepted only when they hash to it, and a cache hit is
// hashed again before use, so a flipped bit on disk costs a re-download instead
// of a silently different dataset. Because the bytes are pinned, the fetcher
// never changes what a pipeline sees, and the mirror used, the retries taken
// and the resumes made are invisible downstream.
//
// Mirrors are tried in order. Each mirror may be
//
//   - https:// or http://, retried with exponential backoff on 5xx and network
//     errors, skipped at once on 4xx, resumed from the partial file with an
//     HTTP Range request after an interrupted transfer;
//   - file:// or a plain local path, copied into the cache while hashing;
//   - s3://BUCKET/KEY, an object store (internal/store: the standard AWS
//     credentials and AWS_ENDPOINT_URL), copied into the cache while hashing;
//   - gomod://MODULE@VERSION/path/in/module, resolved through the Go
//     toolchain's module cache (`go mod download -json`), which honours
//     GOPROXY, GOFLAGS and GONOSUMDB like any other go command; this is what
//     makes datasets vendored in Go modules available behind a module proxy.
//
// Cache layout, under the cache directory:
//
//	sha256/<hex>       verified file, never written in place
//	sha256/<hex>.part  download in progress, kept for resume
//	sha256/<hex>.lock  advisory lock serializing work on <hex>
//
// A file reaches sha256/<hex> only by an atomic rename of the fsynced .part
// after its hash matched, so a crash or a cancelled context leaves at worst a
// .part, never a corrupt final file. Two Fetch calls for the same file, in one
// process or in several, take turns on the .lock file; the second one finds
// the file cached and touches no network.
package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// Version names the fetch behaviour. It does not belong in a dataset hash:
// every byte a Fetch returns is pinned by its SHA-256, so a new Version can
// change how bytes are obtained but never which bytes.
const Version = "download/1"

// Source is one raw file of a dataset.
type Source struct {
	// Name is what logs, errors and progress reports call the file, e.g.
	// "train-images-idx3-ubyte.gz". If empty, "sha256:<first 12 hex digits>"
	// is used.
	Name string
	// SHA256 is the expected hex digest (64 characters, any case).
	SHA256 string
	// URLs are the mirrors, tried in order.
	URLs []string
	// Size is the expected length in bytes, or 0 if unknown. When set, a
	// mirror announcing another length is skipped before its body is read,
	// no body may run past it, and progress has a total from the start.
	Size int64
}

// Fetcher fetches sources into one cache directory. It is safe for concurrent
// use, and cheap to keep for a whole run.
type Fetcher struct {
	cacheDir string
	cacheErr error // why there is no cache directory, reported by Fetch
	client   *http.Client
	retries  int
	backoff  time.Duration
	timeout  time.Duration
	progress func(name string, done, total int64)
	logf     func(format string, args ...any)
	goCmd    string
}

// Default settings of New.
const (
	DefaultRetries = 3
	DefaultBackoff = 500 * time.Millisecond
	DefaultTimeout = 30 * time.Second
	// maxBackoff caps one backoff wait (unless the base itself is larger).
	maxBackoff = 30 * time.Second
)

// New returns a Fetcher configured by opts.
func New(opts ...Option) *Fetcher {
	f := &Fetcher{
		client:  http.DefaultClient,
		retries: DefaultRetries,
		backoff: DefaultBackoff,
		timeout: DefaultTimeout,
		goCmd:   "go",
		logf:    discardLogf,
	}
	if dir, err := os.UserCacheDir(); err == nil {
		f.cacheDir = filepath.Join(dir, "shardsmith")
	} else {
		f.cacheErr = fmt.Errorf("no user cache directory (use WithCacheDir): %w", err)
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

// CacheDir reports the cache directory, or "" if there is none.
func (f *Fetcher) CacheDir() string {
	if f.cacheErr != nil {
		return ""
	}
	return f.cacheDir
}

// CachePath reports where the file with the given SHA-256 lives in the cache
// once fetched. It neither checks that it is there nor that it is intact.
func (f *Fetcher) CachePath(sha string) (string, error) {
	want, err := normalizeHash(sha)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	if f.cacheErr != nil {
		return "", fmt.Errorf("download: %w", f.cacheErr)
	}
	return filepath.Join(f.cacheDir, "sha256", want), nil
}

// Fetch makes src available in the cache and returns the path of the file,
// whose SHA-256 it has just checked.
//
// A cached copy is re-hashed and used without any network access; a corrupt
// one is evicted (and logged) and fetched again. Otherwise the mirrors are
// tried in order; if every one fails, the error is a *FetchError listing each
// mirror and why it failed. If ctx ends, Fetch returns promptly with an error
// for which errors.Is(err, ctx.Err()) holds, leaving the partial download in
// the .part file for the next call to resume.
func (f *Fetcher) Fetch(ctx context.Context, src Source) (string, error) {
	want, err := normalizeHash(src.SHA256)
	if err != nil {
		return "", fmt.Errorf("download: source %q: %w", src.Name, err)
	}
	name := src.Name
	if name == "" {
		name = "sha256:" + want[:12]
	}
	if src.Size < 0 {
		return "", fmt.Errorf("download: %s: negative Size %d", name, src.Size)
	}
	if f.cacheErr != nil {
		return "", fmt.Errorf("download: %s: %w", name, f.cacheErr)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("download: %s: %w", name, err)
	}
	dir := filepath.Join(f.cacheDir, "sha256")
	final := filepath.Join(dir, want)

	// Fast path: a verified file is only ever renamed into place, so reading
	// it needs no lock.
	if ok, err := f.checkCached(ctx, name, final, want, false); err != nil || ok {
		if err != nil {
			return "", err
		}
		return final, nil
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("download: %s: create cache directory: %w", name, err)
	}
	unlock, err := lockEntry(ctx, final+".lock")
	if err != nil {
		return "", fmt.Errorf("download: %s: lock cache entry: %w", name, err)
	}
	defer unlock()

	// Whoever held the lock before may have fetched it, or left it corrupt.
	if ok, err := f.checkCached(ctx, name, final, want, true); err != nil || ok {
		if err != nil {
			return "", err
		}
		return final, nil
	}

	p, err := openPart(final + ".part")
	if err != nil {
		return "", fmt.Errorf("download: %s: %w", name, err)
	}
	defer p.close()
	if err := f.adoptPart(ctx, name, src.Size, p); err != nil {
		return "", err
	}
	if p.n > 0 && (src.Size == 0 || p.n == src.Size) && p.sum() == want {
		// A previous run finished the transfer but not the rename.
		f.logf("download: %s: partial file is already complete", name)
		return final, p.commit(final)
	}

	if len(src.URLs) == 0 {
		return "", fmt.Errorf("download: %s: not in cache and no mirrors given", name)
	}
	fe := &FetchError{Name: name, SHA256: want, Total: len(src.URLs)}
	for i, raw := range src.URLs {
		err := f.fetchMirror(ctx, src, name, want, raw, p)
		if err == nil {
			if err := p.commit(final); err != nil {
				return "", fmt.Errorf("download: %s: %w", name, err)
			}
			return final, nil
		}
		fe.Mirrors = append(fe.Mirrors, &MirrorError{URL: redact(raw), Err: err})
		if ctx.Err() != nil {
			fe.Err = ctx.Err()
			break
		}
		var cerr *cacheIOError
		if errors.As(err, &cerr) {
			fe.Err = cerr
			break
		}
		if i+1 < len(src.URLs) {
			f.logf("download: %s: mirror %d of %d failed: %v", name, i+1, len(src.URLs), err)
		}
	}
	return "", fe
}

// checkCached reports whether final exists and hashes to want. A corrupt file
// is evicted when evict is set (the caller holds the entry's lock) and left
// alone otherwise.
func (f *Fetcher) checkCached(ctx context.Context, name, final, want string, evict bool) (bool, error) {
	in, err := os.Open(final)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("download: %s: open cached file: %w", name, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, ctxReader{ctx, in})
	in.Close()
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("download: %s: %w", name, ctx.Err())
		}
		return false, fmt.Errorf("download: %s: read cached file: %w", name, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got == want {
		return true, nil
	}
	if evict {
		f.logf("download: %s: cached file %s is corrupt (sha256 %s, want %s); evicting and fetching again", name, final, got, want)
		if err := os.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("download: %s: evict corrupt cached file: %w", name, err)
		}
	}
	return false, nil
}

// adoptPart hashes what an earlier, interrupted fetch left in the .part file,
// so that the next transfer can resume after it.
func (f *Fetcher) adoptPart(ctx context.Context, name string, size int64, p *partFile) error {
	fi, err := p.f.Stat()
	if err != nil {
		return fmt.Errorf("download: %s: %w", name, err)
	}
	if fi.Size() == 0 {
		return nil
	}
	if size > 0 && fi.Size() > size {
		f.logf("download: %s: partial file has %d bytes, more than the expected %d; discarding it", name, fi.Size(), size)
		return withName(name, p.reset())
	}
	n, err := io.Copy(p.h, ctxReader{ctx, p.f})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("download: %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("download: %s: read partial file: %w", name, err)
	}
	p.n = n
	return nil
}

func withName(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("download: %s: %w", name, err)
}

// fetchMirror fills p from one mirror and leaves it holding exactly the
// verified bytes, or returns why not.
func (f *Fetcher) fetchMirror(ctx context.Context, src Source, name, want, raw string, p *partFile) error {
	loc, err := parseLocation(raw)
	if err != nil {
		return err
	}
	switch loc.kind {
	case kindHTTP:
		return f.fetchHTTP(ctx, src, name, want, raw, p)
	case kindFile:
		return f.copyLocal(ctx, src, name, want, loc.path, p)
	case kindStore:
		return f.copyStore(ctx, src, name, want, raw, p)
	case kindGoMod:
		path, err := f.resolveGoMod(ctx, loc)
		if err != nil {
			return err
		}
		return f.copyLocal(ctx, src, name, want, path, p)
	}
	return fmt.Errorf("unsupported location %q", raw)
}

func (f *Fetcher) report(name string, done, total int64) {
	if f.progress != nil {
		f.progress(name, done, total)
	}
}

func normalizeHash(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != sha256.Size*2 {
		return "", fmt.Errorf("SHA256 %q: want %d hex digits, got %d characters", s, sha256.Size*2, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("SHA256 %q: not hex: %w", s, err)
	}
	return s, nil
}

// partFile is the .part file of one cache entry together with the running
// hash of its contents, so that a verified transfer needs no second pass.
type partFile struct {
	path string
	f    *os.File
	h    hash.Hash
	n    int64
}

func openPart(path string) (*partFile, error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open partial file: %w", err)
	}
	return &partFile{path: path, f: fh, h: sha256.New()}, nil
}

func (p *partFile) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	if err != nil {
		return n, &cacheIOError{op: "write partial file", err: err}
	}
	return n, nil
}

// reset empties the file, for a transfer that starts from byte zero.
func (p *partFile) reset() error {
	p.h.Reset()
	p.n = 0
	if err := p.f.Truncate(0); err != nil {
		return &cacheIOError{op: "truncate partial file", err: err}
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return &cacheIOError{op: "seek partial file", err: err}
	}
	return nil
}

func (p *partFile) sum() string { return hex.EncodeToString(p.h.Sum(nil)) }

// commit makes the verified .part the cache entry: fsync, then an atomic
// rename, then an fsync of the directory so the rename survives a crash.
func (p *partFile) commit(final string) error {
	f := p.f
	p.f = nil
	if err := durable.Commit(f, final); err != nil {
		return &cacheIOError{op: "move verified file into cache", err: err}
	}
	return nil
}

// close releases the file after a failed fetch; an empty .part is removed, as
// there is nothing in it to resume.
func (p *partFile) close() {
	if p.f == nil {
		return
	}
	fi, err := p.f.Stat()
	p.f.Close()
	p.f = nil
	if err == nil && fi.Size() == 0 {
		os.Remove(p.path)
	}
}

// ctxReader stops a long local read (hashing, copying) when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

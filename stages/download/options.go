package download

import (
	"net/http"
	"time"
)

// Option configures a Fetcher.
type Option func(*Fetcher)

// WithCacheDir sets the cache directory. The default is "shardsmith" under
// os.UserCacheDir ($XDG_CACHE_HOME or ~/.cache on Linux).
func WithCacheDir(dir string) Option {
	return func(f *Fetcher) {
		f.cacheDir = dir
		f.cacheErr = nil
	}
}

// WithHTTPClient sets the client for http and https mirrors (for proxies,
// TLS settings, tests). Its own Timeout, if any, still applies; the default is
// http.DefaultClient.
func WithHTTPClient(c *http.Client) Option {
	return func(f *Fetcher) {
		if c != nil {
			f.client = c
		}
	}
}

// WithRetries sets how many times a mirror is retried after a temporary
// failure (5xx, network error, stall) before the next mirror is tried; a
// mirror thus gets n+1 attempts. The default is DefaultRetries.
func WithRetries(n int) Option {
	return func(f *Fetcher) {
		f.retries = max(n, 0)
	}
}

// WithBackoff sets the wait before the first retry; each further retry waits
// twice as long, capped at 64 times base or 30s (whichever is smaller, but
// never under base), and every wait is jittered down by up to half so that
// many clients do not retry in lockstep. The default is DefaultBackoff.
func WithBackoff(base time.Duration) Option {
	return func(f *Fetcher) {
		f.backoff = max(base, 0)
	}
}

// WithTimeout sets how long an attempt may receive nothing, neither response
// headers nor body bytes, before it is abandoned (and retried, resuming where
// it stopped). It is an idle timeout, not a limit on a whole transfer, so a
// large file on a slow but live link still completes. 0 disables it. The
// default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(f *Fetcher) {
		f.timeout = max(d, 0)
	}
}

// WithProgress sets a function called with the bytes of name received so far
// and the expected total (-1 if unknown). It is called from the goroutine
// running Fetch, at the start of each transfer (done is the resumed offset)
// and after every chunk written; done drops to 0 when a transfer restarts.
func WithProgress(fn func(name string, done, total int64)) Option {
	return func(f *Fetcher) {
		f.progress = fn
	}
}

// WithLogf sets where retries, resumes, evictions and mirror failures are
// logged. The default discards them.
func WithLogf(fn func(format string, args ...any)) Option {
	return func(f *Fetcher) {
		if fn == nil {
			fn = discardLogf
		}
		f.logf = fn
	}
}

// WithGoCommand sets the go command used to resolve gomod:// mirrors. The
// default is "go", looked up in PATH.
func WithGoCommand(path string) Option {
	return func(f *Fetcher) {
		if path != "" {
			f.goCmd = path
		}
	}
}

func discardLogf(string, ...any) {}

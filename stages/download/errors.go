package download

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrStalled is wrapped by the error of an attempt that received nothing
// (neither response headers nor body bytes) for the configured timeout.
var ErrStalled = errors.New("transfer stalled")

// FetchError is the error of a Fetch that got no verified file from any
// mirror. It lists every mirror tried, in order, with why it failed.
//
// errors.Is and errors.As see through it to each mirror's error, so
// errors.Is(err, context.Canceled) and errors.As(err, new(*ChecksumError))
// work on it.
type FetchError struct {
	Name    string         // Source.Name (or its stand-in)
	SHA256  string         // expected digest, lower-case hex
	Mirrors []*MirrorError // one per mirror tried, in order
	Total   int            // mirrors given; more than len(Mirrors) if Err ended the fetch early
	// Err, if set, is what ended the fetch before every mirror was tried:
	// the context's error, or a failure of the cache itself.
	Err error
}

func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "download: %s (sha256 %s): ", e.Name, e.SHA256)
	if e.Err != nil {
		fmt.Fprintf(&b, "stopped after %d of %d mirrors: %v", len(e.Mirrors), e.Total, e.Err)
		if len(e.Mirrors) == 0 {
			return b.String()
		}
	} else if len(e.Mirrors) == 1 {
		b.WriteString("1 mirror failed")
	} else {
		fmt.Fprintf(&b, "all %d mirrors failed", len(e.Mirrors))
	}
	for i, m := range e.Mirrors {
		fmt.Fprintf(&b, "\n\tmirror %d, %s: %v", i+1, m.URL, m.Err)
	}
	return b.String()
}

// Unwrap returns the mirrors' errors and Err.
func (e *FetchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Mirrors)+1)
	for _, m := range e.Mirrors {
		errs = append(errs, m)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// MirrorError is why one mirror did not deliver the file.
type MirrorError struct {
	URL string // the mirror, with any password redacted
	Err error
}

func (e *MirrorError) Error() string { return e.URL + ": " + e.Err.Error() }
func (e *MirrorError) Unwrap() error { return e.Err }

// ChecksumError reports a mirror whose complete file hashed to the wrong
// digest. Nothing is cached from it.
type ChecksumError struct {
	Name string // Source.Name
	URL  string // the mirror
	Want string // expected SHA-256, hex
	Got  string // SHA-256 of the bytes received, hex
	Size int64  // bytes received
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s from %s: sha256 mismatch: expected %s, got %s (%d bytes)", e.Name, e.URL, e.Want, e.Got, e.Size)
}

// StatusError is an HTTP response other than 200 or 206.
type StatusError struct {
	Code       int
	Status     string        // e.g. "404 Not Found"
	RetryAfter time.Duration // from a Retry-After header in seconds, 0 if none
}

func (e *StatusError) Error() string { return "HTTP " + e.Status }

// Temporary reports whether the same mirror may answer differently later:
// server errors, timeouts and rate limiting are retried, other client errors
// (404, 403, 410, ...) move on to the next mirror at once.
func (e *StatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests
}

// permanentError marks an attempt error that retrying the same mirror cannot
// fix; the next mirror is tried at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// cacheIOError is a failure to read or write the cache itself (disk full,
// permissions). No mirror can fix it, so it ends the fetch.
type cacheIOError struct {
	op  string
	err error
}

func (e *cacheIOError) Error() string { return "cache: " + e.op + ": " + e.err.Error() }
func (e *cacheIOError) Unwrap() error { return e.err }

// redact hides the password of an http(s) mirror URL before it reaches logs
// or errors. It works on the text, so even a URL that does not parse is
// redacted.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
		return raw
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(authority[:at], ":")
	if !hasPass {
		return raw
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

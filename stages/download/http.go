package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const userAgent = "shardsmith-download/1"

// fetchHTTP runs attempts against one http(s) mirror until one delivers the
// verified file, a permanent error says the mirror cannot, or the retries run
// out. p carries over between attempts, so each retry resumes where the last
// one stopped.
func (f *Fetcher) fetchHTTP(ctx context.Context, src Source, name, want, raw string, p *partFile) error {
	var last error
	for attempt := 0; attempt <= f.retries; attempt++ {
		if attempt > 0 {
			d := f.retryDelay(attempt, last)
			f.logf("download: %s: %s: attempt %d of %d failed: %v; retrying in %v", name, redact(raw), attempt, f.retries+1, last, d)
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
		err := f.httpAttempt(ctx, src, name, want, raw, p)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after %d bytes)", ctx.Err(), p.n)
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		var cerr *cacheIOError
		if errors.As(err, &cerr) {
			return err
		}
		last = err
	}
	if f.retries == 0 {
		return last
	}
	return fmt.Errorf("gave up after %d attempts: %w", f.retries+1, last)
}

// httpAttempt is one GET, resumed with a Range request if p holds bytes. It
// returns nil only when p holds the complete file with the wanted hash.
// Errors are temporary (retry the mirror) unless wrapped by permanent.
func (f *Fetcher) httpAttempt(ctx context.Context, src Source, name, want, raw string, p *partFile) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The stall timer abandons the attempt when nothing arrives for
	// f.timeout; every chunk received resets it.
	var stall *time.Timer
	if f.timeout > 0 {
		stall = time.AfterFunc(f.timeout, func() { cancel(ErrStalled) })
		defer stall.Stop()
	}
	failed := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if context.Cause(actx) == ErrStalled {
			return fmt.Errorf("%w: nothing received for %v (have %d bytes)", ErrStalled, f.timeout, p.n)
		}
		return err
	}

	req, err := http.NewRequestWithContext(actx, http.MethodGet, raw, nil)
	if err != nil {
		return permanent(err)
	}
	req.Header.Set("User-Agent", userAgent)
	// Ask for the bytes as stored: a transparently decompressed .gz would
	// neither hash right nor resume at the right offset.
	req.Header.Set("Accept-Encoding", "identity")
	offset := p.n
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		// A host name that does not resolve will not resolve a second
		// later either (offline machine, typo): go to the next mirror.
		var dns *net.DNSError
		if errors.As(err, &dns) && dns.IsNotFound {
			return permanent(failed(err))
		}
		return failed(err)
	}
	defer resp.Body.Close()

	total := int64(-1) // length of the whole file, if known
	resumed := false
	switch {
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			f.logf("download: %s: %s ignored the Range request; restarting from byte 0", name, redact(raw))
			if err := p.reset(); err != nil {
				return err
			}
		}
		total = resp.ContentLength
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, end, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			if err == nil {
				err = fmt.Errorf("starts at byte %d", start)
			}
			if rerr := p.reset(); rerr != nil {
				return rerr
			}
			return fmt.Errorf("206 response to a resume at byte %d has a bad Content-Range %q (%v); restarting from byte 0",
				offset, resp.Header.Get("Content-Range"), err)
		}
		if size >= 0 && end != size-1 {
			return fmt.Errorf("206 response to a resume at byte %d covers only bytes %d-%d of %d", offset, start, end, size)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != end-start+1 {
			return fmt.Errorf("206 response has Content-Length %d but Content-Range %q", resp.ContentLength, resp.Header.Get("Content-Range"))
		}
		total = size
		if total < 0 && resp.ContentLength >= 0 {
			total = offset + resp.ContentLength
		}
		resumed = true
		f.logf("download: %s: resuming from %s at byte %d", name, redact(raw), offset)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The partial file is as long as the mirror's file or longer, yet did
		// not hash right (or it would have been committed): start over.
		if err := p.reset(); err != nil {
			return err
		}
		return fmt.Errorf("HTTP %s for a resume at byte %d; restarting from byte 0", resp.Status, offset)
	case resp.StatusCode == http.StatusPartialContent:
		return permanent(fmt.Errorf("HTTP %s to a request without Range", resp.Status))
	default:
		se := &StatusError{Code: resp.StatusCode, Status: resp.Status, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		if se.Temporary() {
			return se
		}
		return permanent(se)
	}
	if src.Size > 0 {
		if total >= 0 && total != src.Size {
			return permanent(fmt.Errorf("mirror announces %d bytes, want %d", total, src.Size))
		}
		total = src.Size
	}

	f.report(name, p.n, total)
	body := io.Reader(&stallReader{r: resp.Body, t: stall, d: f.timeout})
	if total >= 0 {
		// One byte of slack tells "too long" from "exactly right".
		body = io.LimitReader(body, total-p.n+1)
	}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := p.Write(buf[:n]); err != nil {
				return err
			}
			f.report(name, p.n, total)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return failed(fmt.Errorf("body cut off after %d of %s bytes: %w", p.n, sizeString(total), rerr))
		}
	}
	if total >= 0 && p.n < total {
		return fmt.Errorf("body ended after %d of %d bytes", p.n, total)
	}
	if total >= 0 && p.n > total {
		n := p.n
		if err := p.reset(); err != nil {
			return err
		}
		return permanent(fmt.Errorf("body runs past the expected %d bytes (got at least %d)", total, n))
	}
	if got := p.sum(); got != want {
		ce := &ChecksumError{Name: name, URL: redact(raw), Want: want, Got: got, Size: p.n}
		if err := p.reset(); err != nil {
			return err
		}
		if resumed {
			// The bytes kept from an earlier transfer may be the bad ones.
			return fmt.Errorf("%w (resumed at byte %d; retrying from byte 0)", ce, offset)
		}
		return permanent(ce)
	}
	return nil
}

// stallReader resets the stall timer whenever bytes arrive.
type stallReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (s *stallReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if n > 0 && s.t != nil {
		s.t.Reset(s.d)
	}
	return n, err
}

// parseContentRange parses "bytes START-END/SIZE"; size is -1 for "*".
func parseContentRange(s string) (start, end, size int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, fmt.Errorf("not a byte range")
	}
	rng, sz, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, fmt.Errorf("no size")
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, fmt.Errorf("no range")
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
		return 0, 0, 0, fmt.Errorf("bad start %q", a)
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, 0, fmt.Errorf("bad end %q", b)
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil || size <= end {
			return 0, 0, 0, fmt.Errorf("bad size %q", sz)
		}
	}
	return start, end, size, nil
}

// retryAfter parses a Retry-After header given in seconds; the HTTP-date form
// is rare for file servers and ignored.
func retryAfter(h string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// retryDelay is the wait before retry number retry (1-based): exponential in
// retry, capped, jittered, and no shorter than a server's Retry-After (which
// is itself capped, so a hostile header cannot park a fetch for hours).
func (f *Fetcher) retryDelay(retry int, last error) time.Duration {
	limit := backoffCap(f.backoff)
	d := backoffDelay(f.backoff, limit, retry, rand.Float64())
	var se *StatusError
	if errors.As(last, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, limit)
	}
	return d
}

func backoffCap(base time.Duration) time.Duration {
	return max(base, min(64*base, maxBackoff))
}

// backoffDelay returns base*2^(retry-1), capped at limit, scaled into
// [d/2, d) by jitter in [0, 1).
func backoffDelay(base, limit time.Duration, retry int, jitter float64) time.Duration {
	d := limit
	if shift := retry - 1; shift < 62 {
		if e := base << shift; e > 0 && e < limit && e>>shift == base {
			d = e
		}
	}
	return d/2 + time.Duration(jitter*float64(d/2))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func sizeString(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}

package download

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// retryLog parses the "attempt K of N failed: ...; retrying in D" lines of
// a fetch's log into the waits D, checking that K counts up from 1.
func retryLog(t *testing.T, log string, attempts int) []time.Duration {
	t.Helper()
	re := regexp.MustCompile(`attempt (\d+) of (\d+) failed: .*; retrying in (\S+)`)
	var waits []time.Duration
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		if want := fmt.Sprint(len(waits) + 1); m[1] != want || m[2] != fmt.Sprint(attempts) {
			t.Errorf("log line %q: want attempt %s of %d", m[0], want, attempts)
		}
		d, err := time.ParseDuration(m[3])
		if err != nil {
			t.Fatalf("log line %q: %v", m[0], err)
		}
		waits = append(waits, d)
	}
	return waits
}

// The documented schedule (WithBackoff): retry k waits base·2^(k−1), capped
// at 64·base (or 30 s), jittered down by up to half: in [w/2, w).
func TestBackoffScheduleOfAFailingMirror(t *testing.T) {
	const base = 100 * time.Microsecond
	const retries = 9
	m := newMirror(t, status(http.StatusServiceUnavailable))
	f, _, lb := newTestFetcher(t, WithBackoff(base), WithRetries(retries))
	_, err := f.Fetch(context.Background(), Source{Name: "s", SHA256: hexSum([]byte("s")), URLs: []string{m.URL}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("gave up after %d attempts: HTTP 503", retries+1)) {
		t.Fatalf("Fetch: %v", err)
	}
	if n := len(m.requests()); n != retries+1 {
		t.Errorf("%d requests, want %d", n, retries+1)
	}
	waits := retryLog(t, lb.String(), retries+1)
	if len(waits) != retries {
		t.Fatalf("%d retries logged, want %d:\n%s", len(waits), retries, lb.String())
	}
	w := base
	for k, d := range waits {
		if d < w/2 || d >= w {
			t.Errorf("retry %d waited %v, want [%v, %v)", k+1, d, w/2, w)
		}
		w = min(2*w, 64*base)
	}
}

// Every wait lies in [w/2, w) and the jitter spreads over that range, for
// the default base (whose cap is 30 s) and a small one (whose cap is 64·base).
func TestRetryDelayJitter(t *testing.T) {
	for _, base := range []time.Duration{time.Millisecond, DefaultBackoff, 45 * time.Second} {
		f := New(WithBackoff(base))
		limit := min(64*base, 30*time.Second)
		limit = max(limit, base)
		w := base
		for retry := 1; retry <= 12; retry++ {
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for range 400 {
				d := f.retryDelay(retry, errors.New("HTTP 503"))
				lo, hi = min(lo, d), max(hi, d)
			}
			if lo < w/2 || hi >= w {
				t.Errorf("base %v retry %d: waits in [%v, %v], want [%v, %v)", base, retry, lo, hi, w/2, w)
			}
			if lo > w/2+w/10 || hi < w-w/10 {
				t.Errorf("base %v retry %d: waits in [%v, %v], want them spread over [%v, %v)", base, retry, lo, hi, w/2, w)
			}
			w = min(2*w, limit)
		}
	}
}

// A Retry-After longer than the backoff lengthens the wait, but never past
// the cap; its seconds reach the caller in StatusError.RetryAfter.
func TestRetryAfterIsHonouredUpToTheCap(t *testing.T) {
	data := testData(1000)
	busy := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}
	const base = 50 * time.Microsecond // cap 3.2ms
	m := newMirror(t, busy, busy, serve(data))
	f, dir, lb := newTestFetcher(t, WithBackoff(base), WithRetries(2))
	got, err := f.Fetch(context.Background(), Source{Name: "r", SHA256: hexSum(data), URLs: []string{m.URL}})
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, got, dir, data)
	waits := retryLog(t, lb.String(), 3)
	if fmt.Sprint(waits) != fmt.Sprint([]time.Duration{64 * base, 64 * base}) {
		t.Errorf("waits %v after Retry-After: 1, want the cap %v twice", waits, 64*base)
	}
}

// The forms of Retry-After: whole seconds (spaces allowed) are read; zero,
// negative, fractional and unparsable values, and the HTTP-date form, give
// no Retry-After, so the backoff alone decides the wait.
func TestRetryAfterForms(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"1", time.Second},
		{" 7 ", 7 * time.Second},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"", 0},
		{"Wed, 21 Oct 2026 07:28:00 GMT", 0},
	} {
		m := newMirror(t, func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Retry-After", tc.header)
			}
			http.Error(w, "busy", http.StatusServiceUnavailable)
		})
		f, _, _ := newTestFetcher(t, WithRetries(0))
		_, err := f.Fetch(context.Background(), Source{Name: "h", SHA256: hexSum([]byte("h")), URLs: []string{m.URL}})
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("Retry-After %q: err = %v, want a *StatusError", tc.header, err)
		}
		if se.Code != http.StatusServiceUnavailable || se.RetryAfter != tc.want {
			t.Errorf("Retry-After %q: StatusError %d, RetryAfter %v; want 503, %v", tc.header, se.Code, se.RetryAfter, tc.want)
		}
		// The first retry's wait with the default backoff (500ms, cap 30s):
		// the Retry-After, capped, or else the backoff's [250ms, 500ms).
		d := New().retryDelay(1, err)
		if tc.want > 0 {
			if want := min(tc.want, 30*time.Second); d != want {
				t.Errorf("Retry-After %q: the retry waits %v, want %v", tc.header, d, want)
			}
		} else if d < DefaultBackoff/2 || d >= DefaultBackoff {
			t.Errorf("Retry-After %q: the retry waits %v, want the backoff's [%v, %v)", tc.header, d, DefaultBackoff/2, DefaultBackoff)
		}
	}
}

// A retry really waits out its backoff before asking the mirror again.
func TestRetryWaitsTheBackoff(t *testing.T) {
	data := testData(1000)
	var mu sync.Mutex
	var at []time.Time
	record := func(s step) step {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			s(w, r)
		}
	}
	const base = 8 * time.Millisecond
	m := newMirror(t, record(status(http.StatusBadGateway)), record(serve(data)))
	f, dir, _ := newTestFetcher(t, WithBackoff(base), WithRetries(1))
	got, err := f.Fetch(context.Background(), Source{Name: "w", SHA256: hexSum(data), URLs: []string{m.URL}})
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, got, dir, data)
	if len(at) != 2 {
		t.Fatalf("%d requests, want 2", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < base/2 {
		t.Errorf("the retry came %v after the failure, want at least the backoff's %v", gap, base/2)
	}
}

func TestSleep(t *testing.T) {
	start := time.Now()
	if err := sleep(context.Background(), 3*time.Millisecond); err != nil {
		t.Errorf("sleep: %v", err)
	}
	if d := time.Since(start); d < 3*time.Millisecond {
		t.Errorf("sleep of 3ms returned after %v", d)
	}
	// A context that has ended wins over a wait that is due at once, every
	// time (a due timer and a closed Done would otherwise be a coin toss).
	for _, d := range []time.Duration{-time.Second, 0, time.Hour} {
		for range 50 {
			if err := sleep(cancelled(), d); !errors.Is(err, context.Canceled) {
				t.Fatalf("sleep(cancelled, %v) = %v, want context.Canceled", d, err)
			}
		}
	}
	for _, d := range []time.Duration{-time.Second, 0} {
		if err := sleep(context.Background(), d); err != nil {
			t.Errorf("sleep(%v) = %v", d, err)
		}
	}
}

// A Content-Range whose size is not past its end is refused as bad (and the
// resume restarted from byte 0), not taken for a short range.
func TestContentRangeSizeMustExceedEnd(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"bytes 0-99/99", false},
		{"bytes 0-99/100", true},
		{"bytes 5-5/6", true},
		{"bytes 5-5/5", false},
	} {
		if _, _, _, err := parseContentRange(tc.in); (err == nil) != tc.ok {
			t.Errorf("parseContentRange(%q): err = %v, want ok = %v", tc.in, err, tc.ok)
		}
	}
}

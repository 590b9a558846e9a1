package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInvalidSource(t *testing.T) {
	f, _, _ := newTestFetcher(t)
	cases := []struct {
		src  Source
		want string
	}{
		{Source{Name: "a", SHA256: "abc"}, `source "a": SHA256 "abc": want 64 hex digits, got 3 characters`},
		{Source{Name: "b", SHA256: strings.Repeat("zz", 32)}, "not hex"},
		{Source{Name: "c", SHA256: hexSum(nil), Size: -1}, "negative Size"},
		{Source{Name: "d", SHA256: hexSum(nil)}, "d: not in cache and no mirrors given"},
		{Source{SHA256: hexSum(nil), URLs: []string{""}}, "sha256:e3b0c44298fc (sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855): 1 mirror failed\n\tmirror 1, : empty mirror URL"},
	}
	for _, tc := range cases {
		_, err := f.Fetch(context.Background(), tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestProgress(t *testing.T) {
	data := testData(testSize)
	const n = testSize / 3
	m := newMirror(t, cut(data, n), serve(data))
	type call struct{ done, total int64 }
	var calls []call
	f, _, _ := newTestFetcher(t, WithRetries(1), WithProgress(func(name string, done, total int64) {
		if name != "p.bin" {
			t.Errorf("progress for %q", name)
		}
		calls = append(calls, call{done, total})
	}))
	if _, err := f.Fetch(context.Background(), Source{Name: "p.bin", SHA256: hexSum(data), URLs: []string{m.URL}}); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 4 {
		t.Fatalf("only %d progress calls: %v", len(calls), calls)
	}
	if calls[0] != (call{0, testSize}) {
		t.Errorf("first call %v, want {0 %d}", calls[0], testSize)
	}
	if last := calls[len(calls)-1]; last != (call{testSize, testSize}) {
		t.Errorf("last call %v, want {%d %d}", last, testSize, testSize)
	}
	resumed := false
	for i := 1; i < len(calls); i++ {
		if calls[i].total != testSize {
			t.Errorf("call %d total %d", i, calls[i].total)
		}
		if calls[i].done < calls[i-1].done {
			t.Errorf("progress went back from %d to %d on a resume", calls[i-1].done, calls[i].done)
		}
		if calls[i].done == n && calls[i-1].done == n {
			resumed = true // the resume's first report repeats the offset
		}
	}
	if !resumed {
		t.Errorf("no report of the resume at %d: %v", n, calls)
	}
}

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		base, limit time.Duration
		retry       int
		jitter      float64
		want        time.Duration
	}{
		{100 * ms, time.Second, 1, 0, 50 * ms},
		{100 * ms, time.Second, 1, 0.5, 75 * ms},
		{100 * ms, time.Second, 3, 0, 200 * ms},
		{100 * ms, time.Second, 4, 0.999, 799600 * time.Microsecond},
		{100 * ms, time.Second, 5, 0, 500 * ms}, // 1.6s capped to 1s
		{100 * ms, time.Second, 70, 0, 500 * ms},
		{time.Hour, 2 * time.Hour, 40, 0, time.Hour}, // no overflow
	}
	for _, tc := range cases {
		if got := backoffDelay(tc.base, tc.limit, tc.retry, tc.jitter); got != tc.want {
			t.Errorf("backoffDelay(%v, %v, %d, %v) = %v, want %v", tc.base, tc.limit, tc.retry, tc.jitter, got, tc.want)
		}
	}
	for _, tc := range []struct{ base, want time.Duration }{
		{time.Millisecond, 64 * ms}, {500 * ms, 30 * time.Second}, {time.Minute, time.Minute},
	} {
		if got := backoffCap(tc.base); got != tc.want {
			t.Errorf("backoffCap(%v) = %v, want %v", tc.base, got, tc.want)
		}
	}
	// Retry-After lengthens a wait, up to the cap.
	f := New(WithBackoff(time.Millisecond))
	if d := f.retryDelay(1, &StatusError{Code: 503, RetryAfter: time.Second}); d != 64*ms {
		t.Errorf("retryDelay with Retry-After 1s = %v, want the cap 64ms", d)
	}
	f = New(WithBackoff(time.Second))
	if d := f.retryDelay(1, &StatusError{Code: 503, RetryAfter: 5 * time.Second}); d != 5*time.Second {
		t.Errorf("retryDelay with Retry-After 5s = %v, want 5s", d)
	}
}

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 10-99/100", 10, 99, 100, true},
		{"bytes 10-99/*", 10, 99, -1, true},
		{"bytes 10-99/50", 0, 0, 0, false},
		{"bytes 10-5/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tc := range cases {
		s, e, z, err := parseContentRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (s != tc.start || e != tc.end || z != tc.size)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", tc.in, s, e, z, err)
		}
	}
}

func TestCachePath(t *testing.T) {
	f := New(WithCacheDir("cache"))
	got, err := f.CachePath(strings.ToUpper(hexSum(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("cache", "sha256", hexSum(nil)); got != want {
		t.Errorf("CachePath = %s, want %s", got, want)
	}
	if _, err := f.CachePath("nope"); err == nil {
		t.Error("CachePath accepted a bad hash")
	}
}

// A mirror whose host does not resolve is not retried: an offline machine
// reaches the next mirror (such as gomod://) at once.
func TestUnresolvableHostIsNotRetried(t *testing.T) {
	data := []byte("offline fallback")
	dir := t.TempDir()
	local := filepath.Join(dir, "f")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	var logs []string
	f := New(WithCacheDir(t.TempDir()), WithRetries(5), WithBackoff(time.Hour),
		WithLogf(func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := f.Fetch(ctx, Source{Name: "f", SHA256: hex.EncodeToString(sum[:]), URLs: []string{"https://no-such-host.invalid/f", local}})
	if err != nil {
		t.Fatalf("fetch: %v (logs: %v)", err, logs)
	}
	if got, _ := os.ReadFile(p); string(got) != string(data) {
		t.Fatal("wrong contents")
	}
	for _, l := range logs {
		if strings.Contains(l, "retrying") {
			t.Fatalf("an unresolvable host was retried: %s", l)
		}
	}
}

package download

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A .part file that already holds the whole file, of the Size the source
// declares, is committed without asking a mirror (here none works).
func TestCompletePartOfKnownSizeIsCommitted(t *testing.T) {
	f, dir, lb := newTestFetcher(t)
	data := bytes.Repeat([]byte("complete"), 300)
	final, part := entryPaths(dir, data)
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, data, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := "file://" + filepath.Join(t.TempDir(), "missing")
	got, err := f.Fetch(context.Background(), Source{Name: "c", SHA256: hexSum(data), Size: int64(len(data)), URLs: []string{missing}})
	if err != nil || got != final {
		t.Fatalf("Fetch = %s, %v; want %s", got, err, final)
	}
	if b, err := os.ReadFile(final); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("committed file: %d bytes, %v", len(b), err)
	}
	if !strings.Contains(lb.String(), "partial file is already complete") {
		t.Errorf("log %q", lb.String())
	}
}

// Each failed mirror but the last is logged as it fails, numbered; the last
// one's error is only in the FetchError.
func TestFailedMirrorsAreLoggedButTheLast(t *testing.T) {
	f, _, lb := newTestFetcher(t)
	tmp := t.TempDir()
	var urls []string
	for _, n := range []string{"a", "b", "c"} {
		urls = append(urls, "file://"+filepath.Join(tmp, n))
	}
	_, err := f.Fetch(context.Background(), Source{Name: "m", SHA256: hexSum([]byte("m")), URLs: urls})
	if err == nil || !strings.Contains(err.Error(), "all 3 mirrors failed") {
		t.Fatalf("Fetch: %v", err)
	}
	log := lb.String()
	for _, want := range []string{"download: m: mirror 1 of 3 failed: ", "download: m: mirror 2 of 3 failed: "} {
		if !strings.Contains(log, want) {
			t.Errorf("log %q lacks %q", log, want)
		}
	}
	if strings.Contains(log, "mirror 3 of 3") {
		t.Errorf("the last mirror's failure was logged: %q", log)
	}
}

// A .part file longer than the declared Size cannot be a prefix of the
// file: it is discarded, with a log line, and the file fetched whole.
func TestPartLongerThanSizeIsDiscarded(t *testing.T) {
	f, dir, lb := newTestFetcher(t)
	data := bytes.Repeat([]byte("whole"), 200)
	final, part := entryPaths(dir, data)
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, append(append([]byte(nil), data...), "tail"...), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := f.Fetch(context.Background(), Source{Name: "w", SHA256: hexSum(data), Size: int64(len(data)), URLs: []string{"file://" + src}})
	if err != nil || got != final {
		t.Fatalf("Fetch = %s, %v; want %s", got, err, final)
	}
	if b, err := os.ReadFile(final); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("fetched file: %d bytes, %v", len(b), err)
	}
	if want := "partial file has 1004 bytes, more than the expected 1000; discarding it"; !strings.Contains(lb.String(), want) {
		t.Errorf("log %q lacks %q", lb.String(), want)
	}
}

// Retries of a mirror are logged as "attempt k of n", n being every
// attempt the mirror gets (retries + 1); with the stall timeout disabled
// (0) a transfer is not abandoned. A 200 answer to a request from byte 0
// is not a refused resume.
func TestRetriesLoggedAndTimeoutZero(t *testing.T) {
	data := []byte("retried file")
	f, _, lb := newTestFetcher(t, WithRetries(2), WithTimeout(0))
	m := newMirror(t, status(500), status(503), serve(data))
	if _, err := f.Fetch(context.Background(), Source{Name: "r", SHA256: hexSum(data), URLs: []string{m.URL + "/r"}}); err != nil {
		t.Fatal(err)
	}
	log := lb.String()
	for _, want := range []string{"attempt 1 of 3 failed: HTTP 500", "attempt 2 of 3 failed: HTTP 503"} {
		if !strings.Contains(log, want) {
			t.Errorf("log %q lacks %q", log, want)
		}
	}
	if strings.Contains(log, "ignored the Range request") {
		t.Errorf("a transfer from byte 0 was logged as a refused resume: %q", log)
	}
}

// The messages of a fetch that stopped early, of one mirror and of the
// cache, for fixed errors; Unwrap reaches the mirrors' errors and Err.
func TestErrorMessages(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	mirrorErr := &MirrorError{URL: "https://example.org/f", Err: &StatusError{Code: 503, Status: "503 Service Unavailable"}}
	fe := &FetchError{Name: "f", SHA256: sum, Total: 3, Mirrors: []*MirrorError{mirrorErr}, Err: context.Canceled}
	want := "download: f (sha256 " + sum + "): stopped after 1 of 3 mirrors: context canceled\n\tmirror 1, https://example.org/f: HTTP 503 Service Unavailable"
	if got := fe.Error(); got != want {
		t.Errorf("FetchError:\n got %q\nwant %q", got, want)
	}
	if !errors.Is(fe, context.Canceled) || !errors.Is(fe, mirrorErr) {
		t.Errorf("FetchError does not unwrap to its Err and its mirror: %v", fe.Unwrap())
	}
	if errs := (&FetchError{Mirrors: []*MirrorError{mirrorErr}}).Unwrap(); len(errs) != 1 || errs[0] != mirrorErr {
		t.Errorf("Unwrap without Err = %v, want the mirror's error only", errs)
	}
	if got, want := mirrorErr.Error(), "https://example.org/f: HTTP 503 Service Unavailable"; got != want {
		t.Errorf("MirrorError = %q, want %q", got, want)
	}
	cerr := &cacheIOError{op: "write", err: os.ErrPermission}
	if got, want := cerr.Error(), "cache: write: permission denied"; got != want || !errors.Is(cerr, os.ErrPermission) {
		t.Errorf("cacheIOError = %q, want %q", got, want)
	}
}

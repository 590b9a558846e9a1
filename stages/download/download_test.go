package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSize = 200_000

// testData is deterministic, incompressible content.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// step serves one request of a scripted mirror.
type step func(w http.ResponseWriter, r *http.Request)

// serve answers like a real file server, Range requests included.
func serve(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

// ignoreRange always sends the whole body with 200.
func ignoreRange(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data)
	}
}

func status(code int) step {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}
}

// cut announces the whole file, sends its first n bytes and drops the
// connection.
func cut(data []byte, n int) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:n])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// stall announces the whole file, sends its first n bytes and then nothing
// until the client goes away.
func stall(data []byte, n int) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:n])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

// lengthOff announces len(data)+delta bytes and sends data (of which
// net/http puts at most the announced length on the wire).
func lengthOff(data []byte, delta int) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)+delta))
		w.WriteHeader(http.StatusOK)
		if delta < 0 {
			w.Write(data[:len(data)+delta])
			data = data[len(data)+delta:]
		}
		w.Write(data)
	}
}

// chunked sends data without a Content-Length.
func chunked(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		w.Write(data)
	}
}

// badRange answers a resume with a 206 that starts at byte 0.
func badRange(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data)
	}
}

// mirror is a loopback server answering request i with steps[i] (the last
// step repeats) and recording each request's Range header.
type mirror struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
}

func newMirror(t *testing.T, steps ...step) *mirror {
	t.Helper()
	m := &mirror{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		i := len(m.ranges)
		m.ranges = append(m.ranges, r.Header.Get("Range"))
		m.mu.Unlock()
		steps[min(i, len(steps)-1)](w, r)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mirror) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ranges...)
}

// logBuf collects log lines for assertions and echoes them to the test log.
type logBuf struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) logf(format string, args ...any) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
	l.t.Logf(format, args...)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestFetcher returns a fetcher with a fresh cache, a private transport
// and tiny backoffs.
func newTestFetcher(t *testing.T, opts ...Option) (*Fetcher, string, *logBuf) {
	t.Helper()
	dir := t.TempDir()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	lb := &logBuf{t: t}
	base := []Option{
		WithCacheDir(dir),
		WithHTTPClient(&http.Client{Transport: tr}),
		WithBackoff(time.Microsecond),
		WithTimeout(10 * time.Second),
		WithLogf(lb.logf),
	}
	return New(append(base, opts...)...), dir, lb
}

func entryPaths(dir string, data []byte) (final, part string) {
	final = filepath.Join(dir, "sha256", hexSum(data))
	return final, final + ".part"
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func checkFetched(t *testing.T, got, dir string, data []byte) {
	t.Helper()
	final, part := entryPaths(dir, data)
	if got != final {
		t.Errorf("path = %s, want %s", got, final)
	}
	b, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, data) {
		t.Errorf("cached file has sha256 %s, want %s", hexSum(b), hexSum(data))
	}
	if exists(t, part) {
		t.Errorf("%s left behind after success", part)
	}
}

func TestFetchHTTP(t *testing.T) {
	data := testData(testSize)
	half := testSize / 2
	wrong := bytes.Clone(data)
	wrong[testSize-1] ^= 0xff
	badPrefix := bytes.Clone(data[:half-1])
	badPrefix[0] ^= 0xff
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	goneURL := strings.Replace(gone.URL, "http://", "http://user:hunter2@", 1) + "/x"
	wantRange := fmt.Sprintf("bytes=%d-", half)

	cases := []struct {
		name     string
		size     bool // set Source.Size
		retries  int
		timeout  time.Duration
		part     []byte   // left in the .part file before the fetch
		mirrors  [][]step // one scripted server per mirror
		extra    []string // mirrors appended after the servers
		wantErr  []string // substrings of the error; none means success
		wantReqs [][]string
		wantLog  string
		check    func(t *testing.T, err error)
	}{
		{
			name:     "500 then success",
			retries:  3,
			mirrors:  [][]step{{status(500), status(502), serve(data)}},
			wantReqs: [][]string{{"", "", ""}},
			wantLog:  "HTTP 502 Bad Gateway; retrying",
		},
		{
			name:     "retries exhausted",
			retries:  2,
			mirrors:  [][]step{{status(503)}},
			wantErr:  []string{"1 mirror failed", "gave up after 3 attempts", "HTTP 503 Service Unavailable"},
			wantReqs: [][]string{{"", "", ""}},
			check: func(t *testing.T, err error) {
				var se *StatusError
				if !errors.As(err, &se) || se.Code != 503 {
					t.Errorf("errors.As(*StatusError) = %v, want code 503", se)
				}
			},
		},
		{
			name:     "404 on first mirror moves on at once",
			retries:  3,
			mirrors:  [][]step{{status(404)}, {serve(data)}},
			wantReqs: [][]string{{""}, {""}},
			wantLog:  "mirror 1 of 2 failed: HTTP 404 Not Found",
		},
		{
			name:     "403 on first mirror moves on at once",
			retries:  3,
			mirrors:  [][]step{{status(403)}, {status(500), serve(data)}},
			wantReqs: [][]string{{""}, {"", ""}},
		},
		{
			name:     "truncated body resumes with Range",
			retries:  1,
			mirrors:  [][]step{{cut(data, half), serve(data)}},
			wantReqs: [][]string{{"", wantRange}},
			wantLog:  fmt.Sprintf("resuming from %%s at byte %d", half), // checked below with the URL
		},
		{
			name:     "truncated body on one mirror resumes on the next",
			retries:  0,
			mirrors:  [][]step{{cut(data, half)}, {serve(data)}},
			wantReqs: [][]string{{""}, {wantRange}},
		},
		{
			name:     "server ignoring Range restarts from zero",
			retries:  1,
			mirrors:  [][]step{{cut(data, half), ignoreRange(data)}},
			wantReqs: [][]string{{"", wantRange}},
			wantLog:  "ignored the Range request; restarting from byte 0",
		},
		{
			name:     "206 at the wrong offset restarts from zero",
			retries:  2,
			mirrors:  [][]step{{cut(data, half), badRange(data), serve(data)}},
			wantReqs: [][]string{{"", wantRange, ""}},
		},
		{
			name:     "stalled body is abandoned and resumed",
			retries:  1,
			timeout:  300 * time.Millisecond,
			mirrors:  [][]step{{stall(data, half), serve(data)}},
			wantReqs: [][]string{{"", wantRange}},
			wantLog:  "transfer stalled: nothing received for 300ms",
		},
		{
			name:    "stalled server fails after the timeout",
			retries: 0,
			timeout: 300 * time.Millisecond,
			mirrors: [][]step{{stall(data, half)}},
			wantErr: []string{"transfer stalled", fmt.Sprintf("have %d bytes", half)},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrStalled) {
					t.Errorf("errors.Is(err, ErrStalled) = false")
				}
			},
			wantReqs: [][]string{{""}},
		},
		{
			name:     "Content-Length longer than body",
			retries:  1,
			mirrors:  [][]step{{lengthOff(data, 1000)}},
			wantErr:  []string{"gave up after 2 attempts", fmt.Sprintf("of %d bytes: unexpected EOF", testSize+1000)},
			wantReqs: [][]string{{"", fmt.Sprintf("bytes=%d-", testSize)}},
		},
		{
			name:     "Content-Length other than Size",
			size:     true,
			retries:  3,
			mirrors:  [][]step{{lengthOff(data, 1000)}},
			wantErr:  []string{fmt.Sprintf("mirror announces %d bytes, want %d", testSize+1000, testSize)},
			wantReqs: [][]string{{""}},
		},
		{
			name:     "Content-Length shorter than body",
			retries:  3,
			mirrors:  [][]step{{lengthOff(data, -1000)}},
			wantErr:  []string{"sha256 mismatch", fmt.Sprintf("(%d bytes)", testSize-1000)},
			wantReqs: [][]string{{""}},
		},
		{
			name:     "chunked body longer than Size",
			size:     true,
			retries:  3,
			mirrors:  [][]step{{chunked(append(bytes.Clone(data), 1, 2, 3))}},
			wantErr:  []string{fmt.Sprintf("body runs past the expected %d bytes", testSize)},
			wantReqs: [][]string{{""}},
		},
		{
			name:     "chunked body of the right size",
			size:     true,
			mirrors:  [][]step{{chunked(data)}},
			wantReqs: [][]string{{""}},
		},
		{
			name:     "right length, wrong bytes",
			retries:  3,
			mirrors:  [][]step{{serve(wrong)}},
			wantErr:  []string{"sha256 mismatch: expected " + hexSum(data) + ", got " + hexSum(wrong)},
			wantReqs: [][]string{{""}},
			check: func(t *testing.T, err error) {
				var ce *ChecksumError
				if !errors.As(err, &ce) {
					t.Fatalf("errors.As(*ChecksumError) = false")
				}
				if ce.Want != hexSum(data) || ce.Got != hexSum(wrong) || ce.Name != "test.bin" || !strings.HasPrefix(ce.URL, "http://127.0.0.1:") {
					t.Errorf("ChecksumError = %+v", ce)
				}
			},
		},
		{
			name:     "corrupt partial file from an earlier run is redone from zero",
			retries:  1,
			part:     badPrefix,
			mirrors:  [][]step{{serve(data)}},
			wantReqs: [][]string{{fmt.Sprintf("bytes=%d-", half-1), ""}},
			wantLog:  "retrying from byte 0",
		},
		{
			name:     "complete partial file is committed without network",
			part:     data,
			mirrors:  [][]step{{status(500)}},
			wantReqs: [][]string{nil},
			wantLog:  "partial file is already complete",
		},
		{
			name:    "every mirror fails",
			retries: 1,
			mirrors: [][]step{{status(404)}, {status(500)}, {serve(wrong)}},
			extra:   []string{"ftp://example.invalid/x", filepath.Join("no", "such", "file"), goneURL},
			wantErr: []string{
				"all 6 mirrors failed",
				"mirror 1, http://127.0.0.1:", "HTTP 404 Not Found",
				"mirror 2, http://127.0.0.1:", "gave up after 2 attempts: HTTP 500 Internal Server Error",
				"mirror 3, http://127.0.0.1:", "sha256 mismatch",
				"mirror 4, ftp://example.invalid/x: unsupported URL scheme \"ftp\"",
				"mirror 5, " + filepath.Join("no", "such", "file") + ": open " + filepath.Join("no", "such", "file"),
				"mirror 6, http://user:xxxxx@127.0.0.1:", "gave up after 2 attempts", "connection refused",
			},
			wantReqs: [][]string{{""}, {"", ""}, {""}},
			check: func(t *testing.T, err error) {
				var fe *FetchError
				if !errors.As(err, &fe) || len(fe.Mirrors) != 6 || fe.Err != nil {
					t.Fatalf("FetchError = %+v", fe)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error leaks a password: %v", err)
				}
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("errors.Is(err, os.ErrNotExist) = false")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			f, dir, logs := newTestFetcher(t, WithRetries(tc.retries), WithTimeout(timeout))
			final, part := entryPaths(dir, data)
			if tc.part != nil {
				os.MkdirAll(filepath.Dir(part), 0o755)
				if err := os.WriteFile(part, tc.part, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var mirrors []*mirror
			src := Source{Name: "test.bin", SHA256: strings.ToUpper(hexSum(data))}
			if tc.size {
				src.Size = testSize
			}
			for _, steps := range tc.mirrors {
				m := newMirror(t, steps...)
				mirrors = append(mirrors, m)
				src.URLs = append(src.URLs, m.URL+"/test.bin")
			}
			src.URLs = append(src.URLs, tc.extra...)

			got, err := f.Fetch(context.Background(), src)

			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				checkFetched(t, got, dir, data)
			} else {
				if err == nil {
					t.Fatalf("Fetch succeeded, want error containing %q", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error does not contain %q:\n%v", s, err)
					}
				}
				if got != "" {
					t.Errorf("path = %q on error", got)
				}
				if exists(t, final) {
					t.Errorf("%s cached despite the error", final)
				}
				if strings.Contains(err.Error(), "sha256 mismatch") && exists(t, part) {
					t.Errorf("%s kept after a checksum mismatch", part)
				}
			}
			if tc.check != nil {
				tc.check(t, err)
			}
			for i, m := range mirrors {
				if reqs := m.requests(); fmt.Sprint(reqs) != fmt.Sprint(tc.wantReqs[i]) {
					t.Errorf("mirror %d got requests with Range %q, want %q", i+1, reqs, tc.wantReqs[i])
				}
			}
			wantLog := tc.wantLog
			if strings.Contains(wantLog, "%s") {
				wantLog = fmt.Sprintf(wantLog, src.URLs[0])
			}
			if !strings.Contains(logs.String(), wantLog) {
				t.Errorf("log does not contain %q:\n%s", wantLog, logs)
			}
		})
	}
}

// TestFetchConnectionReset drops the connection with a TCP reset once the
// client has provably received n bytes, then checks the resume.
func TestFetchConnectionReset(t *testing.T) {
	data := testData(testSize)
	const n = 3 * testSize / 4
	received := make(chan struct{})
	var once sync.Once
	m := newMirror(t, func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(data))
		bw.Write(data[:n])
		bw.Flush()
		select {
		case <-received:
		case <-time.After(10 * time.Second):
			t.Error("client never reported the first bytes")
		}
		conn.(*net.TCPConn).SetLinger(0) // close with RST
		conn.Close()
	}, serve(data))
	f, dir, _ := newTestFetcher(t, WithRetries(1), WithProgress(func(name string, done, total int64) {
		if done >= n {
			once.Do(func() { close(received) })
		}
	}))
	got, err := f.Fetch(context.Background(), Source{Name: "reset.bin", SHA256: hexSum(data), URLs: []string{m.URL}})
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, got, dir, data)
	if reqs, want := m.requests(), []string{"", fmt.Sprintf("bytes=%d-", n)}; fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", reqs, want)
	}
}

func TestFetchCacheHitTouchesNoNetwork(t *testing.T) {
	data := testData(testSize)
	m := newMirror(t, serve(data))
	f, dir, _ := newTestFetcher(t)
	src := Source{Name: "hit.bin", SHA256: hexSum(data), URLs: []string{m.URL}}
	first, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	// A second fetcher on the same cache whose every request fails the test.
	offline := New(WithCacheDir(dir), WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("network request to %s on a cache hit", r.URL)
		return nil, errors.New("offline")
	})}))
	for _, fe := range []*Fetcher{f, offline} {
		second, err := fe.Fetch(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		if second != first {
			t.Errorf("second path %s, first %s", second, first)
		}
	}
	if n := len(m.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	// A cache hit needs no mirrors at all.
	if _, err := offline.Fetch(context.Background(), Source{SHA256: src.SHA256}); err != nil {
		t.Errorf("cache hit without mirrors: %v", err)
	}
	checkFetched(t, first, dir, data)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFetchEvictsCorruptCache(t *testing.T) {
	data := testData(testSize)
	m := newMirror(t, serve(data))
	f, dir, logs := newTestFetcher(t)
	src := Source{Name: "evict.bin", SHA256: hexSum(data), URLs: []string{m.URL}}
	path, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[12345] ^= 1
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	path2, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, path2, dir, data)
	if n := len(m.requests()); n != 2 {
		t.Errorf("server saw %d requests, want 2 (one refetch)", n)
	}
	if want := "is corrupt (sha256 " + hexSum(bad); !strings.Contains(logs.String(), want) {
		t.Errorf("log does not report the eviction (%q):\n%s", want, logs)
	}
}

//go:build unix

package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/prep"
	"github.com/shardsmith/shardsmith/stages/download"
)

// step answers one request for a file; data is the file's true content.
type step func(w http.ResponseWriter, r *http.Request, data []byte)

// serveFile answers like a real file server, Range requests included.
func serveFile(w http.ResponseWriter, r *http.Request, data []byte) {
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func statusStep(code int) step {
	return func(w http.ResponseWriter, r *http.Request, data []byte) {
		http.Error(w, http.StatusText(code), code)
	}
}

// resetAfter announces the whole file, sends its first n bytes, gives the
// client time to read them and resets the connection (TCP RST).
func resetAfter(n int) step {
	return func(w http.ResponseWriter, r *http.Request, data []byte) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(data))
		bw.Write(data[:n])
		bw.Flush()
		time.Sleep(300 * time.Millisecond)
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
}

// closeAfter announces the whole file, sends its first n bytes and closes
// the connection.
func closeAfter(n int) step {
	return func(w http.ResponseWriter, r *http.Request, data []byte) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:n])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// ignoreRange sends the whole file with 200 whatever the request asks.
func ignoreRange(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// lengthPlus announces delta bytes more than it sends.
func lengthPlus(delta int) step {
	return func(w http.ResponseWriter, r *http.Request, data []byte) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)+delta))
		w.WriteHeader(http.StatusOK)
		w.Write(data)
	}
}

// flipped sends the file with one byte changed: right length, wrong bytes.
func flipped(w http.ResponseWriter, r *http.Request, data []byte) {
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0x55
	w.Header().Set("Content-Length", strconv.Itoa(len(bad)))
	w.WriteHeader(http.StatusOK)
	w.Write(bad)
}

// stallStep announces the file, sends 1000 bytes and then nothing until
// the client goes away.
func stallStep(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data[:1000])
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// mirror is a loopback HTTP server of the files in a directory. Requests
// for a file with scripted steps get steps[i] for the i-th request; once
// the steps run out (or for other files) it serves the file. Every step
// list may end with a nil step that repeats the one before it forever.
type mirror struct {
	*httptest.Server
	dir   string
	mu    sync.Mutex
	steps map[string][]step
	all   []step // for every file without steps of its own
	seen  map[string]int
	log   []string // "file Range" of each request
}

func newMirror(t *testing.T, dir string) *mirror {
	m := &mirror{dir: dir, steps: map[string][]step{}, seen: map[string]int{}}
	m.Server = httptest.NewServer(http.HandlerFunc(m.handle))
	t.Cleanup(m.Close)
	return m
}

func (m *mirror) handle(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	m.mu.Lock()
	i := m.seen[name]
	m.seen[name]++
	m.log = append(m.log, strings.TrimSpace(name+" "+r.Header.Get("Range")))
	steps, ok := m.steps[name]
	if !ok {
		steps = m.all
	}
	var s step = serveFile
	if n := len(steps); i < n && steps[i] != nil {
		s = steps[i]
	} else if n >= 2 && steps[n-1] == nil {
		s = steps[n-2]
	}
	m.mu.Unlock()
	data, err := os.ReadFile(filepath.Join(m.dir, filepath.Base(name)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	s(w, r, data)
}

// requests returns the log of requests for name ("name" or "name bytes=N-").
func (m *mirror) requests(name string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, l := range m.log {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return out
}

func (m *mirror) url() string { return m.URL + "/" }

// forever marks the step before it as repeating.
var forever step = nil

const target = "train_images.gz" // the file the download faults hit

var downloads = addSection(10, "Downloads",
	"`prep run` of a small dataset whose mirrors are loopback HTTP servers that fail on cue; the fault hits `train_images.gz` "+
		"unless the case says otherwise. A run that fails publishes nothing and caches nothing it could not verify.",
	func() int { return len(downloadCases) })

type downloadCase struct {
	name, injected string
	run            func(t *testing.T, e *env, cfg string) Row
}

var downloadCases = []downloadCase{
	{"HTTP 500, then success", "the first request for the file answers 500", func(t *testing.T, e *env, cfg string) Row {
		a := newMirror(t, small(t).Dir)
		a.steps[target] = []step{statusStep(500)}
		withMirrors(t, cfg, a.url())
		r := e.prepRun(cfg)
		wantCode(t, r, 0)
		if got := a.requests(target); len(got) != 2 {
			t.Fatalf("requests %v, want 2", got)
		}
		return Row{Exit: r.code, Sees: lineWith(r.stderr, "attempt 1 of 4 failed"), Disk: published(t, e) + "; retried the same mirror"}
	}},
	{"404 on the first mirror", "mirror 1 answers 404 for every file; mirror 2 is sound", func(t *testing.T, e *env, cfg string) Row {
		a, b := newMirror(t, small(t).Dir), newMirror(t, small(t).Dir)
		a.all = []step{statusStep(404), forever}
		withMirrors(t, cfg, a.url(), b.url())
		r := e.prepRun(cfg)
		wantCode(t, r, 0)
		if got := a.requests(target); len(got) != 1 {
			t.Fatalf("mirror 1 saw %v: a 404 must not be retried", got)
		}
		return Row{Exit: r.code, Sees: lineWith(r.stderr, "train_images: mirror 1 of 2 failed"), Disk: published(t, e) + "; every file from mirror 2"}
	}},
	{"connection reset mid-body", "the server sends half the file, then a TCP RST", func(t *testing.T, e *env, cfg string) Row {
		a := newMirror(t, small(t).Dir)
		a.steps[target] = []step{resetAfter(200_000)}
		withMirrors(t, cfg, a.url())
		r := e.prepRun(cfg)
		wantCode(t, r, 0)
		got := a.requests(target)
		if len(got) != 2 || !regexp.MustCompile(`^train_images.gz bytes=[1-9]\d*-$`).MatchString(got[1]) {
			t.Fatalf("requests %v: want a resume with Range from the bytes received", got)
		}
		// How many bytes the client read before the reset varies with scheduling.
		sees := regexp.MustCompile(`at byte \d+`).ReplaceAllString(lineWith(r.stderr, "resuming from"), "at byte <n>")
		return Row{Exit: r.code, Sees: sees, Disk: published(t, e) + "; the retry asked for `Range: bytes=<n>-` (n > 0: the bytes already in the `.part` file), cached file's SHA-256 right"}
	}},
	{"server ignores Range", "the transfer breaks off; the resume request gets a 200 with the whole file", func(t *testing.T, e *env, cfg string) Row {
		a := newMirror(t, small(t).Dir)
		a.steps[target] = []step{closeAfter(200_000), ignoreRange}
		withMirrors(t, cfg, a.url())
		r := e.prepRun(cfg)
		wantCode(t, r, 0)
		if got := a.requests(target); len(got) != 2 || !strings.Contains(got[1], "bytes=") {
			t.Fatalf("requests %v", got)
		}
		return Row{Exit: r.code, Sees: lineWith(r.stderr, "ignored the Range request"), Disk: published(t, e) + "; restarted from byte 0"}
	}},
	{"wrong Content-Length", "the first response announces 1000 bytes more than it sends", func(t *testing.T, e *env, cfg string) Row {
		a := newMirror(t, small(t).Dir)
		a.steps[target] = []step{lengthPlus(1000)}
		withMirrors(t, cfg, a.url())
		r := e.prepRun(cfg)
		wantCode(t, r, 0)
		return Row{Exit: r.code, Sees: lineWith(r.stderr, "attempt 1 of 4 failed"), Disk: published(t, e)}
	}},
	{"right length, wrong bytes", "every response has one byte changed", func(t *testing.T, e *env, cfg string) Row {
		a := newMirror(t, small(t).Dir)
		a.steps[target] = []step{flipped, forever}
		withMirrors(t, cfg, a.url())
		r := e.prepRun(cfg)
		wantCode(t, r, 1)
		msg := finalError(r.stderr, "prep: ")
		if !strings.Contains(msg, "sha256 mismatch: expected "+small(t).SHA["train_images"]+", got ") {
			t.Fatalf("message %q does not name the expected and actual SHA-256", msg)
		}
		s := e.state("tiny")
		s.clean(t)
		if cached(e.cache, small(t).SHA["train_images"]) {
			t.Fatal("the bad file was cached")
		}
		return Row{Exit: r.code, Sees: e.scrub(msg), Disk: s.String() + "; nothing cached for the file"}
	}},
	{"every mirror failing", "mirror 1: 404; mirror 2: 500 on every attempt; mirror 3: a missing local directory", func(t *testing.T, e *env, cfg string) Row {
		a, b := newMirror(t, small(t).Dir), newMirror(t, small(t).Dir)
		a.steps[target] = []step{statusStep(404), forever}
		b.steps[target] = []step{statusStep(500), forever}
		missing := filepath.Join(e.data, "no-such-dir")
		withMirrors(t, cfg, a.url(), b.url(), "file://"+missing+"/")
		r := e.prepRun(cfg)
		wantCode(t, r, 1)
		msg := finalError(r.stderr, "prep: ")
		for _, want := range []string{"all 3 mirrors failed", "mirror 1, " + a.url(), "HTTP 404", "mirror 2, " + b.url(), "HTTP 500", "mirror 3, file://" + missing} {
			if !strings.Contains(msg, want) {
				t.Fatalf("message %q lacks %q", msg, want)
			}
		}
		s := e.state("tiny")
		s.clean(t)
		return Row{Exit: r.code, Sees: e.scrub(msg), Disk: s.String()}
	}},
}

func TestDownloads(t *testing.T) {
	for i, c := range downloadCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.writeConfig(small(t), "tiny", "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 1000}\n")
			row := c.run(t, e, cfg)
			row.Case, row.Injected = c.name, c.injected
			row.Sees = e.scrub(row.Sees)
			downloads.record(t, i, row)
		})
	}
}

// The stall timeout is 30 s in the command, too long for the suite: this
// case runs the same build in-process with a 300 ms timeout and shows the
// message prep would print.
func TestDownloadStall(t *testing.T) {
	e := newEnv(t)
	set := small(t)
	a := newMirror(t, set.Dir)
	a.steps[target] = []step{stallStep, forever}
	cfg, err := config.Parse([]byte(set.Config("tiny", "split: {seed: 1}\n")), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Mirrors = []string{a.url()}
	var logs syncBuffer
	f := download.New(download.WithCacheDir(e.cache), download.WithTimeout(300*time.Millisecond), download.WithRetries(1),
		download.WithBackoff(time.Millisecond), download.WithLogf(func(format string, args ...any) { fmt.Fprintf(&logs, format+"\n", args...) }))
	_, err = prep.Build(context.Background(), cfg, prep.Options{Out: e.out, Fetcher: f})
	if err == nil || !strings.Contains(err.Error(), "transfer stalled") {
		t.Fatalf("error %v, want a stall", err)
	}
	if got := a.requests(target); len(got) != 2 || !strings.HasSuffix(got[1], "bytes=1000-") {
		t.Fatalf("requests %v: want a retry resuming at byte 1000", got)
	}
	s := e.state("tiny")
	s.clean(t)
	stalls.record(t, 0, Row{Case: "slow server beyond the timeout",
		Injected: "the server sends 1000 bytes, then nothing (in-process build with a 300 ms stall timeout and 1 retry; the command's default is 30 s and 3 retries)",
		Exit:     1, Sees: e.scrub("prep: " + err.Error()), Disk: s.String() + "; the retry resumed at byte 1000"})
}

var stalls = addSection(20, "Stalled transfers",
	"An attempt that receives nothing for the stall timeout is abandoned, retried (resuming), and reported.",
	func() int { return 1 })

var cacheSection = addSection(30, "Download cache",
	"Every cached file is re-hashed when it is used.",
	func() int { return 1 })

func TestCorruptCacheIsEvicted(t *testing.T) {
	e := newEnv(t)
	set := small(t)
	a := newMirror(t, set.Dir)
	cfg := e.writeConfig(set, "tiny", "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 1000}\n")
	withMirrors(t, cfg, a.url())
	wantCode(t, e.prepRun(cfg), 0)
	entry := filepath.Join(e.cache, "sha256", set.SHA["train_images"])
	b, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 1
	if err := os.WriteFile(entry, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.prepRun(cfg, "--force")
	wantCode(t, r, 0)
	if got := a.requests(target); len(got) != 2 {
		t.Fatalf("requests %v: want the file fetched again", got)
	}
	if !cached(e.cache, set.SHA["train_images"]) {
		t.Fatal("the cache entry is not right after the run")
	}
	cacheSection.record(t, 0, Row{Case: "corrupted cached file", Injected: "one byte of a cached source flipped, then `prep run --force`",
		Exit: r.code, Sees: e.scrub(lineWith(r.stderr, "is corrupt")), Disk: published(t, e) + "; the entry fetched again and right"})
}

// cached reports whether the cache holds the file with this SHA-256, intact.
func cached(cache, sha string) bool {
	b, err := os.ReadFile(filepath.Join(cache, "sha256", sha))
	if err != nil {
		return false
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]) == sha
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// published asserts one verified version of dataset "tiny" and describes it.
func published(t *testing.T, e *env) string {
	t.Helper()
	s := e.state("tiny")
	s.published(t)
	return s.String()
}

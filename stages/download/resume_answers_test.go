package download

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// answer sends code with the given headers and body; without a
// Content-Length header the body is sent chunked.
func answer(code int, hdr map[string]string, body []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		if _, ok := hdr["Content-Length"]; !ok {
			w.(http.Flusher).Flush()
		}
		w.Write(body)
	}
}

// A resume whose 206 answer does not fit the request is refused with a
// message saying how, and the next attempt gets the file: from byte 0 when
// the answer started elsewhere, resuming again otherwise.
func TestBadResumeAnswers(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10)
	for _, tc := range []struct {
		name string
		bad  step
		log  string
		reqs []string
	}{
		{"wrong start", answer(206, map[string]string{"Content-Range": "bytes 0-99/100"}, data),
			`206 response to a resume at byte 50 has a bad Content-Range "bytes 0-99/100" (starts at byte 0); restarting from byte 0`, []string{"bytes=50-", ""}},
		{"short range", answer(206, map[string]string{"Content-Range": "bytes 50-89/100"}, data[50:90]),
			"206 response to a resume at byte 50 covers only bytes 50-89 of 100", nil},
		{"empty body", answer(206, map[string]string{"Content-Range": "bytes 50-99/100", "Content-Length": "0"}, nil),
			`206 response has Content-Length 0 but Content-Range "bytes 50-99/100"`, nil},
		{"short body", answer(206, map[string]string{"Content-Range": "bytes 50-99/100", "Content-Length": "10"}, data[50:60]),
			`206 response has Content-Length 10 but Content-Range "bytes 50-99/100"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, dir, lb := newTestFetcher(t, WithRetries(1))
			final, part := entryPaths(dir, data)
			os.MkdirAll(filepath.Dir(part), 0o755)
			if err := os.WriteFile(part, data[:50], 0o644); err != nil {
				t.Fatal(err)
			}
			m := newMirror(t, tc.bad, serve(data))
			got, err := f.Fetch(context.Background(), Source{Name: "r", SHA256: hexSum(data), URLs: []string{m.URL + "/r"}})
			if err != nil || got != final {
				t.Fatalf("Fetch = %s, %v", got, err)
			}
			if !strings.Contains(lb.String(), tc.log) {
				t.Errorf("log %q lacks %q", lb.String(), tc.log)
			}
			want := tc.reqs
			if want == nil {
				want = []string{"bytes=50-", "bytes=50-"}
			}
			if reqs := m.requests(); !slices.Equal(reqs, want) {
				t.Errorf("requests %q, want %q", reqs, want)
			}
		})
	}
}

// A resume answered with a range of unknown size ("/*") reports the whole
// length as progress total: the offset plus the answer's Content-Length.
func TestResumeOfUnknownSizeReportsTheTotal(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefghij"), 10)
	var totals []int64
	f, dir, _ := newTestFetcher(t, WithProgress(func(name string, done, total int64) { totals = append(totals, total) }))
	_, part := entryPaths(dir, data)
	os.MkdirAll(filepath.Dir(part), 0o755)
	if err := os.WriteFile(part, data[:50], 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMirror(t, answer(206, map[string]string{"Content-Range": "bytes 50-99/*", "Content-Length": "50"}, data[50:]))
	if _, err := f.Fetch(context.Background(), Source{Name: "u", SHA256: hexSum(data), URLs: []string{m.URL + "/u"}}); err != nil {
		t.Fatal(err)
	}
	if len(totals) == 0 || slices.ContainsFunc(totals, func(v int64) bool { return v != 100 }) {
		t.Errorf("progress totals %v, want 100 throughout", totals)
	}
}

// With a declared Size, a mirror announcing another length (0 included) is
// refused before its body is read, and a body that runs past the Size (sent
// chunked, with no length) is cut one byte after it; one that ends short of
// it is reported as such.
func TestDeclaredSizeBoundsTheBody(t *testing.T) {
	data := []byte("0123456789")
	for _, tc := range []struct {
		name string
		bad  step
		want string
	}{
		{"announces 0", answer(200, map[string]string{"Content-Length": "0"}, nil), "mirror announces 0 bytes, want 10"},
		{"runs past", answer(200, map[string]string{}, bytes.Repeat(data, 100)), "body runs past the expected 10 bytes (got at least 11)"},
		{"ends early", answer(200, map[string]string{}, data[:5]), "body ended after 5 of 10 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _ := newTestFetcher(t, WithRetries(0))
			m := newMirror(t, tc.bad)
			_, err := f.Fetch(context.Background(), Source{Name: "s", SHA256: hexSum(data), Size: 10, URLs: []string{m.URL + "/s"}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch: %v, want %q", err, tc.want)
			}
		})
	}
}

// The stall timeout is an idle timeout: a transfer that takes several times
// as long but keeps sending completes.
func TestSlowButLiveTransferCompletes(t *testing.T) {
	data := []byte("slow but live")
	f, _, _ := newTestFetcher(t, WithRetries(0), WithTimeout(150*time.Millisecond))
	m := newMirror(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		for i := range data {
			w.Write(data[i : i+1])
			w.(http.Flusher).Flush()
			time.Sleep(40 * time.Millisecond)
		}
	})
	if _, err := f.Fetch(context.Background(), Source{Name: "slow", SHA256: hexSum(data), URLs: []string{m.URL + "/slow"}}); err != nil {
		t.Fatalf("a transfer sending a byte every 40 ms, with a stall timeout of 150 ms: %v", err)
	}
}

// A resume of the last byte is answered with a one-byte range
// ("bytes 99-99/100"), which is accepted.
func TestResumeOfTheLastByte(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10)
	f, dir, lb := newTestFetcher(t, WithRetries(0))
	final, part := entryPaths(dir, data)
	os.MkdirAll(filepath.Dir(part), 0o755)
	if err := os.WriteFile(part, data[:99], 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMirror(t, serve(data))
	if got, err := f.Fetch(context.Background(), Source{Name: "l", SHA256: hexSum(data), URLs: []string{m.URL + "/l"}}); err != nil || got != final {
		t.Fatalf("Fetch = %s, %v", got, err)
	}
	if reqs := m.requests(); !slices.Equal(reqs, []string{"bytes=99-"}) || !strings.Contains(lb.String(), "resuming from") {
		t.Errorf("requests %q, log %q: want one resume at byte 99", reqs, lb.String())
	}
}

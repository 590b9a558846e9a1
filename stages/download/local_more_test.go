package download

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

// A local file longer than one read buffer (256 KiB) is copied whole, with
// a progress report after every chunk.
func TestFetchLocalLargerThanOneRead(t *testing.T) {
	const size = 600_000
	data := testData(size)
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	type call struct{ done, total int64 }
	var calls []call
	f, dir, _ := newTestFetcher(t, WithProgress(func(name string, done, total int64) {
		calls = append(calls, call{done, total})
	}))
	got, err := f.Fetch(context.Background(), Source{Name: "big.bin", SHA256: hexSum(data), URLs: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, got, dir, data)
	want := []call{{0, size}, {256 << 10, size}, {512 << 10, size}, {size, size}}
	if len(calls) != len(want) {
		t.Fatalf("progress %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("progress %v, want %v", calls, want)
			break
		}
	}
}

// A local copy cancelled midway reports the context's error, not a read
// error of the file: the file is not at fault.
func TestFetchLocalCancelledMidCopy(t *testing.T) {
	data := testData(600_000)
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, dir, _ := newTestFetcher(t, WithProgress(func(name string, done, total int64) {
		if done > 0 {
			cancel()
		}
	}))
	_, err := f.Fetch(ctx, Source{Name: "big.bin", SHA256: hexSum(data), URLs: []string{src}})
	var fe *FetchError
	if !errors.As(err, &fe) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a FetchError for context.Canceled", err)
	}
	if len(fe.Mirrors) != 1 || fe.Mirrors[0].Err != context.Canceled {
		t.Errorf("mirror errors %v, want the context's error alone", fe.Mirrors)
	}
	if final, _ := entryPaths(dir, data); exists(t, final) {
		t.Error("a cancelled copy was committed")
	}
}

// A declared Size is checked against the object before it is read: a wrong
// one names the mirror and both sizes, and the next mirror is tried.
func TestFetchFromStoreChecksSize(t *testing.T) {
	srv := startStore(t)
	data := testData(testSize)
	put(t, srv, "good.bin", data)
	put(t, srv, "short.bin", data[:testSize-1])
	f, dir, _ := newTestFetcher(t, WithRetries(0))
	_, err := f.Fetch(context.Background(), Source{Name: "x", SHA256: hexSum(data), Size: testSize, URLs: []string{srv.URL("mirror/short.bin")}})
	if want := srv.URL("mirror/short.bin") + " has 199999 bytes, want 200000"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
	got, err := f.Fetch(context.Background(), Source{Name: "x", SHA256: hexSum(data), Size: testSize,
		URLs: []string{srv.URL("mirror/short.bin"), srv.URL("mirror/good.bin")}})
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, got, dir, data)
}

// roundTrip answers every request itself, without a network.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The client given to WithHTTPClient is the one that fetches; a nil one
// keeps the default.
func TestWithHTTPClientIsUsed(t *testing.T) {
	data := testData(1000)
	var asked []string
	c := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		asked = append(asked, r.URL.String())
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", ContentLength: int64(len(data)),
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(data)), Request: r}, nil
	})}
	f := New(WithCacheDir(t.TempDir()), WithHTTPClient(c), WithRetries(0))
	const url = "http://mirror.invalid/f.bin"
	if _, err := f.Fetch(context.Background(), Source{Name: "f", SHA256: hexSum(data), URLs: []string{url}}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != url {
		t.Errorf("the client was asked for %q, want [%s]", asked, url)
	}

	m := newMirror(t, serve(data))
	f = New(WithCacheDir(t.TempDir()), WithHTTPClient(nil), WithRetries(0))
	if _, err := f.Fetch(context.Background(), Source{Name: "f", SHA256: hexSum(data), URLs: []string{m.URL}}); err != nil {
		t.Fatalf("WithHTTPClient(nil): %v", err)
	}
}

func startStore(t *testing.T) *storetest.Server {
	t.Helper()
	return storetest.Start(t)
}

// put stores data as the object mirror/KEY of srv's bucket.
func put(t *testing.T, srv *storetest.Server, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenString(ctx, srv.URL("mirror"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
}

// file:///C:/x names the drive path C:\x on Windows only; elsewhere it is
// the absolute path /C:/x, like any other file URL.
func TestFileURLWithADriveLetter(t *testing.T) {
	loc, err := parseLocation("file:///C:/data/x.gz")
	if err != nil {
		t.Fatal(err)
	}
	want := "/C:/data/x.gz"
	if runtime.GOOS == "windows" {
		want = `C:\data\x.gz`
	}
	if loc.kind != kindFile || loc.path != want {
		t.Errorf("parseLocation(file:///C:/data/x.gz) = kind %d, path %q; want a file at %q", loc.kind, loc.path, want)
	}
}

package download

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFetchCancelMidDownload(t *testing.T) {
	data := testData(testSize)
	const n = testSize / 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := newMirror(t, stall(data, n))
	f, dir, _ := newTestFetcher(t, WithProgress(func(name string, done, total int64) {
		if done >= n {
			cancel()
		}
	}))
	src := Source{Name: "cancel.bin", SHA256: hexSum(data), URLs: []string{m.URL}}
	_, err := f.Fetch(ctx, src)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Err != context.Canceled {
		t.Errorf("FetchError = %+v", fe)
	}
	final, part := entryPaths(dir, data)
	if exists(t, final) {
		t.Error("final file exists after cancellation")
	}
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatalf("partial file gone after cancellation: %v", err)
	}
	if fi.Size() != n {
		t.Errorf("partial file has %d bytes, want %d", fi.Size(), n)
	}

	// The next fetch resumes from it.
	m2 := newMirror(t, serve(data))
	src.URLs = []string{m2.URL}
	got, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, got, dir, data)
	if reqs, want := m2.requests(), []string{fmt.Sprintf("bytes=%d-", n)}; fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", reqs, want)
	}
}

func TestFetchCancelDuringBackoff(t *testing.T) {
	data := testData(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := newMirror(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	f, dir, _ := newTestFetcher(t, WithBackoff(time.Hour), WithRetries(5))
	done := make(chan error, 1)
	go func() {
		_, err := f.Fetch(ctx, Source{Name: "b.bin", SHA256: hexSum(data), URLs: []string{m.URL, m.URL}})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if !strings.Contains(err.Error(), "stopped after 1 of 2 mirrors") {
			t.Errorf("err = %v, want it to say it stopped early", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Fetch kept waiting out its backoff after cancellation")
	}
	if n := len(m.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if _, part := entryPaths(dir, data); exists(t, part) {
		t.Errorf("empty partial file left behind")
	}
}

func TestFetchAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, _, _ := newTestFetcher(t)
	_, err := f.Fetch(ctx, Source{Name: "c", SHA256: hexSum(nil), URLs: []string{"http://127.0.0.1:1/"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestFetchConcurrentSameFile(t *testing.T) {
	data := testData(testSize)
	m := newMirror(t, serve(data))
	dir := t.TempDir()
	src := Source{Name: "same.bin", SHA256: hexSum(data), URLs: []string{m.URL}}
	const workers = 8
	paths := make([]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			// Separate fetchers: only the cache directory is shared.
			f := New(WithCacheDir(dir), WithBackoff(time.Microsecond))
			paths[i], errs[i] = f.Fetch(context.Background(), src)
		})
	}
	wg.Wait()
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		checkFetched(t, paths[i], dir, data)
	}
	if n := len(m.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

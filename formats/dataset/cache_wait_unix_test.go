//go:build unix

package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/internal/store"
)

// fifoObject makes the object key of a local store a named pipe, so that
// its download blocks until the test writes the bytes, and can happen only
// once: a second download would wait for a writer that never comes.
func fifoObject(t *testing.T, key string) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Location{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := filepath.Join(dir, key)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// A failed test may leave a second download blocked on the pipe,
		// and the store does not close while it reads: give it an end.
		for range 100 {
			if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return st, p
}

type getResult struct {
	p       string
	release func()
	err     error
}

// concurrentGets asks the cache for key from n goroutines at once and,
// once they have had time to find the download in flight, writes data
// into the pipe the first of them is reading.
func concurrentGets(t *testing.T, c *Cache, st *store.Store, fifo, key, sum string, size int64, data []byte, n int) []getResult {
	t.Helper()
	results := make(chan getResult, n)
	for range n {
		go func() {
			p, release, err := c.get(context.Background(), st, key, sum, size, ".arrow")
			results <- getResult{p, release, err}
		}()
	}
	time.Sleep(100 * time.Millisecond) // every reader is in the cache, one of them downloading
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	var out []getResult
	for range n {
		select {
		case r := <-results:
			out = append(out, r)
		case <-time.After(10 * time.Second):
			t.Fatal("a reader is still waiting: it did not take the download in flight")
		}
	}
	return out
}

// Readers that ask for a shard while another reader downloads it wait for
// that download and all get the one cached file; the object is read once.
func TestCacheReadersShareTheDownloadInFlight(t *testing.T) {
	st, fifo := fifoObject(t, "s.arrow")
	data := bytes.Repeat([]byte("shard"), 200)
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	c, err := NewCache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(c.Dir(), hexSum+".arrow")
	for i, r := range concurrentGets(t, c, st, fifo, "s.arrow", hexSum, int64(len(data)), data, 4) {
		if r.err != nil {
			t.Fatalf("reader %d: %v", i, r.err)
		}
		if r.p != want || r.release == nil {
			t.Fatalf("reader %d got %q (release set: %v), want %s", i, r.p, r.release != nil, want)
		}
		if b, err := os.ReadFile(r.p); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("reader %d: cached file %d bytes, %v", i, len(b), err)
		}
		r.release()
	}
	if c.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", c.Size(), len(data))
	}
}

// A download that brings the wrong bytes fails every reader waiting for it
// with the same mismatch, without a download of its own, and leaves
// nothing in the cache.
func TestCacheReadersWaitingForABadDownloadGetItsError(t *testing.T) {
	st, fifo := fifoObject(t, "s.arrow")
	data := bytes.Repeat([]byte("shard"), 200)
	sum := sha256.Sum256(data)
	c, err := NewCache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data...)
	bad[10] ^= 1
	badSum := sha256.Sum256(bad)
	for i, r := range concurrentGets(t, c, st, fifo, "s.arrow", hex.EncodeToString(sum[:]), int64(len(data)), bad, 3) {
		var mm *mismatch
		if !errors.As(r.err, &mm) || mm.n != int64(len(data)) || mm.sum != hex.EncodeToString(badSum[:]) {
			t.Fatalf("reader %d: %q, %v; want the mismatch of the bad download", i, r.p, r.err)
		}
	}
	if got := cached(t, c); len(got) != 0 || c.Size() != 0 {
		t.Errorf("a refused download left %v (Size %d)", got, c.Size())
	}
}

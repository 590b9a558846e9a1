package dataset

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A whole file an earlier process left in the cache directory is used as it
// is, once its hash matched: the object is not fetched again (here it is
// gone from the store, and the read still succeeds).
func TestCacheReusesAWholeFileItFinds(t *testing.T) {
	const n = 400
	st, sums := objectsStore(t, n, "a")
	dir := t.TempDir()
	c, err := NewCache(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, release, err := c.get(ctx, st, "a", sums["a"], n, ".arrow")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := st.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	c2, err := NewCache(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	p2, release, err := c2.get(ctx, st, "a", sums["a"], n, ".arrow")
	if err != nil {
		t.Fatalf("a whole cached file was not reused: %v", err)
	}
	defer release()
	if b, err := os.ReadFile(p2); p2 != p || err != nil || !bytes.Equal(b, bytes.Repeat([]byte{1}, n)) {
		t.Fatalf("reused %s (want %s): %d bytes, %v", p2, p, len(b), err)
	}
	if c2.Size() != n {
		t.Errorf("Size = %d, want %d", c2.Size(), n)
	}
}

// An object the store does not have is reported as missing (not as a
// download of 0 bytes), and leaves nothing in the cache.
func TestCacheMissingObject(t *testing.T) {
	st, sums := objectsStore(t, 100, "a")
	c, err := NewCache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.get(context.Background(), st, "b", sums["a"], 100, ".arrow")
	var mm *mismatch
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &mm) {
		t.Fatalf("missing object: %v, want a not-exist error", err)
	}
	if got := cached(t, c); len(got) != 0 || c.Size() != 0 {
		t.Errorf("a failed download left %v (Size %d)", got, c.Size())
	}
}

// A cache exactly as large as the files it holds keeps them all: eviction
// starts only when the size is exceeded.
func TestCacheFilledToItsSizeKeepsEverything(t *testing.T) {
	const n = 250
	st, sums := objectsStore(t, n, "a", "b", "c")
	c, err := NewCache(t.TempDir(), 2*n)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"a", "b"} {
		_, release, err := c.get(ctx, st, key, sums[key], n, ".arrow")
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if got := cached(t, c); len(got) != 2 || c.Size() != 2*n {
		t.Fatalf("a cache of two files' size holds %v (Size %d), want both", got, c.Size())
	}
	_, release, err := c.get(ctx, st, "c", sums["c"], n, ".arrow")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if got := cached(t, c); len(got) != 2 || c.Size() != 2*n {
		t.Fatalf("after a third file: %v (Size %d), want two", got, c.Size())
	}
	if _, err := os.Stat(filepath.Join(c.dir, sums["a"]+".arrow")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the least recently used file was kept: %v", err)
	}
}

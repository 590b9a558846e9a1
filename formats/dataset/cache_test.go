package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/shardsmith/shardsmith/internal/store"
)

// objectsStore puts blobs of size n each under their names in a local store.
func objectsStore(t *testing.T, n int, names ...string) (*store.Store, map[string]string) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Location{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sums := map[string]string{}
	for i, name := range names {
		b := bytes.Repeat([]byte{byte(i + 1)}, n)
		if err := st.Put(context.Background(), name, b); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		sums[name] = hex.EncodeToString(s[:])
	}
	return st, sums
}

func cached(t *testing.T, c *Cache) []string {
	t.Helper()
	entries, err := os.ReadDir(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	const n = 1000
	st, sums := objectsStore(t, n, "a", "b", "c", "d")
	c, err := NewCache(t.TempDir(), 2*n+n/2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(key string) {
		t.Helper()
		p, release, err := c.get(ctx, st, key, sums[key], n, ".arrow")
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || len(b) != n || b[0] != byte(key[0]-'a'+1) {
			t.Fatalf("cached %s: %d bytes, %v", key, len(b), err)
		}
		release()
	}
	get("a")
	get("b")
	get("c") // evicts a
	if got := cached(t, c); len(got) != 2 || got[0] != sums["b"]+".arrow" && got[1] != sums["b"]+".arrow" {
		t.Fatalf("after a, b, c: %v", got)
	}
	if _, err := os.Stat(filepath.Join(c.Dir(), sums["a"]+".arrow")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a, the least recently used, was kept: %v", err)
	}
	get("b") // b becomes the most recent: d evicts c
	get("d")
	for key, want := range map[string]bool{"a": false, "b": true, "c": false, "d": true} {
		_, err := os.Stat(filepath.Join(c.Dir(), sums[key]+".arrow"))
		if (err == nil) != want {
			t.Errorf("%s cached: %v, want %v", key, err == nil, want)
		}
	}
	if c.Size() != 2*n {
		t.Errorf("Size = %d, want %d", c.Size(), 2*n)
	}
}

func TestCacheKeepsWhatIsInUse(t *testing.T) {
	const n = 500
	st, sums := objectsStore(t, n, "a", "b")
	c, err := NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pa, ra, err := c.get(ctx, st, "a", sums["a"], n, "")
	if err != nil {
		t.Fatal(err)
	}
	pb, rb, err := c.get(ctx, st, "b", sums["b"], n, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pa, pb} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a file in use was evicted: %v", err)
		}
	}
	ra()
	ra() // a second release is harmless
	if _, err := os.Stat(pa); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a released file stayed in a cache of size 0: %v", err)
	}
	if _, err := os.Stat(pb); err != nil {
		t.Errorf("b, still in use, was evicted: %v", err)
	}
	rb()
	if got := cached(t, c); len(got) != 0 {
		t.Errorf("left: %v", got)
	}
}

func TestCacheRefusesWrongBytes(t *testing.T) {
	st, sums := objectsStore(t, 100, "a")
	c, err := NewCache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.get(context.Background(), st, "a", sums["a"], 99, "")
	var mm *mismatch
	if !errors.As(err, &mm) || mm.n != 100 {
		t.Fatalf("wrong size: %v", err)
	}
	_, _, err = c.get(context.Background(), st, "a", "00"+sums["a"][2:], 100, "")
	if !errors.As(err, &mm) || mm.sum != sums["a"] {
		t.Fatalf("wrong hash: %v", err)
	}
	if got := cached(t, c); len(got) != 0 {
		t.Errorf("a refused download left %v", got)
	}
	if c.Size() != 0 {
		t.Errorf("Size = %d", c.Size())
	}
}

// A file an earlier process left is hashed before its first use: a damaged
// one is fetched again.
func TestCacheRehashesWhatItFinds(t *testing.T) {
	const n = 300
	st, sums := objectsStore(t, n, "a")
	dir := t.TempDir()
	c, err := NewCache(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	p, release, err := c.get(context.Background(), st, "a", sums["a"], n, ".arrow")
	if err != nil {
		t.Fatal(err)
	}
	release()
	b, _ := os.ReadFile(p)
	b[7] ^= 1
	os.WriteFile(p, b, 0o644)
	c2, err := NewCache(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Size() != n {
		t.Errorf("the second cache found %d bytes, want %d", c2.Size(), n)
	}
	p2, release, err := c2.get(context.Background(), st, "a", sums["a"], n, ".arrow")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	got, _ := os.ReadFile(p2)
	if s := sha256.Sum256(got); hex.EncodeToString(s[:]) != sums["a"] {
		t.Error("a damaged cached file was used")
	}
	// A cache smaller than what it finds trims it at once.
	c3, err := NewCache(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Size() != 0 || len(cached(t, c3)) != 0 {
		t.Errorf("a cache of size 0 kept %d bytes: %v", c3.Size(), cached(t, c3))
	}
	if _, err := NewCache(dir, -1); err == nil {
		t.Error("a negative size was accepted")
	}
}

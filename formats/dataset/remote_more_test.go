package dataset_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
)

// A prefetched shard is held in the cache until Release, and an open one
// until Close; then the cache may evict it (here a cache of size 0 does at
// once). Prefetch of a shard that
// does not exist does nothing, and a nil Prefetched releases nothing.
// Objects lists the version's objects. A shard object replaced after the
// version was opened is refused by size or by SHA-256, naming its URL.
func TestRemotePrefetchReleaseAndReplacedObjects(t *testing.T) {
	srv := storetest.Start(t)
	spec := tinyset.Spec{Train: 60, Test: 20, Side: 4, Seed: 3}
	remote := tinybuild.Build(t, srv.URL("root"), "p", spec, "split: {seed: 1, val_fraction: 0.2}\nshards: {rows: 20, batch_rows: 10}\n")
	c, err := dataset.NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := dataset.Open(remote.Dir, dataset.WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	shards := rd.Manifest().Split("train").Shards
	if len(shards) < 2 {
		t.Fatalf("%d train shards, want several", len(shards))
	}
	cachedFile := func(i int) string { return filepath.Join(c.Dir(), shards[i].SHA256+".arrow") }
	for _, i := range []int{0, len(shards) - 1} {
		p := rd.Prefetch(ctx, "train", i)
		if p == nil {
			t.Fatalf("Prefetch of train shard %d did nothing", i)
		}
		<-p.Done()
		if _, err := os.Stat(cachedFile(i)); err != nil {
			t.Fatalf("shard %d, prefetched, is not held in a cache of size 0: %v", i, err)
		}
		p.Release()
		if _, err := os.Stat(cachedFile(i)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("shard %d stayed in a cache of size 0 after Release: %v", i, err)
		}
	}
	for _, bad := range []struct {
		split string
		i     int
	}{{"train", -1}, {"train", len(shards)}, {"nope", 0}} {
		if rd.Prefetch(ctx, vocab.Split(bad.split), bad.i) != nil {
			t.Errorf("Prefetch(%s, %d) started a fetch", bad.split, bad.i)
		}
	}
	(*dataset.Prefetched)(nil).Release()
	// An open shard is held the same way until its reader is closed.
	r, err := rd.OpenShard("train", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cachedFile(1)); err != nil {
		t.Fatalf("an open shard is not held in a cache of size 0: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cachedFile(1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a closed shard stayed in a cache of size 0: %v", err)
	}

	keys, err := rd.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys, manifest.FileName) || !slices.Contains(keys, shards[0].Path) {
		t.Errorf("Objects = %v, want the manifest and the shards", keys)
	}
	ld, err := dataset.Open(tinybuild.Build(t, t.TempDir(), "p", spec, "").Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ld.Objects(ctx); err == nil || !strings.Contains(err.Error(), "not on an object store") {
		t.Errorf("Objects of a local version: %v", err)
	}

	// Replace shard 0 by other bytes of its size, shard 1 by a shorter
	// object (uploads of their own, so the store's checksums agree).
	st, err := store.OpenString(ctx, remote.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Get(ctx, shards[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := st.Put(ctx, shards[0].Path, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, shards[1].Path, b[:len(b)-7]); err != nil {
		t.Fatal(err)
	}
	key := func(i int) string { return remote.Dir + "/" + shards[i].Path }
	for i, want := range []string{dataset.FieldSHA256, dataset.FieldBytes} {
		_, err := rd.OpenShard("train", i)
		var se *dataset.ShardError
		if !errors.As(err, &se) || se.Field != want || se.Path != key(i) {
			t.Errorf("replaced shard %d: %v, want a %s error naming %s", i, err, want, key(i))
		}
	}
}

// Resolve follows a dataset prefix's latest object to the version it
// names: a version name of up to 64 characters (a full version hash) is
// accepted, a longer one is not, and a latest object naming a version with
// no manifest is an error saying so, whether the URL names the dataset
// prefix or its latest object.
func TestRemoteResolveLatest(t *testing.T) {
	srv := storetest.Start(t)
	ctx := context.Background()
	st, err := store.OpenString(ctx, srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(key, data string) {
		t.Helper()
		if err := st.Put(ctx, key, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	full := strings.Repeat("c0", 32)
	put("full/latest", full+"\n")
	put("full/"+full+"/"+manifest.FileName, "{}")
	put("long/latest", full+"d")
	put("long/"+full+"d/"+manifest.FileName, "{}")
	put("gone/latest", "v1")
	for _, url := range []string{srv.URL("full"), srv.URL("full/latest")} {
		if got, err := dataset.Resolve(url); err != nil || got != srv.URL("full/"+full) {
			t.Errorf("Resolve(%s) = %s, %v; want %s", url, got, err, srv.URL("full/"+full))
		}
	}
	for url, want := range map[string]string{
		srv.URL("long"):        "does not name a version",
		srv.URL("gone"):        "names version v1, which has no manifest",
		srv.URL("gone/latest"): "names version v1, which has no manifest",
	} {
		if got, err := dataset.Resolve(url); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "latest") {
			t.Errorf("Resolve(%s) = %s, %v; want an error saying %q", url, got, err, want)
		}
	}
}

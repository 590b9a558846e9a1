package data

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

// An epoch streamed from an object store through a small cache yields
// exactly the batches of the same version on local disk, and the cache stays
// within its bound plus the shards in use.
// localAndStore builds the same dataset on local disk and on a store and
// opens both, the store's through a cache in cacheDir with room for one
// shard (shardBytes).
func localAndStore(t *testing.T, cacheDir string) (srv *storetest.Server, ld, rd *Dataset, shardBytes int64) {
	t.Helper()
	srv = storetest.Start(t)
	local := makeDataset(t, t.TempDir(), "a", "")
	remote := makeDataset(t, srv.URL("root"), "a", "")
	ld, err := Open(local)
	if err != nil {
		t.Fatal(err)
	}
	shardBytes = ld.Manifest.Splits[0].Shards[0].Bytes
	rd, err = OpenCached(remote, cacheDir, shardBytes)
	if err != nil {
		t.Fatal(err)
	}
	return srv, ld, rd, shardBytes
}

func TestEpochFromStore(t *testing.T) {
	cacheDir := t.TempDir()
	srv, ld, rd, shardBytes := localAndStore(t, cacheDir)
	if !strings.HasPrefix(rd.Dir, srv.URL("root/a/")) || rd.Manifest.Version != ld.Manifest.Version {
		t.Fatalf("remote version %s at %s, local %s", rd.Manifest.Version, rd.Dir, ld.Manifest.Version)
	}
	opts := Options{BatchSize: 32, Shuffle: true, Seed: 3, Window: 100}
	ll, err := ld.Loader("train", opts)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := rd.Loader("train", opts)
	if err != nil {
		t.Fatal(err)
	}
	for epoch := range 2 {
		want, got := collect(t, ll, epoch), collect(t, rl, epoch)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("epoch %d from the store differs from local disk (%d vs %d rows)", epoch, len(got), len(want))
		}
	}
	entries, _ := os.ReadDir(cacheDir)
	var size int64
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left in the cache: %s", e.Name())
		}
		info, _ := e.Info()
		size += info.Size()
	}
	if size > shardBytes || len(entries) == 0 {
		t.Errorf("cache holds %d bytes in %d files after the epochs, bound %d", size, len(entries), shardBytes)
	}
}

// A split that fits the window is resident from a store too: read once,
// through a cache with room for one shard, the next shard fetched while one
// is read, its epochs those of the local copy.
func TestResidentEpochsFromStore(t *testing.T) {
	_, ld, rd, _ := localAndStore(t, t.TempDir())
	opts := Options{BatchSize: 32, Shuffle: true, Seed: 5}
	ll, _ := ld.Loader("train", opts)
	rl, _ := rd.Loader("train", opts)
	for epoch := range 3 {
		want, got := collect(t, ll, epoch), collect(t, rl, epoch)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("epoch %d from the store differs from local disk (%d vs %d rows)", epoch, len(got), len(want))
		}
		if !rl.resident {
			t.Fatalf("epoch %d: the store's split is not resident", epoch)
		}
	}
}

// A shard replaced on the store after publishing stops the epoch with an
// error naming the object, and the refused bytes are not cached.
func TestEpochFromStoreRefusesReplacedShard(t *testing.T) {
	srv := storetest.Start(t)
	remote := makeDataset(t, srv.URL("root"), "a", "")
	c, err := dataset.NewCache(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(remote, dataset.WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	sh := d.Manifest.Splits[0].Shards[2]
	obj := srv.ObjectPath(strings.TrimPrefix(d.Dir, srv.URL("")+"/") + "/" + sh.Path)
	other := srv.ObjectPath(strings.TrimPrefix(d.Dir, srv.URL("")+"/") + "/" + d.Manifest.Splits[0].Shards[1].Path)
	// Same size, other bytes, through the server (as an overwrite would be).
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != sh.Bytes {
		b, _ = os.ReadFile(obj)
		b[len(b)-10] ^= 1
	}
	st, err := storeAt(d.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(context.Background(), sh.Path, b); err != nil {
		t.Fatal(err)
	}
	l, err := d.Loader("train", Options{BatchSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Epoch(context.Background(), 0, func(*Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), d.Dir+"/"+sh.Path) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("epoch over a replaced shard: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir(), sh.SHA256+".arrow")); err == nil {
		t.Error("the refused shard is in the cache under the manifest's hash")
	}
}

func storeAt(url string) (*store.Store, error) { return store.OpenString(context.Background(), url) }

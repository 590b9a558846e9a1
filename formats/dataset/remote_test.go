package dataset_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
)

func TestRemoteReadAndPrefetch(t *testing.T) {
	srv := storetest.Start(t)
	spec := tinyset.Spec{Train: 200, Test: 40, Side: 4, Seed: 9}
	extra := "split: {seed: 1, val_fraction: 0.2}\nshards: {rows: 50, batch_rows: 20}\n"
	local := tinybuild.Build(t, t.TempDir(), "r", spec, extra)
	remote := tinybuild.Build(t, srv.URL("root"), "r", spec, extra)
	c, err := dataset.NewCache(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := dataset.Resolve(srv.URL("root"))
	if err != nil || dir != remote.Dir {
		t.Fatalf("Resolve = %s, %v; want %s", dir, err, remote.Dir)
	}
	rd, err := dataset.Open(dir, dataset.WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	ld, err := dataset.Open(local.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Remote() || ld.Remote() {
		t.Fatal("Remote")
	}
	// Prefetch puts the shard in the cache before it is opened: the object
	// can then go and the shard still opens.
	sh := rd.Manifest().Splits[0].Shards[2]
	p := rd.Prefetch(context.Background(), "train", 2)
	<-p.Done()
	if _, err := os.Stat(filepath.Join(c.Dir(), sh.SHA256+".arrow")); err != nil {
		t.Fatalf("prefetched shard not in the cache: %v", err)
	}
	if err := os.Remove(srv.ObjectPath(strings.TrimPrefix(dir, srv.URL("")+"/") + "/" + sh.Path)); err != nil {
		t.Fatal(err)
	}
	r, err := rd.OpenShard("train", 2)
	if err != nil {
		t.Fatalf("OpenShard of a prefetched shard: %v", err)
	}
	r.Close()
	p.Release()
	if ld.Prefetch(context.Background(), "train", 0) != nil {
		t.Error("Prefetch of a local version does something")
	}
	// The other splits read the same rows as on local disk.
	for _, split := range []string{"val", "test"} {
		lr, err := ld.ReadSplit(vocab.Split(split))
		if err != nil {
			t.Fatal(err)
		}
		rr, err := rd.ReadSplit(vocab.Split(split))
		if err != nil {
			t.Fatal(err)
		}
		if len(lr.Label) == 0 || string(lr.Label) != string(rr.Label) || len(lr.ImageF32) != len(rr.ImageF32) {
			t.Errorf("%s from the store differs", split)
		}
	}
	m, err := dataset.LoadManifest(srv.URL("root/r/latest"))
	if err != nil || m.Version != remote.Manifest.Version {
		t.Errorf("LoadManifest: %v", err)
	}
	if _, err := dataset.Resolve(srv.URL("nothing")); err == nil || !strings.Contains(err.Error(), "no dataset version here") {
		t.Errorf("Resolve of an empty prefix: %v", err)
	}
}

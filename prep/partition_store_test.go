package prep

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

// Partitioned builds into an object store (partition_stage.go), against a
// real S3 server (versitygw).

// partitionStoreConfig has 10 shards (8 train, 1 val, 1 test) with
// augmented images straddling shards.
func partitionStoreConfig(t *testing.T) *config.Config {
	return writeTiny(t, 120, 30, 6, 6, 11).config(t, partitionConfigs["augmented"])
}

// buildStorePartitions runs partitions I/n for every I not in skip, in turn.
func buildStorePartitions(t *testing.T, cfg *config.Config, out string, n int, skip ...int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if slices.Contains(skip, i) {
			continue
		}
		res, err := BuildPartition(context.Background(), cfg, storeOptions(t, out), Partition{i, n})
		if err != nil {
			t.Fatalf("partition %d/%d: %v", i, n, err)
		}
		if res.UpToDate || res.Published || len(res.Receipt.Shards) == 0 {
			t.Fatalf("partition %d/%d: up to date %v, published %v, %d shards", i, n, res.UpToDate, res.Published, len(res.Receipt.Shards))
		}
	}
}

// storeObjects reads every object under prefix of the test bucket, keyed
// by the rest of its key.
func storeObjects(t *testing.T, srv *storetest.Server, prefix string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range objects(t, srv, prefix) {
		b, err := os.ReadFile(srv.ObjectPath(k))
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(k, prefix)] = b
	}
	return out
}

// storeNothingPublished fails if the version has a manifest or the dataset
// a latest object.
func storeNothingPublished(t *testing.T, srv *storetest.Server, dsPrefix string) {
	t.Helper()
	for _, k := range objects(t, srv, dsPrefix) {
		if path.Base(k) == manifest.FileName || k == dsPrefix+manifest.LatestName {
			t.Errorf("%s exists though nothing may be published", k)
		}
	}
}

func TestPartitionedStoreBuildIsTheOneProcessBuild(t *testing.T) {
	srv := storetest.Start(t)
	cfg := partitionStoreConfig(t)
	ref := build(t, cfg, storeOptions(t, srv.URL("one")))
	want := storeObjects(t, srv, "one/")
	short := ref.Manifest.ShortVersion()

	out := srv.URL("parts")
	buildStorePartitions(t, cfg, out, 3)
	// The partitions uploaded the shards and their receipts, and published nothing.
	staged := objects(t, srv, "parts/")
	storeNothingPublished(t, srv, "parts/tiny/")
	for _, k := range []string{"tiny/" + short + "/.partitions/partition-00000-of-00003.json", "tiny/" + short + "/.partitions/partition-00002-of-00003.json"} {
		if !slices.Contains(staged, "parts/"+k) {
			t.Errorf("no receipt %s among %v", k, staged)
		}
	}
	if _, err := Verify(out + "/tiny/" + short); err == nil {
		t.Error("verify found a version before the commit")
	}

	res, err := Commit(context.Background(), cfg, storeOptions(t, out), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Version != ref.Manifest.Version || res.Dir != out+"/tiny/"+short {
		t.Fatalf("committed %s at %s, want %s", res.Manifest.Version, res.Dir, ref.Manifest.Version)
	}
	// The same objects with the same bytes (the manifests but for created);
	// the receipts are gone.
	got := storeObjects(t, srv, "parts/")
	if len(got) != len(want) {
		t.Errorf("%d objects after the commit, the one-process build has %d: %v", len(got), len(want), objects(t, srv, "parts/"))
	}
	for k, b := range want {
		g, ok := got[k]
		if path.Base(k) == manifest.FileName && ok {
			b, g = dropCreated(t, b), dropCreated(t, g)
		}
		if !ok || !bytes.Equal(b, g) {
			t.Errorf("%s differs from the one-process build (present: %v)", k, ok)
		}
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// A second commit is up to date; a partition run has nothing to do.
	if c, err := Commit(context.Background(), cfg, storeOptions(t, out), 0); err != nil || !c.UpToDate {
		t.Fatalf("second commit: %v", err)
	}
	if p, err := BuildPartition(context.Background(), cfg, storeOptions(t, out), Partition{1, 3}); err != nil || !p.Published {
		t.Fatalf("partition run after the commit: %v", err)
	}
}

func TestStorePartitionRunTwiceIsHarmless(t *testing.T) {
	srv := storetest.Start(t)
	cfg := partitionStoreConfig(t)
	out := srv.URL("root")
	buildStorePartitions(t, cfg, out, 2)
	before := storeObjects(t, srv, "root/")
	p := Partition{0, 2}
	res, err := BuildPartition(context.Background(), cfg, storeOptions(t, out), p)
	if err != nil || !res.UpToDate {
		t.Fatalf("second run: up to date %v, %v", res != nil && res.UpToDate, err)
	}
	opts := storeOptions(t, out)
	opts.Force = true
	if res, err = BuildPartition(context.Background(), cfg, opts, p); err != nil || res.UpToDate {
		t.Fatalf("forced run: up to date %v, %v", res != nil && res.UpToDate, err)
	}
	after := storeObjects(t, srv, "root/")
	if len(after) != len(before) {
		t.Errorf("%d objects after the reruns, %d before", len(after), len(before))
	}
	for k, b := range before {
		if !bytes.Equal(b, after[k]) {
			t.Errorf("a rerun changed %s", k)
		}
	}
	if _, err := Commit(context.Background(), cfg, storeOptions(t, out), 2); err != nil {
		t.Fatal(err)
	}
}

func TestStoreCommitRefusesMissingPartition(t *testing.T) {
	srv := storetest.Start(t)
	cfg := partitionStoreConfig(t)
	out := srv.URL("root")
	buildStorePartitions(t, cfg, out, 3, 1)
	_, err := Commit(context.Background(), cfg, storeOptions(t, out), 0)
	var ce *CommitError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "1 of 3 partitions have no receipt") || !strings.Contains(err.Error(), ": 1/3;") || !strings.Contains(err.Error(), "nothing published") {
		t.Fatalf("commit with partition 1/3 missing: %v", err)
	}
	storeNothingPublished(t, srv, "root/tiny/")
	// The missing partition completes it.
	if _, err := BuildPartition(context.Background(), cfg, storeOptions(t, out), Partition{1, 3}); err != nil {
		t.Fatal(err)
	}
	res, err := Commit(context.Background(), cfg, storeOptions(t, out), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}
}

func TestStoreCommitWithoutAnyPartition(t *testing.T) {
	srv := storetest.Start(t)
	cfg := partitionStoreConfig(t)
	_, err := Commit(context.Background(), cfg, storeOptions(t, srv.URL("root")), 0)
	if err == nil || !strings.Contains(err.Error(), "no partition of tiny version") || !strings.Contains(err.Error(), "--partition I/N") {
		t.Fatalf("commit with nothing built: %v", err)
	}
	storeNothingPublished(t, srv, "root/tiny/")
}

// A shard object deleted, and one overwritten with other bytes of the same
// size, through the S3 API before the commit: the commit names both and
// publishes nothing; the partition's next run rebuilds them.
func TestStoreCommitRefusesDamagedShards(t *testing.T) {
	srv := storetest.Start(t)
	cfg := partitionStoreConfig(t)
	out := srv.URL("root")
	buildStorePartitions(t, cfg, out, 3)
	st, err := store.OpenString(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var receiptKey string
	for _, k := range objects(t, srv, "root/") {
		if strings.HasSuffix(k, "partition-00001-of-00003.json") {
			receiptKey = strings.TrimPrefix(k, "root/")
		}
	}
	data, err := st.Get(ctx, receiptKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseReceipt(data)
	if err != nil {
		t.Fatal(err)
	}
	versionKey := path.Dir(path.Dir(receiptKey))
	overwritten, deleted := r.Shards[0].Path, r.Shards[1].Path
	b, err := st.Get(ctx, versionKey+"/"+overwritten)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := st.Put(ctx, versionKey+"/"+overwritten, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, versionKey+"/"+deleted); err != nil {
		t.Fatal(err)
	}
	_, err = Commit(ctx, cfg, storeOptions(t, out), 0)
	for _, want := range []string{"partition 1/3: shard " + overwritten + ": sha256", "receipt says", "partition 1/3: shard " + deleted + " is missing", "nothing published"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("commit with damaged shards: %v; want it to say %q", err, want)
		}
	}
	storeNothingPublished(t, srv, "root/tiny/")
	res, err := BuildPartition(ctx, cfg, storeOptions(t, out), Partition{1, 3})
	if err != nil || res.UpToDate {
		t.Fatalf("rerun of the damaged partition: up to date %v, %v", res != nil && res.UpToDate, err)
	}
	c, err := Commit(ctx, cfg, storeOptions(t, out), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(c.Dir); err != nil {
		t.Fatal(err)
	}
}

// A partitioned build waiting long for its last partition is no failed
// run to the clean-up every run does; prep gc removes it once stale.
func TestStorePartitionsSurviveCleanup(t *testing.T) {
	srv := storetest.Start(t)
	cfg := partitionStoreConfig(t)
	out := srv.URL("root")
	buildStorePartitions(t, cfg, out, 3, 2)
	old := time.Now().Add(-2 * StaleAfter)
	for _, k := range objects(t, srv, "root/") {
		if err := os.Chtimes(srv.ObjectPath(k), old, old); err != nil {
			t.Fatal(err)
		}
	}
	staged := objects(t, srv, "root/")
	// A one-process build of another version cleans up the dataset first.
	other := writeTiny(t, 60, 20, 6, 6, 3).config(t, tinySplit)
	build(t, other, storeOptions(t, out))
	for _, k := range staged {
		if !slices.Contains(objects(t, srv, "root/"), k) {
			t.Fatalf("the clean-up of another run removed %s", k)
		}
	}
	buildStorePartitions(t, cfg, out, 3, 0, 1)
	if _, err := Commit(context.Background(), cfg, storeOptions(t, out), 3); err != nil {
		t.Fatal(err)
	}

	// An abandoned partitioned build: prep gc removes it.
	cfg2 := writeTiny(t, 120, 30, 6, 6, 12).config(t, partitionConfigs["augmented"])
	buildStorePartitions(t, cfg2, out, 2, 1)
	removed, err := Collect(context.Background(), out, 0, nil)
	if err != nil || len(removed) != 1 {
		t.Fatalf("gc: removed %v, %v; want the abandoned partitioned build", removed, err)
	}
	for _, k := range objects(t, srv, "root/") {
		if strings.HasPrefix(k, strings.TrimPrefix(removed[0], srv.URL("")+"/")) {
			t.Errorf("%s is left after gc", k)
		}
	}
}

package prep

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
	"github.com/shardsmith/shardsmith/stages/download"
)

func storeOptions(t *testing.T, out string) Options {
	return Options{Out: out, Fetcher: download.New(download.WithCacheDir(t.TempDir()), download.WithRetries(0))}
}

// objects lists the keys under prefix in the test bucket.
func objects(t *testing.T, srv *storetest.Server, prefix string) []string {
	t.Helper()
	st, err := store.OpenString(context.Background(), srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	infos, err := st.List(context.Background(), prefix, false)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

func manifestKeys(prefix string, m *manifest.Manifest) []string {
	keys := []string{prefix + manifest.FileName}
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			keys = append(keys, prefix+sh.Path)
		}
	}
	sort.Strings(keys)
	return keys
}

func tinyStoreConfig(t *testing.T) *config.Config {
	return writeTiny(t, 120, 30, 6, 6, 5).config(t, tinySplit)
}

func TestStorePublish(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	local := build(t, cfg, storeOptions(t, t.TempDir()))

	out := srv.URL("datasets")
	res := build(t, cfg, storeOptions(t, out))
	short := res.Manifest.ShortVersion()
	if res.Dir != out+"/tiny/"+short {
		t.Errorf("Dir = %s", res.Dir)
	}
	// The same version and byte-identical shards as the local build.
	if res.Manifest.Version != local.Manifest.Version {
		t.Fatalf("version %s on the store, %s locally", res.Manifest.Version, local.Manifest.Version)
	}
	for i, sp := range res.Manifest.Splits {
		for j, sh := range sp.Shards {
			if want := local.Manifest.Splits[i].Shards[j]; sh.SHA256 != want.SHA256 || sh.Path != want.Path {
				t.Errorf("shard %s: %s, locally %s %s", sh.Path, sh.SHA256, want.Path, want.SHA256)
			}
			b, err := os.ReadFile(srv.ObjectPath("datasets/tiny/" + short + "/" + sh.Path))
			if err != nil {
				t.Fatal(err)
			}
			if lb, _ := os.ReadFile(filepath.Join(local.Dir, sh.Path)); string(b) != string(lb) {
				t.Errorf("object %s differs from the local shard", sh.Path)
			}
		}
	}
	got := objects(t, srv, "datasets/")
	want := append(manifestKeys("datasets/tiny/"+short+"/", res.Manifest), "datasets/tiny/latest")
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("objects:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if b, _ := os.ReadFile(srv.ObjectPath("datasets/tiny/latest")); strings.TrimSpace(string(b)) != short {
		t.Errorf("latest holds %q, want %s", b, short)
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, p := range []string{out, out + "/tiny", out + "/tiny/latest", res.Dir, res.Dir + "/manifest.json"} {
		dir, err := dataset.Resolve(p)
		if err != nil || dir != res.Dir {
			t.Errorf("Resolve(%s) = %s, %v; want %s", p, dir, err, res.Dir)
		}
	}
	again := build(t, cfg, storeOptions(t, out))
	if !again.UpToDate {
		t.Error("a second run rebuilt the version")
	}
	// The staging directory is gone.
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "shardsmith-stage-"+short+"-*")); len(m) > 0 {
		t.Errorf("staging directories left: %v", m)
	}
}

func TestStoreServerStoppedMidUpload(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	out := srv.URL("datasets")
	var once sync.Once
	n := 0
	var mu sync.Mutex
	uploadHook = func(string) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 3 {
			once.Do(srv.Stop)
		}
	}
	uploadWorkers = 1 // in order: two shards are uploaded, then the server stops
	t.Cleanup(func() { uploadHook, uploadWorkers = nil, 4 })
	_, err := Build(context.Background(), cfg, storeOptions(t, out))
	uploadHook = nil
	if err == nil || !strings.Contains(err.Error(), "nothing was published") || !strings.Contains(err.Error(), "s3://data/datasets/tiny/") {
		t.Fatalf("Build with the server stopped: %v, want an error naming the object and saying nothing was published", err)
	}
	srv.Restart()
	keys := objects(t, srv, "datasets/")
	for _, k := range keys {
		if path.Base(k) == manifest.FileName || path.Base(k) == manifest.LatestName {
			t.Fatalf("a failed run published %s (objects: %v)", k, keys)
		}
	}
	if _, err := dataset.Resolve(out + "/tiny"); err == nil || !strings.Contains(err.Error(), "no dataset version here") {
		t.Errorf("a reader found a version after a failed run: %v", err)
	}
	if len(keys) != 2 {
		t.Errorf("objects left by the failed run: %v, want the two shards uploaded before the stop", keys)
	}
	// The next run completes and leaves only the version.
	res := build(t, cfg, storeOptions(t, out))
	short := res.Manifest.ShortVersion()
	want := append(manifestKeys("datasets/tiny/"+short+"/", res.Manifest), "datasets/tiny/latest")
	sort.Strings(want)
	if got := objects(t, srv, "datasets/"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after the next run:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}
}

func TestStoreShardDamagedAfterPublish(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	out := srv.URL("datasets")
	res := build(t, cfg, storeOptions(t, out))
	short := res.Manifest.ShortVersion()
	shards := res.Manifest.Splits[0].Shards
	deleted, replaced := shards[0], shards[1]
	if err := os.Remove(srv.ObjectPath("datasets/tiny/" + short + "/" + deleted.Path)); err != nil {
		t.Fatal(err)
	}
	// Overwritten through the S3 API by bytes of the same size.
	b, err := os.ReadFile(srv.ObjectPath("datasets/tiny/" + short + "/" + replaced.Path))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	st, err := store.OpenString(context.Background(), res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(context.Background(), replaced.Path, b); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(res.Dir)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("verify: %v, want a VerifyError", err)
	}
	probs := map[string]string{}
	for _, p := range ve.Problems {
		probs[p.Path] = p.What
	}
	if probs[deleted.Path] != "missing" || !strings.Contains(probs[replaced.Path], "contents changed") || len(probs) != 2 {
		t.Errorf("verify problems: %v", ve.Problems)
	}
	// A reader refuses both, naming the object.
	c, err := dataset.NewCache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.Open(res.Dir, dataset.WithCache(c)); err == nil || !strings.Contains(err.Error(), res.Dir+"/"+deleted.Path) {
		t.Errorf("Open with a shard deleted: %v", err)
	}
	ds, err := dataset.Load(res.Dir, dataset.WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.OpenShard(res.Manifest.Splits[0].Name, 1)
	var se *dataset.ShardError
	if !errors.As(err, &se) || se.Field != dataset.FieldSHA256 || se.Path != res.Dir+"/"+replaced.Path {
		t.Errorf("OpenShard of a replaced shard: %v", err)
	}
	if c.Size() != 0 {
		t.Errorf("a refused shard stayed in the cache (%d bytes)", c.Size())
	}
	// The next run rebuilds (a shard is missing) and --force repairs the replaced one.
	opts := storeOptions(t, out)
	opts.Force = true
	build(t, cfg, opts)
	if _, err := Verify(res.Dir); err != nil {
		t.Fatalf("after the rebuild: %v", err)
	}
}

func TestStoreCollect(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	out := srv.URL("datasets")
	res := build(t, cfg, storeOptions(t, out))
	st, err := store.OpenString(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Put(ctx, "tiny/0123456789ab/train-00000-of-00002.arrow", []byte("left by a failed run")); err != nil {
		t.Fatal(err)
	}
	// A fresh leftover may be a run still uploading: left alone.
	removed, err := Collect(ctx, out, time.Hour, nil)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Collect with a fresh leftover: %v, %v", removed, err)
	}
	removed, err = Collect(ctx, out, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != out+"/tiny/0123456789ab" {
		t.Errorf("removed %v", removed)
	}
	short := res.Manifest.ShortVersion()
	want := append(manifestKeys("datasets/tiny/"+short+"/", res.Manifest), "datasets/tiny/latest")
	sort.Strings(want)
	if got := objects(t, srv, "datasets/"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after gc:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestOutputSchemeRefused(t *testing.T) {
	cfg := tinyStoreConfig(t)
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	for _, out := range []string{"gs://bucket/x", "s3:bucket/x", "azblob://c/x"} {
		_, err := Build(context.Background(), cfg, storeOptions(t, out))
		if err == nil || !strings.Contains(err.Error(), store.Supported) && !strings.Contains(err.Error(), "looks like a URL") {
			t.Errorf("--out %s: %v", out, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused output left %v", entries)
	}
}

// A bit flipped in the server's own copy: the S3 checksums or the SHA-256
// catch it, and the error names the object.
func TestStoreObjectDamagedOnServer(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	res := build(t, cfg, storeOptions(t, srv.URL("datasets")))
	sh := res.Manifest.Splits[0].Shards[0]
	p := srv.ObjectPath("datasets/tiny/" + res.Manifest.ShortVersion() + "/" + sh.Path)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(res.Dir)
	var ve *VerifyError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != sh.Path {
		t.Fatalf("verify: %v", err)
	}
	t.Log(ve.Problems[0].What)
}

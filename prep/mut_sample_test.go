package prep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/stages/normalize"
)

// A commit whose publish fails at the switch of latest is that error, and
// leaves the dataset directory as it was: no version, no latest, no
// temporary build directory, the staging area kept. The same staging area
// then commits.
func TestCommitFailedPublishLeavesNothing(t *testing.T) {
	cfg, out, _ := stagedSet(t, 3)
	ds := filepath.Join(out, "tiny")
	latest := filepath.Join(ds, manifest.LatestName)
	errInjected := errors.New("injected failure")
	failed := false
	restore := durable.SetTestHook(func(op durable.Op, path string) error {
		if op == durable.OpRename && path == latest && !failed {
			failed = true
			return errInjected
		}
		return nil
	})
	_, err := Commit(context.Background(), cfg, testOptions(t, out), 3)
	restore()
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "publish: pointing "+latest) {
		t.Fatalf("commit with the switch of latest failing: %v", err)
	}
	if _, err := os.Lstat(latest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("latest after the failed commit: %v", err)
	}
	left := leftovers(t, ds)
	if len(left) != 1 || !strings.HasPrefix(left[0], stagingPrefix) {
		t.Errorf("the dataset directory holds %v after the failed commit; want only the staging area", left)
	}
	res, err := Commit(context.Background(), cfg, testOptions(t, out), 3)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(latest); err != nil || l != res.Manifest.ShortVersion() {
		t.Errorf("latest is %q, %v; want %s", l, err, res.Manifest.ShortVersion())
	}
	if left := leftovers(t, ds); len(left) != 1 || left[0] != res.Manifest.ShortVersion() {
		t.Errorf("the dataset directory holds %v after the commit; want only the version", left)
	}
}

// A file that does not decode fails the build with its path whether or not
// the decoded rows are kept between the passes (maxSpill 0: decoded twice),
// and the failed build leaves nothing.
func TestImageTreeBadFileWithoutACopy(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 5, "dog": 5})
	imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 2, "dog": 2})
	bad := filepath.Join(dir, "train", "cat", "003.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int64{maxSpill, 0} {
		saved := maxSpill
		maxSpill = limit
		out := t.TempDir()
		_, err := Build(context.Background(), treeConfig(t, dir, ""), testOptions(t, out))
		maxSpill = saved
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "not a decodable image") {
			t.Fatalf("maxSpill %d: err = %v, want it to name %s and why", limit, err, bad)
		}
		if l := leftovers(t, filepath.Join(out, "pets")); len(l) != 0 {
			t.Fatalf("maxSpill %d: a failed build left %v", limit, l)
		}
	}
}

// An upload the store does not hold whole (here the staged shard shrinks
// between its build and its upload) fails the build with the object's URL
// and both sizes, and nothing is published.
func TestStoreUploadShorterThanTheShard(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var once sync.Once
	var want string
	uploadHook = func(key string) {
		once.Do(func() {
			staged, err := filepath.Glob(filepath.Join(tmp, "shardsmith-stage-*", path.Base(key)))
			if err != nil || len(staged) != 1 {
				t.Errorf("the staged shard of %s: %v, %v", key, staged, err)
				return
			}
			fi, err := os.Stat(staged[0])
			if err != nil {
				t.Error(err)
				return
			}
			if err := os.Truncate(staged[0], fi.Size()/2); err != nil {
				t.Error(err)
			}
			want = fmt.Sprintf("%s: the store holds %d bytes, %d were uploaded", srv.URL("datasets/"+key), fi.Size()/2, fi.Size())
		})
	}
	t.Cleanup(func() { uploadHook = nil })
	_, err := Build(context.Background(), cfg, storeOptions(t, srv.URL("datasets")))
	uploadHook = nil
	if want == "" {
		t.Fatal("no shard was uploaded")
	}
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was published") {
		t.Fatalf("Build with a shard shrunk before its upload: %v, want %q", err, want)
	}
	for _, k := range objects(t, srv, "datasets/") {
		if path.Base(k) == manifest.FileName || path.Base(k) == manifest.LatestName {
			t.Fatalf("a failed run published %s", k)
		}
	}
}

// A run that finds its version published and latest naming it does not
// write latest again; latest naming another version is pointed back.
func TestStoreUpToDateRunLeavesLatest(t *testing.T) {
	srv := storetest.Start(t)
	cfg := tinyStoreConfig(t)
	out := srv.URL("datasets")
	res := build(t, cfg, storeOptions(t, out))
	p := srv.ObjectPath("datasets/tiny/" + manifest.LatestName)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	again := build(t, cfg, storeOptions(t, out))
	if !again.UpToDate {
		t.Fatal("the second run rebuilt the version")
	}
	if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("latest was written by an up-to-date run (%v)", err)
	}
	if err := os.WriteFile(p, []byte("000000000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build(t, cfg, storeOptions(t, out))
	if b, err := os.ReadFile(p); err != nil || string(b) != res.Manifest.ShortVersion()+"\n" {
		t.Errorf("latest holds %q, %v; want %s", b, err, res.Manifest.ShortVersion())
	}
}

// An image tree's computed mean/std are those of the train split's images,
// not of the val images carved from the same folder, and come from the
// content pass.
func TestImageTreeStatsAreTheTrainSplits(t *testing.T) {
	dir := t.TempDir()
	train := imageTree(t, filepath.Join(dir, "train"), 7, map[string]int{"cat": 12, "dog": 10})
	imageTree(t, filepath.Join(dir, "test"), 8, map[string]int{"cat": 2, "dog": 2})
	cfg := treeConfig(t, dir, "")
	cfg.Normalize.Mode = vocab.NormalizeCompute
	opts := testOptions(t, t.TempDir())
	var logs []string
	opts.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	res := build(t, cfg, opts)
	// Without skipped files the content pass's statistics are used: no
	// separate pass over the train images.
	if l := strings.Join(logs, "\n"); strings.Contains(l, "computing mean/std") {
		t.Errorf("a second pass computed the statistics:\n%s", l)
	}
	rows := readSplit(t, res.Dir, res, vocab.Train)
	if n := len(readSplit(t, res.Dir, res, vocab.Val).SourcePath); n == 0 || rows.Len() == 0 {
		t.Fatalf("%d train and %d val rows; want both", rows.Len(), n)
	}
	hist := normalize.NewHistograms(1)
	for _, rel := range rows.SourcePath {
		hist.Add(train[rel])
	}
	mean, std, err := hist.MeanStd()
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Manifest; !m.Normalize.Mean.Equal(mean) || !m.Normalize.Std.Equal(std) {
		t.Fatalf("manifest mean/std %v/%v, the train split's images have %v/%v", m.Normalize.Mean, m.Normalize.Std, mean, std)
	}
}

// Augment ops are checked when copies are made; with copies 0 they change
// nothing, so ops augment would refuse do not stop the build, which is the
// build of the config without them.
func TestOpsWithoutCopiesAreNotChecked(t *testing.T) {
	ts := writeTiny(t, 60, 20, 6, 6, 3)
	ops := "  ops:\n    - rotat: {degrees: 3}\n"
	if _, err := Build(context.Background(), ts.config(t, tinySplit+"augment:\n  copies: 1\n"+ops), testOptions(t, t.TempDir())); err == nil || !strings.Contains(err.Error(), `unknown op "rotat"`) {
		t.Fatalf("copies 1 with an unknown op: %v", err)
	}
	res := build(t, ts.config(t, tinySplit+"augment:\n  copies: 0\n"+ops), testOptions(t, t.TempDir()))
	plain := build(t, ts.config(t, tinySplit), testOptions(t, t.TempDir()))
	if res.Manifest.Version != plain.Manifest.Version {
		t.Fatalf("version %s with ops and copies 0, %s without ops", res.Manifest.ShortVersion(), plain.Manifest.ShortVersion())
	}
}

// A build from two tar.gz archives (train and test each in its own) closes
// both decompressed copies: a process that builds many versions does not
// run out of files. Linux only (it reads /proc/self/fd).
func TestArchivesClosedAfterTheBuild(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "tree", "train"), 1, map[string]int{"cat": 4, "dog": 4})
	imageTree(t, filepath.Join(dir, "tree", "test"), 2, map[string]int{"cat": 2, "dog": 2})
	mirror := filepath.Join(dir, "mirror")
	if err := os.MkdirAll(mirror, 0o755); err != nil {
		t.Fatal(err)
	}
	y := "dataset: pets\nmirrors: [" + mirror + "]\nsources:\n"
	for _, s := range []struct{ split, prefix string }{{"train", "ds"}, {"test", "dt"}} {
		data, err := tinyset.Pack(filepath.Join(dir, "tree"), s.prefix, tinyset.TarGz)
		if err != nil {
			t.Fatal(err)
		}
		writeBytes(t, filepath.Join(mirror, s.split+".tar.gz"), data)
		y += fmt.Sprintf("  %s: {archive: %s.tar.gz, sha256: %s, imagefolder: %s/%s}\n", s.split, s.split, sha(data), s.prefix, s.split)
	}
	y += "image: {height: 6, width: 5, channels: 1}\nsplit: {seed: 3, val_fraction: 0.25}\nshards: {rows: 7}\nnormalize: {mode: none}\n"
	cfg, err := config.Parse([]byte(y), "pets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	open := func() map[string]string {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		fds := map[string]string{}
		for _, e := range entries {
			target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
			fds[e.Name()] = target
		}
		return fds
	}
	build(t, cfg, testOptions(t, t.TempDir())) // the runtime's own files, opened once
	before := open()
	res := build(t, cfg, testOptions(t, t.TempDir()))
	if len(res.Manifest.Sources) != 2 {
		t.Fatalf("sources %+v", res.Manifest.Sources)
	}
	for fd, target := range open() {
		if _, ok := before[fd]; !ok && (strings.HasPrefix(target, filepath.Dir(dir)) || strings.HasSuffix(target, " (deleted)")) {
			t.Errorf("file %s (fd %s) still open after the build", target, fd)
		}
	}
}

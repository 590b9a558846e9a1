package prep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
)

// stagingArea is where the partitions of a version put their shards and
// receipts until the commit publishes them. BuildPartition and Commit have
// one code path over it; the two kinds differ only in how a shard gets to
// where it is published:
//
//   - localStaging, a directory beside the version on local disk (see
//     partition_run.go): shards are renamed into it and, at the commit,
//     linked into the new version's directory, published by one rename;
//   - storeStaging, on an object store, which has no rename: each
//     partition uploads its shards straight to their final keys under the
//     version's prefix, and its receipt to VERSION/.partitions/; the
//     commit verifies them in place and uploads the manifest (the commit
//     point), then latest, then removes the receipts.
type stagingArea interface {
	// where names the area, and receiptLoc the receipt of p, for messages.
	where() string
	receiptLoc(p Partition) string
	// lockPartition serializes the runs of partition p (a no-op on a store).
	lockPartition(ctx context.Context, p Partition, logf func(string, ...any)) (unlock func(), err error)
	// cleanRuns removes what interrupted runs of p left.
	cleanRuns(p Partition, logf func(string, ...any))
	// newRun makes the local directory a run of p writes its shards in.
	newRun(p Partition) (string, error)
	// putShards puts the shards built in dir into the area, each whole.
	putShards(ctx context.Context, dir string, shards []manifest.Shard) error
	// putReceipt writes the receipt of p, after its shards.
	putReceipt(ctx context.Context, p Partition, data []byte) error
	// readReceipt reads the receipt of p (an error matching fs.ErrNotExist
	// when there is none).
	readReceipt(ctx context.Context, p Partition) ([]byte, error)
	// receiptNames lists the names of the receipts there (an error
	// matching fs.ErrNotExist when no partition has started).
	receiptNames(ctx context.Context) ([]string, error)
	// verify checks that shard sh is in the area with its size and SHA-256.
	verify(ctx context.Context, sh manifest.Shard) error
	// lockAll takes every partition's lock for the commit, failing if one
	// is still running (a no-op on a store).
	lockAll(ctx context.Context) (release func(), err error)
	// begin starts publishing the version from the area.
	begin(ctx context.Context) (committer, error)
	// remove removes the area once the version is published.
	remove(ctx context.Context, logf func(string, ...any))
}

// committer publishes a version from a staging area.
type committer interface {
	// add checks shard sh (size and SHA-256) where it will be published.
	add(ctx context.Context, sh manifest.Shard) error
	// publish writes the manifest (the commit point) and points latest at
	// the version.
	publish(ctx context.Context, m *manifest.Manifest) error
	// discard removes what begin and add made, unless published.
	discard()
}

// stagingArea is the staging area of the target's version.
func (t *target) stagingArea() stagingArea {
	if d, ok := t.dst.(*storeDest); ok {
		return &storeStaging{d: d, short: t.short}
	}
	return &localStaging{dir: filepath.Join(t.dsDir, stagingPrefix+t.short), dsDir: t.dsDir, final: t.final, short: t.short}
}

// shardMismatch compares a shard's size and SHA-256 with its entry; name
// names it in the error.
func shardMismatch(name string, want manifest.Shard, size int64, sum string) error {
	if size != want.Bytes {
		return fmt.Errorf("shard %s: size %d bytes, receipt says %d (truncated or replaced)", name, size, want.Bytes)
	}
	if sum != want.SHA256 {
		return fmt.Errorf("shard %s: sha256 %s, receipt says %s (contents changed)", name, sum, want.SHA256)
	}
	return nil
}

// localStaging is OUT/DATASET/.partitions-SHORT (partition_run.go).
type localStaging struct {
	dir, dsDir, final, short string
}

func (a *localStaging) where() string                 { return a.dir }
func (a *localStaging) receiptLoc(p Partition) string { return filepath.Join(a.dir, receiptName(p)) }

func (a *localStaging) lockPartition(ctx context.Context, p Partition, logf func(string, ...any)) (func(), error) {
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		return nil, fmt.Errorf("staging area: %w", err)
	}
	l, err := durable.LockWait(ctx, filepath.Join(a.dir, partitionLockName(p)), func() {
		logf("another run of partition %s is building in %s; waiting for it to finish", p, a.dir)
	})
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

func (a *localStaging) cleanRuns(p Partition, logf func(string, ...any)) {
	leftovers, _ := filepath.Glob(filepath.Join(a.dir, runPrefix(p)+"*"))
	for _, l := range leftovers {
		logf("removing %s left by an interrupted run of partition %s", l, p)
		os.RemoveAll(l)
	}
}

func (a *localStaging) newRun(p Partition) (string, error) {
	tmp, err := os.MkdirTemp(a.dir, runPrefix(p))
	if err != nil {
		return "", fmt.Errorf("staging area: %w", err)
	}
	return tmp, nil
}

// putShards renames the shards (fsynced by the writer) into the area.
func (a *localStaging) putShards(_ context.Context, dir string, shards []manifest.Shard) error {
	for _, sh := range shards {
		if err := os.Rename(filepath.Join(dir, sh.Path), filepath.Join(a.dir, sh.Path)); err != nil {
			return fmt.Errorf("staging area: %w", err)
		}
	}
	if err := durable.SyncDir(a.dir); err != nil {
		return fmt.Errorf("staging area: %w", err)
	}
	return nil
}

func (a *localStaging) putReceipt(_ context.Context, p Partition, data []byte) error {
	if err := durable.WriteFile(a.receiptLoc(p), data, 0o644); err != nil {
		return fmt.Errorf("partition receipt: %w", err)
	}
	return nil
}

func (a *localStaging) readReceipt(_ context.Context, p Partition) ([]byte, error) {
	return os.ReadFile(a.receiptLoc(p))
}

func (a *localStaging) receiptNames(context.Context) ([]string, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

func (a *localStaging) verify(_ context.Context, sh manifest.Shard) error {
	return verifyShardFile(filepath.Join(a.dir, sh.Path), sh)
}

// lockAll takes the lock of every partition found in the area without
// waiting: a partition still running holds its lock, and the commit must
// not publish, or remove, what it is writing.
func (a *localStaging) lockAll(context.Context) (func(), error) {
	locks, _ := filepath.Glob(filepath.Join(a.dir, ".partition-*.lock"))
	var held []*durable.Lock
	release := func() {
		for _, l := range held {
			l.Unlock()
		}
	}
	for _, path := range locks {
		l, err := durable.TryLock(path)
		if err != nil {
			release()
			if errors.Is(err, durable.ErrLocked) {
				name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), ".partition-"), ".lock")
				return nil, &CommitError{Dir: a.dir, Problems: []string{fmt.Sprintf("partition %s is still running (it holds %s); commit when it has finished", name, path)}}
			}
			return nil, err
		}
		held = append(held, l)
	}
	return release, nil
}

func (a *localStaging) remove(ctx context.Context, logf func(string, ...any)) {
	if _, err := os.Stat(a.dir); err != nil {
		return
	}
	release, err := a.lockAll(ctx)
	if err != nil {
		return // a partition is running: its next run finds the version published
	}
	defer release()
	if err := os.RemoveAll(a.dir); err != nil {
		logf("removing the staging area %s: %v", a.dir, err)
	}
}

// localCommit builds the version in a temporary directory beside it, each
// shard linked (or copied) from the area and verified there, so that what
// is published is what was verified, and publishes it by one rename.
type localCommit struct {
	a         *localStaging
	tmp       string
	published bool
}

func (a *localStaging) begin(context.Context) (committer, error) {
	tmp, err := os.MkdirTemp(a.dsDir, ".tmp-"+a.short+"-")
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("output directory: %w", err)
	}
	return &localCommit{a: a, tmp: tmp}, nil
}

func (c *localCommit) add(_ context.Context, sh manifest.Shard) error {
	dst := filepath.Join(c.tmp, sh.Path)
	if err := linkOrCopy(filepath.Join(c.a.dir, sh.Path), dst); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("shard %s is missing", sh.Path)
		}
		return err
	}
	if err := verifyShardFile(dst, sh); err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), dst, sh.Path))
	}
	return nil
}

func (c *localCommit) publish(_ context.Context, m *manifest.Manifest) error {
	if err := writeManifest(c.tmp, m); err != nil {
		return err
	}
	if err := publish(c.tmp, c.a.final, c.a.dsDir); err != nil {
		return err
	}
	c.published = true
	return setLatest(c.a.dsDir, c.a.short)
}

func (c *localCommit) discard() {
	if !c.published {
		os.RemoveAll(c.tmp)
	}
}

// storeStaging is the version's own prefix on a store:
//
//	ROOT/DATASET/VERSION/train-00000-of-00006.arrow          the shards, at their final keys
//	ROOT/DATASET/VERSION/.partitions/partition-00002-of-00007.json   the receipts
//
// A prefix without manifest.json is no version to any reader, and the
// clean-up a run does on a store leaves a prefix holding receipts alone (a
// partitioned build may wait long for its last partition); prep gc removes
// it once nothing was written to it for --min-age. A shard upload becomes
// visible only when whole, and a partition uploads its receipt after its
// shards, so a receipt lists only shards that were uploaded whole. Shards
// of one version have the same bytes whichever run wrote them: two runs of
// one partition, which no lock keeps apart on a store, upload the same
// objects.
type storeStaging struct {
	d     *storeDest
	short string
}

// receiptsDir is the sub-prefix of a version that holds the receipts.
const receiptsDir = ".partitions"

func (a *storeStaging) receiptKey(p Partition) string {
	return a.d.key(a.short, receiptsDir, receiptName(p))
}

func (a *storeStaging) where() string                 { return a.d.final(a.short) }
func (a *storeStaging) receiptLoc(p Partition) string { return a.d.st.URL(a.receiptKey(p)) }

// runName is the start of the name of the local directories where runs of
// partition p build their shards before uploading them.
func (a *storeStaging) runName(p Partition) string {
	return "shardsmith-partition-" + a.short + "-" + strings.TrimSuffix(runPrefix(p)[1:], "-")
}

// lockPartition takes a lock in the local temporary directory: it keeps two
// runs of p on one machine apart, so that cleanRuns removes only what a
// killed run left there. Runs on different machines are not kept apart;
// they upload the same objects.
func (a *storeStaging) lockPartition(ctx context.Context, p Partition, logf func(string, ...any)) (func(), error) {
	l, err := durable.LockWait(ctx, filepath.Join(os.TempDir(), a.runName(p)+".lock"), func() {
		logf("another run of partition %s is building on this machine; waiting for it to finish", p)
	})
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// cleanRuns removes the local build directories of killed runs of p. On
// the store an upload a killed run left unfinished is not visible, and a
// shard it finished is replaced by the same bytes.
func (a *storeStaging) cleanRuns(p Partition, logf func(string, ...any)) {
	leftovers, _ := filepath.Glob(filepath.Join(os.TempDir(), a.runName(p)+"-*"))
	for _, l := range leftovers {
		logf("removing %s left by an interrupted run of partition %s", l, p)
		os.RemoveAll(l)
	}
}

func (a *storeStaging) newRun(p Partition) (string, error) {
	tmp, err := os.MkdirTemp("", a.runName(p)+"-")
	if err != nil {
		return "", fmt.Errorf("staging directory: %w", err)
	}
	return tmp, nil
}

func (a *storeStaging) putShards(ctx context.Context, dir string, shards []manifest.Shard) error {
	if err := a.d.putShards(ctx, dir, a.short, shards); err != nil {
		return fmt.Errorf("uploading the partition's shards: %w", err)
	}
	return nil
}

func (a *storeStaging) putReceipt(ctx context.Context, p Partition, data []byte) error {
	if err := a.d.st.Put(ctx, a.receiptKey(p), data); err != nil {
		return fmt.Errorf("partition receipt: %w", err)
	}
	return nil
}

func (a *storeStaging) readReceipt(ctx context.Context, p Partition) ([]byte, error) {
	return a.d.st.Get(ctx, a.receiptKey(p))
}

func (a *storeStaging) receiptNames(ctx context.Context) ([]string, error) {
	prefix := a.d.key(a.short, receiptsDir) + "/"
	objs, err := a.d.st.List(ctx, prefix, false)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, &fs.PathError{Op: "list", Path: a.d.st.URL(prefix), Err: fs.ErrNotExist}
	}
	var names []string
	for _, o := range objs {
		names = append(names, path.Base(o.Key))
	}
	return names, nil
}

// verify downloads the shard object and hashes it. Neither the size nor
// the store's own checksums (an ETag is no SHA-256, and is not even an MD5
// for multipart uploads) tell an object overwritten with other bytes of
// the same size from the one the receipt describes: only its bytes do.
func (a *storeStaging) verify(ctx context.Context, sh manifest.Shard) error {
	key := a.d.key(a.short, sh.Path)
	info, err := a.d.st.Stat(ctx, key)
	if err == nil && info.Size != sh.Bytes {
		return shardMismatch(sh.Path, sh, info.Size, "")
	}
	var n int64
	var sum string
	if err == nil {
		n, sum, err = a.d.st.Download(ctx, key, io.Discard)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("shard %s is missing", sh.Path)
	}
	if err != nil {
		return fmt.Errorf("shard %s: %w", sh.Path, err)
	}
	return shardMismatch(sh.Path, sh, n, sum)
}

func (a *storeStaging) lockAll(context.Context) (func(), error) { return func() {}, nil }

// remove deletes the receipts; the shards are the version's.
func (a *storeStaging) remove(ctx context.Context, logf func(string, ...any)) {
	prefix := a.d.key(a.short, receiptsDir) + "/"
	if err := a.d.st.DeletePrefix(ctx, prefix); err != nil {
		logf("removing the partition receipts %s: %v", a.d.st.URL(prefix), err)
	}
}

// storeCommit verifies the shards where they already are: under the
// version's prefix.
type storeCommit struct{ a *storeStaging }

func (a *storeStaging) begin(context.Context) (committer, error) { return storeCommit{a}, nil }

func (c storeCommit) add(ctx context.Context, sh manifest.Shard) error { return c.a.verify(ctx, sh) }

func (c storeCommit) publish(ctx context.Context, m *manifest.Manifest) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	return c.a.d.commit(ctx, c.a.short, data, false)
}

func (c storeCommit) discard() {}

// addAll runs c.add on every shard of the receipts, uploadWorkers at a
// time (on a store each is a download), and returns the problems found in
// receipt and shard order.
func addAll(ctx context.Context, c committer, receipts []*Receipt) []string {
	type job struct {
		r  *Receipt
		sh ReceiptShard
	}
	var jobs []job
	for _, r := range receipts {
		for _, sh := range r.Shards {
			jobs = append(jobs, job{r, sh})
		}
	}
	errs := make([]error, len(jobs))
	var eg errgroup.Group
	eg.SetLimit(uploadWorkers)
	for i, j := range jobs {
		eg.Go(func() error {
			errs[i] = c.add(ctx, j.sh.Shard) // each its own slot
			return nil
		})
	}
	eg.Wait()
	var probs []string
	for i, err := range errs {
		if err != nil {
			probs = append(probs, fmt.Sprintf("partition %d/%d: %v", jobs[i].r.Partition, jobs[i].r.Partitions, err))
		}
	}
	return probs
}

// collectStaging removes the local staging areas of a dataset directory
// that no run will use again (prep gc): one whose version is published (a
// commit leaves it only when a partition held its lock), and one nothing
// has been written to for minAge (partitions never committed). An area a
// partition is building in is left alone: its lock is held.
func collectStaging(dsDir string, minAge time.Duration, logf func(string, ...any)) error {
	areas, err := filepath.Glob(filepath.Join(dsDir, stagingPrefix+"*"))
	if err != nil {
		return err
	}
	for _, dir := range areas {
		short := strings.TrimPrefix(filepath.Base(dir), stagingPrefix)
		_, err := os.Stat(filepath.Join(dsDir, short, manifest.FileName))
		published := err == nil
		if !published {
			newest, err := newestModTime(dir)
			if err != nil {
				return fmt.Errorf("staging area %s: %w", dir, err)
			}
			if time.Since(newest) < minAge {
				continue
			}
		}
		a := &localStaging{dir: dir, dsDir: dsDir, short: short}
		release, err := a.lockAll(context.Background())
		if err != nil {
			continue // a partition is running in it
		}
		why := "its version is published"
		if !published {
			why = "not written to for " + minAge.String() + " and never committed"
		}
		logf("removing %s: %s", dir, why)
		err = os.RemoveAll(dir)
		release()
		if err != nil {
			return fmt.Errorf("removing staging area %s: %w", dir, err)
		}
	}
	return nil
}

// newestModTime is the latest modification time of dir and everything in it.
func newestModTime(dir string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	return newest, err
}

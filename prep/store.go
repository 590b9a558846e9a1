package prep

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/store"
)

// Publishing on an object store, which has no rename:
//
//	ROOT/DATASET/VERSION/{shards}        uploaded first, each visible once whole
//	ROOT/DATASET/VERSION/manifest.json   uploaded last: the commit point
//	ROOT/DATASET/latest                  a small object holding VERSION, written after the manifest
//
// A version prefix without manifest.json does not exist for any reader
// (formats/dataset resolves versions through latest and manifests only);
// what a failed run left there is removed by the next run of that version
// before it uploads, and by Collect (prep gc) for versions never rebuilt.
// There is no lock on a store: two runs writing one dataset prefix at once
// are not supported (they would write the same bytes, but one may remove
// what the other uploaded before its manifest is written).

// uploadWorkers bounds the concurrent shard uploads.
var uploadWorkers = 4

type storeDest struct {
	st      *store.Store // the output root
	dataset string
}

func openStoreDest(ctx context.Context, loc store.Location, dataset string) (*storeDest, error) {
	st, err := store.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	d := &storeDest{st: st, dataset: dataset}
	// A probe object: wrong credentials, a missing bucket or a server that
	// is down fail here, before any download or build. It is tried three
	// times: partitions started at once probe the same prefix together, and
	// a server that keeps directories (versitygw's posix backend) can refuse
	// one probe while another's delete removes their common directory.
	probe := path.Join(dataset, fmt.Sprintf(".probe-%d-%d", os.Getpid(), time.Now().UnixNano()))
	for try := 1; try <= 3; try++ {
		if err = st.Put(ctx, probe, nil); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try) * 100 * time.Millisecond)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("output %s is not writable: %w", loc.Join(dataset), err)
	}
	st.Delete(ctx, probe)
	return d, nil
}

func (d *storeDest) key(elem ...string) string {
	return path.Join(append([]string{d.dataset}, elem...)...)
}

func (d *storeDest) final(short string) string { return d.st.URL(d.key(short)) }

func (d *storeDest) lock(context.Context, func(string, ...any)) (func(), error) {
	return func() {}, nil
}

// cleanup removes what failed runs left under versions without a manifest
// that have not been written to for StaleAfter (a run in progress keeps its
// prefix fresh). It leaves a partitioned build's prefix alone however old
// (partition_stage.go): its last partition may come long after the others.
func (d *storeDest) cleanup(ctx context.Context, logf func(string, ...any)) {
	collectDataset(ctx, d.st, d.dataset, StaleAfter, true, logf)
}

func (d *storeDest) current(ctx context.Context, short, version string) (*manifest.Manifest, bool) {
	data, err := d.st.Get(ctx, d.key(short, manifest.FileName))
	if err != nil {
		return nil, false
	}
	m, err := manifest.Parse(data)
	if err != nil || m.Version != version {
		return nil, false
	}
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			if info, err := d.st.Stat(ctx, d.key(short, sh.Path)); err != nil || info.Size != sh.Bytes {
				return nil, false
			}
		}
	}
	return m, true
}

func (d *storeDest) setLatest(ctx context.Context, short string) error {
	key := d.key(manifest.LatestName)
	if cur, err := d.st.Get(ctx, key); err == nil && strings.TrimSpace(string(cur)) == short {
		return nil
	}
	if err := d.st.Put(ctx, key, []byte(short+"\n")); err != nil {
		return fmt.Errorf("latest: %w", err)
	}
	return nil
}

func (d *storeDest) staging(short string) (string, error) {
	tmp, err := os.MkdirTemp("", "shardsmith-stage-"+short+"-")
	if err != nil {
		return "", fmt.Errorf("staging directory: %w", err)
	}
	return tmp, nil
}

func (d *storeDest) publish(ctx context.Context, tmp, short string, m *manifest.Manifest) error {
	defer os.RemoveAll(tmp)
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	rebuild, err := d.clearUnpublished(ctx, short)
	if err != nil {
		return err
	}
	var shards []manifest.Shard
	for _, sp := range m.Splits {
		shards = append(shards, sp.Shards...)
	}
	if err := d.putShards(ctx, tmp, short, shards); err != nil {
		return fmt.Errorf("publish: %w (nothing was published)", err)
	}
	return d.commit(ctx, short, data, rebuild)
}

// clearUnpublished removes what a failed run of version short left (it has
// no manifest: it was never published), so the version will hold only what
// this run uploads. It reports whether the version is published already (a
// rebuild with --force, whose shards are replaced by identical bytes).
func (d *storeDest) clearUnpublished(ctx context.Context, short string) (published bool, err error) {
	prefix := d.key(short) + "/"
	_, err = d.st.Stat(ctx, prefix+manifest.FileName)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("publish: %w", err)
	}
	if err := d.st.DeletePrefix(ctx, prefix); err != nil {
		return false, fmt.Errorf("publish: removing what a failed run left: %w", err)
	}
	return false, nil
}

// putShards uploads the staged shards (files in dir named by their Path)
// under the version's prefix, uploadWorkers at a time, each checked for its
// size on the store. It publishes nothing: a partitioned build uploads its
// part this way and a commit step writes the manifest.
func (d *storeDest) putShards(ctx context.Context, dir, short string, shards []manifest.Shard) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(uploadWorkers)
	for _, sh := range shards {
		eg.Go(func() error {
			return d.upload(ectx, filepath.Join(dir, sh.Path), d.key(short, sh.Path), sh.Bytes)
		})
	}
	return eg.Wait()
}

// commit uploads the manifest — the commit point: from now on the version
// exists — and then points latest at the version. If latest cannot be
// written the manifest of a new version is deleted again, as the local
// publish moves a version back out of sight.
func (d *storeDest) commit(ctx context.Context, short string, manifestData []byte, rebuild bool) error {
	key := d.key(short, manifest.FileName)
	if err := d.st.Put(ctx, key, manifestData); err != nil {
		return fmt.Errorf("publish: %w (nothing was published)", err)
	}
	if err := d.setLatest(ctx, short); err != nil {
		if !rebuild {
			d.st.Delete(ctx, key)
		}
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// uploadHook, when set, is called before each shard upload (tests stop the
// server in the middle of a publish).
var uploadHook func(key string)

// upload puts one staged shard and checks that the store holds all of it.
func (d *storeDest) upload(ctx context.Context, src, key string, size int64) error {
	if uploadHook != nil {
		uploadHook(key)
	}
	if err := d.st.PutFile(ctx, key, src); err != nil {
		return err
	}
	info, err := d.st.Stat(ctx, key)
	if err != nil {
		return err
	}
	if info.Size != size {
		return fmt.Errorf("%s: the store holds %d bytes, %d were uploaded", d.st.URL(key), info.Size, size)
	}
	return nil
}

func (d *storeDest) close() { d.st.Close() }

// StaleAfter is how long a version prefix without a manifest must have been
// left alone before a run or Collect removes it: long enough that a build
// still uploading into it is never taken for a failed one.
var StaleAfter = time.Hour

// Collect removes what failed or interrupted runs left under an output root
// (prep gc): on local disk the temporary directories of every dataset; on a
// store every version prefix without a manifest not written to for
// minAge, a partitioned build's included. It returns what it removed.
func Collect(ctx context.Context, out string, minAge time.Duration, logf func(string, ...any)) ([]string, error) {
	loc, err := store.Parse(out)
	if err != nil {
		return nil, err
	}
	var removed []string
	log := func(format string, a ...any) {
		removed = append(removed, fmt.Sprint(a[0]))
		if logf != nil {
			logf(format, a...)
		}
	}
	if loc.Local() {
		entries, err := os.ReadDir(loc.Path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				dsDir := filepath.Join(loc.Path, e.Name())
				l, err := lockDir(ctx, dsDir, func(string, ...any) {})
				if err != nil {
					return removed, err
				}
				removeStale(dsDir, log)
				l()
				if err := collectStaging(dsDir, minAge, log); err != nil {
					return removed, err
				}
			}
		}
		return removed, nil
	}
	st, err := store.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	datasets, err := st.List(ctx, "", true)
	if err != nil {
		return nil, err
	}
	for _, ds := range datasets {
		if ds.IsDir {
			if err := collectDataset(ctx, st, strings.TrimSuffix(ds.Key, "/"), minAge, false, log); err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}

// collectDataset removes the unpublished version prefixes of one dataset
// that are older than minAge; with keepPartitions, not those holding
// partition receipts.
func collectDataset(ctx context.Context, st *store.Store, dataset string, minAge time.Duration, keepPartitions bool, logf func(string, ...any)) error {
	versions, err := st.List(ctx, dataset+"/", true)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if !v.IsDir {
			continue
		}
		if _, err := st.Stat(ctx, v.Key+manifest.FileName); err == nil || !errors.Is(err, fs.ErrNotExist) {
			continue // published (or the store cannot tell: leave it)
		}
		objs, err := st.List(ctx, v.Key, false)
		if err != nil {
			return err
		}
		fresh := false
		for _, o := range objs {
			fresh = fresh || time.Since(o.ModTime) < minAge ||
				keepPartitions && strings.HasPrefix(o.Key, v.Key+receiptsDir+"/")
		}
		if fresh || len(objs) == 0 {
			continue
		}
		if logf != nil {
			logf("removing %s left by a failed run", st.URL(v.Key))
		}
		if err := st.DeletePrefix(ctx, v.Key); err != nil {
			return err
		}
	}
	return nil
}

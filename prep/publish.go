package prep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/shardsmith/shardsmith/formats/manifest"
)

// LatestName is the symbolic link in a dataset directory naming the newest version.
const LatestName = "latest"

// checkWritable fails early, with the path, when the output cannot be written.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	// A concurrent run holding the lock may already have removed it as a
	// leftover (removeStale): that is fine, the directory was writable.
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("output directory %s: %w", dir, err)
	}
	return nil
}

// lockDir takes an exclusive lock on dir/.lock so that two prep runs never
// build into the same dataset directory at once. The lock is an flock: the
// kernel drops it when its process dies, so a killed run leaves no stale lock.
func lockDir(ctx context.Context, dir string, logf func(string, ...any)) (unlock func(), err error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	waited := false
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			logf("another prep run is building in %s; waiting for it to finish", dir)
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// shardsPresent is the cheap validity check for "up to date": every shard
// the manifest lists exists with its recorded size. `prep verify` re-hashes.
func shardsPresent(dir string, m *manifest.Manifest) bool {
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			fi, err := os.Stat(filepath.Join(dir, sh.Path))
			if err != nil || fi.Size() != sh.Bytes {
				return false
			}
		}
	}
	return true
}

func writeManifest(dir string, m *manifest.Manifest) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, manifest.FileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// publish moves the finished temporary directory to its final name with one
// rename, so a reader sees either no version or a whole one. A version being
// rebuilt (--force) is moved aside first and removed after.
func publish(tmp, final, dsDir string) error {
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var old string
	if _, err := os.Stat(final); err == nil {
		old = filepath.Join(dsDir, ".old-"+filepath.Base(final)+"-"+filepath.Base(tmp))
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("publish: moving the old version aside: %w", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return fmt.Errorf("publish: %w", err)
	}
	if err := syncDir(dsDir); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// setLatest points dsDir/latest at version (a relative symbolic link,
// replaced atomically).
func setLatest(dsDir, version string) error {
	link := filepath.Join(dsDir, LatestName)
	if cur, err := os.Readlink(link); err == nil && cur == version {
		return nil
	}
	tmp := filepath.Join(dsDir, ".latest-"+version)
	os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		return fmt.Errorf("latest link: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("latest link: %w", err)
	}
	return nil
}

// removeStale deletes temporary directories left by a run that was killed
// before it could clean up. It runs under the lock, so no other run owns them.
func removeStale(dsDir string, logf func(string, ...any)) {
	for _, pat := range []string{".tmp-*", ".old-*", ".latest-*", ".probe-*"} {
		matches, _ := filepath.Glob(filepath.Join(dsDir, pat))
		for _, m := range matches {
			logf("removing %s left by an interrupted run", m)
			os.RemoveAll(m)
		}
	}
}

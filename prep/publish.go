package prep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
)

// checkWritable fails early, with the path, when the output cannot be
// written, or when what stands at its latest pointer is something prep
// must not replace (checkLatest): before any download or build.
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
	return checkLatest(dir)
}

// lockDir takes an exclusive lock on dir/.lock so that two prep runs never
// build into the same dataset directory at once. The kernel drops the lock
// when its process dies, so a killed run leaves no stale lock; waiting for
// it ends with ctx (SIGINT).
func lockDir(ctx context.Context, dir string, logf func(string, ...any)) (unlock func(), err error) {
	l, err := durable.LockWait(ctx, filepath.Join(dir, ".lock"), func() {
		logf("another prep run is building in %s; waiting for it to finish", dir)
	})
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
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
	if err := durable.WriteFile(filepath.Join(dir, manifest.FileName), data, 0o644); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// publish moves the finished temporary directory to its final name with one
// rename, so a reader sees either no version or a whole one, and points the
// latest link at it. Every step that can fail runs before the version
// becomes visible: what stands at latest is checked and the new link is
// created beside it first; if switching the link still fails, the version
// is moved back out of sight (and a version being rebuilt with --force is
// put back), so a failed run never leaves a new version published. A
// version being rebuilt is swapped out by one atomic exchange (Linux) or,
// where there is none, moved aside first; it is removed after.
func publish(tmp, final, dsDir string) error {
	version := filepath.Base(final)
	if err := checkLatest(dsDir); err != nil {
		return err
	}
	link, err := newLatestLink(dsDir, version)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok && link != "" {
			os.Remove(link)
		}
	}()
	if err := durable.SyncDir(tmp); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var old string
	unpublish := func() {
		os.Rename(final, tmp)
		if old != "" {
			os.Rename(old, final)
		}
		durable.SyncDir(dsDir)
	}
	if _, err := os.Lstat(final); err == nil {
		// A rebuild (--force): swap the new version in with one atomic
		// exchange where the OS has one, so no moment (a kill included)
		// leaves the name empty and latest dangling; the old version is
		// then in tmp, removed below or by the next run's cleanup.
		switch err := durable.Exchange(tmp, final); {
		case err == nil:
			old = tmp
			unpublish = func() {
				durable.Exchange(tmp, final)
			}
		case errors.Is(err, durable.ErrNoExchange):
			old = filepath.Join(dsDir, ".old-"+version+"-"+filepath.Base(tmp))
			if err := os.Rename(final, old); err != nil {
				return fmt.Errorf("publish: moving the old version aside: %w", err)
			}
		default:
			return fmt.Errorf("publish: %w", err)
		}
	}
	if old != tmp {
		if err := os.Rename(tmp, final); err != nil {
			if old != "" {
				os.Rename(old, final)
			}
			return fmt.Errorf("publish: %w", err)
		}
	}
	if link != "" {
		if err := durable.Rename(link, filepath.Join(dsDir, manifest.LatestName)); err != nil {
			unpublish()
			return fmt.Errorf("publish: pointing %s at %s: %w", filepath.Join(dsDir, manifest.LatestName), version, err)
		}
	}
	if err := durable.SyncDir(dsDir); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	ok = true
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// checkLatest accepts what stands at dsDir/latest if prep may replace it
// with one rename: nothing, a symbolic link (to a version or dangling), or
// any other non-directory (a copy tool without links may write the link as
// a small file). An empty directory is removed. A non-empty directory is
// refused: prep never makes one there, so it is someone's data — most often
// a copy of a version made by a tool that followed the link — and
// replacing it would need deleting it.
func checkLatest(dsDir string) error {
	p := filepath.Join(dsDir, manifest.LatestName)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("latest link: %w", err)
	case !fi.IsDir():
		return nil
	}
	if err := os.Remove(p); err == nil {
		return nil // it was empty
	}
	return fmt.Errorf("%s is a directory, not the link to the newest version that prep maintains "+
		"(a copy tool that follows links may have made it); prep will not delete it: move it away and run again", p)
}

// newLatestLink creates, beside dsDir/latest, the link that will replace it
// (a relative symbolic link to version), so that the replacement is one
// rename that cannot run out of space. It returns "" when latest already
// points at version.
func newLatestLink(dsDir, version string) (string, error) {
	if cur, err := os.Readlink(filepath.Join(dsDir, manifest.LatestName)); err == nil && cur == version {
		return "", nil
	}
	tmp := filepath.Join(dsDir, ".latest-"+version)
	os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		return "", fmt.Errorf("latest link: %w", err)
	}
	return tmp, nil
}

// setLatest points dsDir/latest at version, an already published one,
// replacing whatever checkLatest accepts there with one rename.
func setLatest(dsDir, version string) error {
	if err := checkLatest(dsDir); err != nil {
		return err
	}
	tmp, err := newLatestLink(dsDir, version)
	if err != nil || tmp == "" {
		return err
	}
	if err := durable.Rename(tmp, filepath.Join(dsDir, manifest.LatestName)); err != nil {
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

package prep

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
)

// The order of the durable steps of a build, as the test hook sees them
// under the output root: the manifest is written whole (create, write,
// fsync, rename, directory fsync) into the temporary version directory,
// which is then fsynced as a whole; only after that is latest renamed to the
// new version, and the dataset directory fsynced. At the moment latest is
// switched, the version directory is in place under its final name and
// every shard its manifest lists is on disk with the bytes and digest the
// manifest records.
func TestBuildStepOrder(t *testing.T) {
	ts := writeTiny(t, 150, 50, 4, 3, 19)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	ds := filepath.Join(out, "tiny")
	var steps []string
	var atLatest []string
	restore := durable.SetTestHook(func(op durable.Op, path string) error {
		rel, err := filepath.Rel(out, path)
		if err != nil || strings.HasPrefix(rel, "..") || strings.HasPrefix(rel, ".cache") {
			return nil // the download and statistics caches are not the version
		}
		// Temporary version directories have random suffixes.
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ".tmp-") {
				parts[i] = ".tmp"
			}
			if strings.HasPrefix(p, ".latest-") {
				parts[i] = ".latest"
			}
		}
		steps = append(steps, string(op)+" "+strings.Join(parts, "/"))
		if op == durable.OpRename && filepath.Base(path) == manifest.LatestName {
			atLatest = wholeVersions(ds)
		}
		return nil
	})
	res := build(t, cfg, testOptions(t, out))
	restore()
	v := res.Manifest.ShortVersion()
	want := []string{
		"create tiny/.tmp/manifest.json",
		"write tiny/.tmp/manifest.json",
		"fsync tiny/.tmp/manifest.json",
		"rename tiny/.tmp/manifest.json",
		"fsync-dir tiny/.tmp",
		"fsync-dir tiny/.tmp", // the whole version directory, before it is published
		"rename tiny/latest",
		"fsync-dir tiny",
		"fsync-dir tiny",
	}
	if strings.Join(steps, "\n") != strings.Join(want, "\n") {
		t.Fatalf("steps:\n  %s\nwant:\n  %s", strings.Join(steps, "\n  "), strings.Join(want, "\n  "))
	}
	if len(atLatest) != 1 || atLatest[0] != v {
		t.Fatalf("when latest was switched, whole versions %v, want [%s]", atLatest, v)
	}
}

// wholeVersions lists the version directories under ds whose manifest
// parses and whose every shard matches its recorded size and digest.
func wholeVersions(ds string) []string {
	ents, _ := os.ReadDir(ds)
	var whole []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(ds, e.Name(), manifest.FileName))
		if err != nil {
			continue
		}
		m, err := manifest.Parse(b)
		if err != nil || m.ShortVersion() != e.Name() {
			continue
		}
		ok := true
		for _, sp := range m.Splits {
			for _, sh := range sp.Shards {
				data, err := os.ReadFile(filepath.Join(ds, e.Name(), sh.Path))
				sum := sha256.Sum256(data)
				ok = ok && err == nil && int64(len(data)) == sh.Bytes && hex.EncodeToString(sum[:]) == sh.SHA256
			}
		}
		if ok {
			whole = append(whole, e.Name())
		}
	}
	return whole
}

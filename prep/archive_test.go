package prep

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// archiveConfig writes a config whose train and test splits are the
// imagefolder members ds/train and ds/test of an archive in mirror.
func archiveConfig(t *testing.T, dir, mirror, archive, sha string) *config.Config {
	t.Helper()
	y := "dataset: pets\nmirrors: [" + mirror + "]\nsources:\n" +
		"  train: {archive: " + archive + ", sha256: " + sha + ", imagefolder: ds/train}\n" +
		"  test: {archive: " + archive + ", sha256: " + sha + ", imagefolder: ds/test}\n" +
		"image: {height: 6, width: 5, channels: 1}\n" +
		"split: {seed: 3, val_fraction: 0.25}\nshards: {rows: 7, batch_rows: 4}\nnormalize: {mode: none}\n"
	path := filepath.Join(dir, "pets-archive.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A tree in an archive and the same tree on disk give the same version and
// byte-identical shards, whatever the archive's format: the version follows
// the decoded content, not the container.
func TestArchiveSameVersionAsTree(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "tree", "train"), 1, map[string]int{"cat": 9, "dog": 7})
	imageTree(t, filepath.Join(dir, "tree", "test"), 2, map[string]int{"cat": 3, "dog": 4})
	onDisk := build(t, treeConfig(t, filepath.Join(dir, "tree"), ""), testOptions(t, t.TempDir()))
	want := dirFiles(t, onDisk.Dir)

	mirror := filepath.Join(dir, "mirror")
	if err := os.MkdirAll(mirror, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{tinyset.TarGz, tinyset.Tar, tinyset.Zip} {
		data, err := tinyset.Pack(filepath.Join(dir, "tree"), "ds", format)
		if err != nil {
			t.Fatal(err)
		}
		name := "pets." + format
		writeBytes(t, filepath.Join(mirror, name), data)
		res := build(t, archiveConfig(t, dir, mirror, name, sha(data)), testOptions(t, t.TempDir()))
		if res.Manifest.Version != onDisk.Manifest.Version {
			t.Fatalf("%s: version %s, the tree on disk gives %s", format, res.Manifest.ShortVersion(), onDisk.Manifest.ShortVersion())
		}
		got := dirFiles(t, res.Dir)
		for f, b := range want {
			if f == "manifest.json" {
				continue
			}
			if !bytes.Equal(got[f], b) {
				t.Fatalf("%s: %s differs from the tree on disk's", format, f)
			}
		}
		src := res.Manifest.Sources[0]
		if src.File != name+":ds/train" || src.SHA256 != sha(data) || src.ContentSHA256 != onDisk.Manifest.Sources[0].SHA256 || src.Files != 16 || src.Bytes != int64(len(data)) {
			t.Fatalf("%s: manifest source %+v (the tree on disk: %+v)", format, src, onDisk.Manifest.Sources[0])
		}
	}
}

// An archive that fails its sha256, or whose member directory is missing,
// fails the build naming it, and publishes nothing.
func TestArchiveErrorsPublishNothing(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "tree", "train"), 1, map[string]int{"cat": 3, "dog": 3})
	imageTree(t, filepath.Join(dir, "tree", "test"), 2, map[string]int{"cat": 1, "dog": 1})
	data, err := tinyset.Pack(filepath.Join(dir, "tree"), "ds", tinyset.TarGz)
	if err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(dir, "mirror")
	if err := os.MkdirAll(mirror, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, filepath.Join(mirror, "pets.tar.gz"), data)
	other := strings.Repeat("ab", 32)

	cfg := archiveConfig(t, dir, mirror, "pets.tar.gz", other)
	out := t.TempDir()
	_, err = Build(context.Background(), cfg, testOptions(t, out))
	if err == nil || !strings.Contains(err.Error(), "pets.tar.gz") || !strings.Contains(err.Error(), other) {
		t.Fatalf("bad sha256: err = %v, want the archive and the expected digest named", err)
	}
	if l := leftovers(t, filepath.Join(out, "pets")); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}

	cfg = archiveConfig(t, dir, mirror, "pets.tar.gz", sha(data))
	cfg.Sources.Test.ImageFolder = "ds/testing"
	_, err = Build(context.Background(), cfg, testOptions(t, out))
	if err == nil || !strings.Contains(err.Error(), "imagefolder pets.tar.gz:ds/testing: no such directory in archive pets.tar.gz") {
		t.Fatalf("missing member directory: err = %v", err)
	}
	if l := leftovers(t, filepath.Join(out, "pets")); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
}

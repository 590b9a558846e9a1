package prep

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// publishFixture makes a dataset directory with a finished temporary
// version directory and returns (tmp, final, dsDir).
func publishFixture(t *testing.T, version string) (string, string, string) {
	t.Helper()
	ds := t.TempDir()
	tmp := filepath.Join(ds, ".tmp-"+version+"-1")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), []byte(version), 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp, filepath.Join(ds, version), ds
}

func latestTarget(t *testing.T, ds string) string {
	t.Helper()
	got, err := os.Readlink(filepath.Join(ds, manifest.LatestName))
	if err != nil {
		t.Fatalf("latest is not a link: %v", err)
	}
	return got
}

// TestPublishReplacesLatest: whatever non-directory stands at latest, or an
// empty directory, is replaced by the link.
func TestPublishReplacesLatest(t *testing.T) {
	for name, put := range map[string]func(p string) error{
		"nothing":         func(string) error { return nil },
		"link to another": func(p string) error { return os.Symlink("000000000000", p) },
		"dangling link":   func(p string) error { return os.Symlink("gone", p) },
		"regular file":    func(p string) error { return os.WriteFile(p, []byte("abcdef012345\n"), 0o644) },
		"empty directory": func(p string) error { return os.Mkdir(p, 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			tmp, final, ds := publishFixture(t, "abcdef012345")
			if err := put(filepath.Join(ds, manifest.LatestName)); err != nil {
				t.Fatal(err)
			}
			if err := checkWritable(ds); err != nil {
				t.Fatalf("checkWritable: %v", err)
			}
			if err := publish(tmp, final, ds); err != nil {
				t.Fatal(err)
			}
			if got := latestTarget(t, ds); got != "abcdef012345" {
				t.Fatalf("latest -> %q", got)
			}
			if _, err := os.Stat(filepath.Join(ds, manifest.LatestName, "manifest.json")); err != nil {
				t.Fatalf("latest does not lead to the version: %v", err)
			}
			if l := leftovers(t, ds); len(l) != 1 || l[0] != "abcdef012345" {
				t.Fatalf("left in the dataset directory: %v", l)
			}
		})
	}
}

// TestPublishRefusesLatestDirectory: a non-empty directory at latest is
// someone's data; prep refuses before the version becomes visible, says
// what to do, and deletes nothing.
func TestPublishRefusesLatestDirectory(t *testing.T) {
	tmp, final, ds := publishFixture(t, "abcdef012345")
	latest := filepath.Join(ds, manifest.LatestName)
	if err := os.MkdirAll(latest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(latest, "manifest.json"), []byte("copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"checkWritable": func() error { return checkWritable(ds) },
		"publish":       func() error { return publish(tmp, final, ds) },
		"setLatest":     func() error { return setLatest(ds, "abcdef012345") },
	} {
		err := f()
		if err == nil || !strings.Contains(err.Error(), latest+" is a directory") || !strings.Contains(err.Error(), "move it away") {
			t.Fatalf("%s: err = %v, want a refusal naming %s", name, err, latest)
		}
	}
	if _, err := os.Lstat(final); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the version was published after the refusal: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(latest, "manifest.json")); err != nil || string(b) != "copy" {
		t.Fatalf("the directory at latest was changed: %q, %v", b, err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the build directory is gone (the caller removes it): %v", err)
	}
}

// TestPublishLinkFailureUnpublishes: when switching latest fails after the
// version was renamed into place, the version is moved back out of sight and
// a version being rebuilt (--force) is restored, so nothing is published.
func TestPublishLinkFailureUnpublishes(t *testing.T) {
	for _, rebuild := range []bool{false, true} {
		name := "new version"
		if rebuild {
			name = "rebuild"
		}
		t.Run(name, func(t *testing.T) {
			tmp, final, ds := publishFixture(t, "abcdef012345")
			if err := os.Symlink("000000000000", filepath.Join(ds, manifest.LatestName)); err != nil {
				t.Fatal(err)
			}
			if rebuild {
				if err := os.Mkdir(final, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(final, "manifest.json"), []byte("old build"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			errInjected := errors.New("injected failure")
			restore := durable.SetTestHook(func(op durable.Op, path string) error {
				if op == durable.OpRename && filepath.Base(path) == manifest.LatestName {
					return errInjected
				}
				return nil
			})
			err := publish(tmp, final, ds)
			restore()
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if got := latestTarget(t, ds); got != "000000000000" {
				t.Fatalf("latest -> %q, want it unchanged", got)
			}
			b, err := os.ReadFile(filepath.Join(final, "manifest.json"))
			switch {
			case rebuild && string(b) != "old build":
				t.Fatalf("the rebuilt version was not restored: %q, %v", b, err)
			case !rebuild && !errors.Is(err, os.ErrNotExist):
				t.Fatalf("the new version stayed published: %q, %v", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(tmp, "manifest.json")); err != nil || string(b) != "abcdef012345" {
				t.Fatalf("the build is not back in its temporary directory: %v", err)
			}
			want := []string{filepath.Base(tmp)}
			if rebuild {
				want = []string{filepath.Base(tmp), "abcdef012345"}
			}
			if l := leftovers(t, ds); strings.Join(l, ",") != strings.Join(want, ",") {
				t.Fatalf("left in the dataset directory: %v, want %v", l, want)
			}
		})
	}
}

// TestPublishRebuildNeverEmptiesTheVersionName: a --force rebuild replaces
// the version directory so that, at every step a kill could hit, the
// version's name holds a whole version (the old one, then the new one) and
// latest never dangles. Where the OS cannot exchange two names atomically
// the old version is moved aside first, which leaves a short gap; there
// the test only checks the end state.
func TestPublishRebuildNeverEmptiesTheVersionName(t *testing.T) {
	tmp, final, ds := publishFixture(t, "abcdef012345")
	if err := os.Mkdir(final, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(final, "manifest.json"), []byte("old build"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("abcdef012345", filepath.Join(ds, manifest.LatestName)); err != nil {
		t.Fatal(err)
	}
	exchangeWorks := runtime.GOOS == "linux"
	var seen []string
	restore := durable.SetTestHook(func(op durable.Op, path string) error {
		b, err := os.ReadFile(filepath.Join(ds, manifest.LatestName, "manifest.json"))
		if err != nil {
			seen = append(seen, string(op)+" "+filepath.Base(path)+": latest names no whole version")
		} else {
			seen = append(seen, string(op)+" "+filepath.Base(path)+": "+string(b))
		}
		return nil
	})
	err := publish(tmp, final, ds)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(final, "manifest.json")); err != nil || string(b) != "abcdef012345" {
		t.Fatalf("the rebuilt version is not in place: %q, %v", b, err)
	}
	if l := leftovers(t, ds); strings.Join(l, ",") != "abcdef012345" {
		t.Fatalf("left in the dataset directory: %v, want only the version", l)
	}
	if !exchangeWorks {
		return
	}
	for _, s := range seen {
		if strings.HasSuffix(s, "latest names no whole version") {
			t.Fatalf("a step of the rebuild ran while the version name was empty: %v", seen)
		}
	}
	// The swap itself is a step: one rename of the version's own name,
	// before which latest still names the old build.
	if !slices.Contains(seen, "rename abcdef012345: old build") {
		t.Fatalf("the version was not swapped in by one exchange: %v", seen)
	}
}

package prep

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
)

// A durable step of publish that fails is an error naming the publish, and
// when it fails before latest is switched nothing is published: latest is
// unchanged, the version name is free, the build is back in its temporary
// directory (the caller removes it) and the new link made beside latest is
// gone. A failure of the last step, the dataset directory's fsync, comes
// after the switch: the error is returned and the version stays in place.
func TestPublishStepFailures(t *testing.T) {
	errInjected := errors.New("injected failure")
	cases := []struct {
		name      string
		op        durable.Op
		base      string // the path's base name; ".tmp" for the build directory
		nth       int    // fail the nth matching step (1-based)
		published bool
	}{
		{"fsync of the build directory", durable.OpSyncDir, ".tmp", 1, false},
		{"rename of latest", durable.OpRename, manifest.LatestName, 1, false},
		{"fsync of the dataset directory", durable.OpSyncDir, "ds", 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp, final, ds := publishFixture(t, "abcdef012345")
			if err := os.Symlink("000000000000", filepath.Join(ds, manifest.LatestName)); err != nil {
				t.Fatal(err)
			}
			seen := 0
			restore := durable.SetTestHook(func(op durable.Op, path string) error {
				base := filepath.Base(path)
				switch {
				case strings.HasPrefix(base, ".tmp-"):
					base = ".tmp"
				case path == ds:
					base = "ds"
				}
				if op == c.op && base == c.base {
					seen++
					if seen == c.nth {
						return errInjected
					}
				}
				return nil
			})
			err := publish(tmp, final, ds)
			restore()
			if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "publish") {
				t.Fatalf("err = %v, want the injected failure, named as the publish's", err)
			}
			if c.published {
				if got := latestTarget(t, ds); got != "abcdef012345" {
					t.Fatalf("latest -> %q after the switch", got)
				}
				return
			}
			if got := latestTarget(t, ds); got != "000000000000" {
				t.Fatalf("latest -> %q, want it unchanged", got)
			}
			if _, err := os.Lstat(final); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the version is published after a failed publish: %v", err)
			}
			if l := leftovers(t, ds); strings.Join(l, ",") != filepath.Base(tmp) {
				t.Fatalf("left in the dataset directory: %v, want only the build directory", l)
			}
		})
	}
}

// setLatest points latest at an already published version with one rename,
// whatever checkLatest accepts there, and does nothing when latest already
// names it; a failed rename leaves latest as it was and no link beside it.
func TestSetLatest(t *testing.T) {
	ds := t.TempDir()
	for _, v := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"} {
		if err := os.Mkdir(filepath.Join(ds, v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var renames int
	restore := durable.SetTestHook(func(op durable.Op, path string) error {
		if op == durable.OpRename {
			renames++
		}
		return nil
	})
	defer restore()
	for _, step := range []struct {
		version string
		renames int
	}{{"aaaaaaaaaaaa", 1}, {"aaaaaaaaaaaa", 1}, {"bbbbbbbbbbbb", 2}, {"aaaaaaaaaaaa", 3}} {
		if err := setLatest(ds, step.version); err != nil {
			t.Fatal(err)
		}
		if got := latestTarget(t, ds); got != step.version {
			t.Fatalf("latest -> %q, want %q", got, step.version)
		}
		if renames != step.renames {
			t.Fatalf("%d renames after pointing at %s, want %d", renames, step.version, step.renames)
		}
	}
	errInjected := errors.New("injected failure")
	durable.SetTestHook(func(op durable.Op, path string) error {
		if op == durable.OpRename {
			return errInjected
		}
		return nil
	})
	if err := setLatest(ds, "bbbbbbbbbbbb"); !errors.Is(err, errInjected) {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if got := latestTarget(t, ds); got != "aaaaaaaaaaaa" {
		t.Fatalf("latest -> %q after a failed switch", got)
	}
	if l := leftovers(t, ds); strings.Join(l, ",") != "aaaaaaaaaaaa,bbbbbbbbbbbb" {
		t.Fatalf("left in the dataset directory: %v", l)
	}
}

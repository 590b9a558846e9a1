//go:build unix

package reliability

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

var latestSection = addSection(55, "Whatever stands at `latest`",
	"`prep run` of the small set into a dataset directory where a user or a copy tool left something else in place of "+
		"the `latest` link. Everything that can fail (this check included) runs before the version is renamed into place; "+
		"what prep may replace with one rename is replaced, a directory holding data is refused before any download.",
	func() int { return len(latestCases) })

var latestCases = []struct {
	name, injected string
	put            func(t *testing.T, p string)
	refused        bool
}{
	{"a non-empty directory", "`latest` is a directory holding a copy of a version (a copy tool that followed the link)", func(t *testing.T, p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(p, "manifest.json"), []byte("{}\n"))
	}, true},
	{"an empty directory", "`latest` is an empty directory", func(t *testing.T, p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}, false},
	{"a regular file", "`latest` is a file holding a version id (a copy tool without links)", func(t *testing.T, p string) {
		writeFile(t, p, []byte("0123456789ab\n"))
	}, false},
	{"a dangling link", "`latest` links to a version directory that was deleted", func(t *testing.T, p string) {
		if err := os.Symlink("0123456789ab", p); err != nil {
			t.Fatal(err)
		}
	}, false},
}

func TestWhateverIsAtLatest(t *testing.T) {
	for i, c := range latestCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.writeConfig(small(t), "tiny", "")
			ds := filepath.Join(e.out, "tiny")
			if err := os.MkdirAll(ds, 0o755); err != nil {
				t.Fatal(err)
			}
			latest := filepath.Join(ds, "latest")
			c.put(t, latest)
			r := e.prepRun(cfg)
			if !c.refused {
				wantCode(t, r, 0)
				disk := published(t, e) + ", `latest` is the link to it"
				latestSection.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: "(replaced: the usual output)", Disk: disk})
				return
			}
			wantCode(t, r, 1)
			msg := finalError(r.stderr, "prep: ")
			if !strings.Contains(msg, latest+" is a directory") || !strings.Contains(msg, "move it away") {
				t.Fatalf("message %q does not name %s and what to do", msg, latest)
			}
			if strings.Contains(r.stderr, "download") || cacheFiles(e.cache) != 0 {
				t.Fatalf("the refusal came after a download:\n%s", r.stderr)
			}
			e.state("tiny").clean(t)
			if got := readFile(t, filepath.Join(latest, "manifest.json")); !bytes.Equal(got, []byte("{}\n")) {
				t.Fatalf("the directory at latest was changed")
			}
			latestSection.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: e.scrub(msg),
				Disk: "no version dir, no temp dir; the directory at `latest` untouched"})
		})
	}
}

var sourceKinds = addSection(85, "Sources that are not regular files",
	"`prep run` whose local mirror holds, under a source's name, something other than a regular file. Opening a FIFO "+
		"for reading waits for a writer that may never come, and a device may never end: each is refused before it is opened "+
		"for reading (and the open itself cannot block).",
	func() int { return len(sourceKindCases) })

var sourceKindCases = []struct {
	name, injected, what string
	put                  func(t *testing.T, p string)
}{
	{"a FIFO with no writer", "`train_images.gz` is a named pipe nothing writes to", "a named pipe (FIFO)", func(t *testing.T, p string) {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skip("cannot make a FIFO:", err)
		}
	}},
	{"a character device", "`train_images.gz` is a link to `/dev/zero`", "a character device", func(t *testing.T, p string) {
		if err := os.Symlink("/dev/zero", p); err != nil {
			t.Fatal(err)
		}
	}},
	{"a directory", "`train_images.gz` is a directory", "a directory", func(t *testing.T, p string) {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}},
}

func TestSourceNotRegular(t *testing.T) {
	for i, c := range sourceKindCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			set := *small(t)
			for _, k := range tinyset.Keys {
				writeFile(t, filepath.Join(e.data, set.Files[k]), readFile(t, filepath.Join(set.Dir, set.Files[k])))
			}
			set.Dir = e.data
			bad := filepath.Join(e.data, set.Files["train_images"])
			if err := os.Remove(bad); err != nil {
				t.Fatal(err)
			}
			c.put(t, bad)
			cfg := e.writeConfig(&set, "tiny", "")
			start := time.Now()
			r := e.runWithin(30*time.Second, prepBin, "run", cfg, "--out", e.out, "--cache", e.cache)
			wantCode(t, r, 1)
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("the refusal took %v", d)
			}
			msg := finalError(r.stderr, "prep: ")
			if want := bad + " is not a regular file but " + c.what; !strings.Contains(msg, want) {
				t.Fatalf("message %q lacks %q", msg, want)
			}
			e.state("tiny").clean(t)
			if entry := filepath.Join(e.cache, "sha256", set.SHA["train_images"]); glob(entry, "") || glob(entry+".part", "") {
				t.Fatal("the refused source has a cache entry")
			}
			sourceKinds.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: e.scrub(msg),
				Disk: "no version dir, no temp dir, no cache entry for the refused source"})
		})
	}
}

// runWithin runs bin like run, but kills it and fails the test if it has
// not finished after d: a case whose bug is a hang must not hang the suite.
func (e *env) runWithin(d time.Duration, bin string, args ...string) result {
	e.t.Helper()
	cmd := command(bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return result{exitCode(e.t, err), so.String(), se.String()}
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		e.t.Fatalf("%s still running after %v; stderr:\n%s", filepath.Base(bin), d, se.String())
		return result{}
	}
}

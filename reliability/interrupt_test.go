//go:build unix

package reliability

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// The configs of the two shared datasets.
const (
	smallExtra = "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 1000}\n"
	largeExtra = "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 10000}\n"
)

// reference is an uninterrupted build of a shared dataset: its version and
// a warm cache that cases may read (every use is a cache hit).
type reference struct {
	once    sync.Once
	version string
	cache   string
	err     string
}

var refs = map[string]*reference{"small": {}, "large": {}}

func referenceBuild(t *testing.T, which string) *reference {
	t.Helper()
	ref := refs[which]
	ref.once.Do(func() {
		set, extra := small(t), smallExtra
		if which == "large" {
			set, extra = large(t), largeExtra
		}
		e := newEnv(t)
		cfg := e.writeConfig(set, "tiny", extra)
		// The cache outlives this test: the shared directories' cleanup removes it.
		ref.cache = filepath.Join(set.Dir, ".cache")
		r := e.run(prepBin, "run", cfg, "--out", e.out, "--cache", ref.cache, "--quiet")
		if r.code != 0 {
			ref.err = r.stderr
			return
		}
		ref.version = strings.TrimSpace(r.stdout)
	})
	if ref.err != "" {
		t.Fatalf("reference build: %s", ref.err)
	}
	return ref
}

var interrupts = addSection(40, "Interruption",
	"`prep run` receives a signal in each phase of a build. The run stops, removes its temporary directory and publishes nothing; "+
		"the next run of the same config succeeds and publishes the same version as an uninterrupted run.",
	func() int { return len(interruptCases) })

type interruptCase struct {
	name  string
	sig   syscall.Signal
	phase string // download, decode or shards
}

var interruptCases = []interruptCase{
	{"SIGINT during download", syscall.SIGINT, "download"},
	{"SIGTERM during download", syscall.SIGTERM, "download"},
	{"SIGINT during decode", syscall.SIGINT, "decode"},
	{"SIGTERM during decode", syscall.SIGTERM, "decode"},
	{"SIGINT during shard writing", syscall.SIGINT, "shards"},
	{"SIGTERM during shard writing", syscall.SIGTERM, "shards"},
}

var phaseWhen = map[string]string{
	"download": "once the mirror has sent the first 1000 bytes of `train_images.gz` and stalls",
	"decode":   "once the run logs `computing mean/std` and its temporary directory exists, while no shard file does",
	"shards":   "once the first shard file appears in the temporary directory",
}

func TestInterrupt(t *testing.T) {
	for i, c := range interruptCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var set *tinyset.Set
			var ready func(string) bool
			var still func() bool
			var cfg, cache, which string
			var m *mirror
			ds := filepath.Join(e.out, "tiny")
			switch c.phase {
			case "download":
				which, set = "small", small(t)
				cfg, cache = e.writeConfig(set, "tiny", smallExtra), e.cache
				m = newMirror(t, set.Dir)
				m.steps[target] = []step{stallStep}
				withMirrors(t, cfg, m.url())
				part := filepath.Join(cache, "sha256", set.SHA["train_images"]+".part")
				ready = func(string) bool { return fileSize(part) >= 1000 }
			case "decode":
				which, set = "large", large(t)
				// The sources without the reference run's cached mean/std,
				// which would spare this run its decode pass.
				cfg, cache = e.writeConfig(set, "tiny", largeExtra), sourcesOnly(t, referenceBuild(t, "large").cache, e.cache)
				ready = func(stderr string) bool {
					return strings.Contains(stderr, "computing mean/std") && glob(ds, ".tmp-*")
				}
				still = func() bool { return !glob(ds, ".tmp-*/*.arrow") }
			case "shards":
				which, set = "large", large(t)
				cfg, cache = e.writeConfig(set, "tiny", largeExtra), referenceBuild(t, "large").cache
				ready = func(string) bool { return glob(ds, ".tmp-*/*.arrow") }
			}
			e.name(cache, "$CACHE")
			ref := referenceBuild(t, which)
			// The decode phase lasts some tens of milliseconds: a run whose
			// signal would come too late is killed and tried again.
			var r result
			for try := 0; ; try++ {
				var ok bool
				if r, ok = e.signalIf(c.sig, ready, still, prepBin, "run", cfg, "--out", e.out, "--cache", cache); ok {
					break
				}
				if try == 4 {
					t.Fatalf("missed the %s phase 5 times", c.phase)
				}
				t.Logf("missed the %s phase; trying again", c.phase)
				if err := os.RemoveAll(ds); err != nil { // what the killed run left
					t.Fatal(err)
				}
			}
			want := map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143}[c.sig]
			wantCode(t, r, want)
			msg := finalError(r.stderr, "prep: ")
			if !strings.Contains(msg, "interrupted") || !strings.Contains(msg, "nothing was published") {
				t.Fatalf("message %q", msg)
			}
			s := e.state("tiny")
			s.clean(t)
			disk := s.String()
			if m != nil {
				// The next run resumes the partial download from the cache.
				withMirrors(t, cfg, m.url())
				disk += "; the partial download stays in the cache and the next run resumes it with `Range`"
			}
			next := e.run(prepBin, "run", cfg, "--out", e.out, "--cache", cache, "--quiet")
			wantCode(t, next, 0)
			if got := strings.TrimSpace(next.stdout); got != ref.version {
				t.Fatalf("the next run published version %s, an uninterrupted run %s", got, ref.version)
			}
			if m != nil {
				got := m.requests(target)
				if len(got) != 2 || !strings.HasSuffix(got[1], "bytes=1000-") {
					t.Fatalf("requests %v: want the next run to resume at byte 1000", got)
				}
			}
			e.state("tiny").published(t)
			interrupts.record(t, i, Row{Case: c.name, Injected: strings.Fields(c.name)[0] + " " + phaseWhen[c.phase],
				Exit: r.code, Sees: e.scrub(msg), Disk: disk + "; the next run publishes the uninterrupted run's version"})
		})
	}
}

var locks = addSection(50, "Concurrent runs and killed runs",
	"Runs building into one dataset directory take an exclusive `flock` on its `.lock` file; the kernel releases it when a run dies.",
	func() int { return 2 })

// Two runs of one config at once: the second starts while the first holds
// the lock and builds; it waits, then finds the version up to date.
func TestConcurrentRuns(t *testing.T) {
	e := newEnv(t)
	cfg := e.writeConfig(large(t), "tiny", largeExtra)
	cache := referenceBuild(t, "large").cache
	e.name(cache, "$CACHE")
	ds := filepath.Join(e.out, "tiny")
	type out struct{ so, se bytes.Buffer }
	outs := []*out{{}, {}}
	cmds := make([]*exec.Cmd, 2)
	for i := range cmds {
		cmds[i] = command(prepBin, "run", cfg, "--out", e.out, "--cache", cache)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i].so, &outs[i].se
	}
	if err := cmds[0].Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !glob(ds, ".tmp-*"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			cmds[0].Process.Kill()
			t.Fatal("the first run never started building")
		}
	}
	if err := cmds[1].Start(); err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		if code := exitCode(t, c.Wait()); code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, outs[i].se.String())
		}
	}
	waited := lineWith(outs[1].se.String(), "waiting for it to finish")
	if !strings.Contains(outs[0].so.String(), "\nbuilt ") || !strings.Contains(outs[1].so.String(), "is up to date") || waited == "" {
		t.Fatalf("first run:\n%s\nsecond run:\n%s%s", outs[0].so.String(), outs[1].so.String(), outs[1].se.String())
	}
	locks.record(t, 0, Row{Case: "two `prep run` of one config at once", Injected: "a second run started while the first builds",
		Exit: 0, Sees: e.scrub(waited), Disk: published(t, e) + "; the first run built it, the second waited and reported it up to date"})
}

// A run killed with SIGKILL cannot clean up: its temporary directory stays.
// The kernel drops its lock, and the next run removes the directory.
func TestKilledRunIsRecovered(t *testing.T) {
	e := newEnv(t)
	cfg := e.writeConfig(large(t), "tiny", largeExtra)
	ref := referenceBuild(t, "large")
	e.name(ref.cache, "$CACHE")
	ds := filepath.Join(e.out, "tiny")
	r := e.signalWhen(syscall.SIGKILL, func(string) bool { return glob(ds, ".tmp-*/*.arrow") }, prepBin, "run", cfg, "--out", e.out, "--cache", ref.cache)
	wantCode(t, r, 137)
	s := e.state("tiny")
	if len(s.versions) != 0 || len(s.temps) != 1 {
		t.Fatalf("after SIGKILL: versions %v, temps %v", s.versions, s.temps)
	}
	left := s.String()
	next := e.run(prepBin, "run", cfg, "--out", e.out, "--cache", ref.cache)
	wantCode(t, next, 0)
	if strings.Contains(next.stderr, "waiting") {
		t.Fatalf("the next run waited for a dead run's lock:\n%s", next.stderr)
	}
	removed := lineWith(next.stderr, "left by an interrupted run")
	if removed == "" {
		t.Fatalf("the next run did not report removing the temporary directory:\n%s", next.stderr)
	}
	if !strings.Contains(next.stdout, ref.version) {
		t.Fatalf("next run:\n%s\nwant version %s", next.stdout, ref.version)
	}
	locks.record(t, 1, Row{Case: "killed run (stale lock and temp dir)", Injected: "SIGKILL " + phaseWhen["shards"] + ", then `prep run` again",
		Exit: r.code, Sees: "(killed: no message) next run: " + e.scrub(removed),
		Disk: "after the kill: " + left + "; after the next run: " + published(t, e) + ", no wait for the dead run's lock"})
}

var writes = addSection(60, "Write failures",
	"The shard writer fails part-way through a shard.",
	func() int { return 1 })

// A file-size limit (RLIMIT_FSIZE, set with the shell's ulimit) makes the
// shard writer's write fail with EFBIG part-way through the first shard, as
// a full disk fails it with ENOSPC.
func TestWriteFailure(t *testing.T) {
	e := newEnv(t)
	cfg := e.writeConfig(large(t), "tiny", largeExtra)
	ref := referenceBuild(t, "large")
	e.name(ref.cache, "$CACHE")
	r := e.run("/bin/sh", "-c", `ulimit -f 2048 && exec "$0" "$@"`, prepBin, "run", cfg, "--out", e.out, "--cache", ref.cache, "--workers", "1")
	wantCode(t, r, 1)
	msg := finalError(r.stderr, "prep: ")
	if !strings.Contains(msg, "file too large") || !strings.Contains(msg, ".arrow") {
		t.Fatalf("message %q should name the shard and the write error", msg)
	}
	s := e.state("tiny")
	s.clean(t)
	writes.record(t, 0, Row{Case: "write error mid-shard (disk full)", Injected: "`prep run --workers 1` under a 1 MiB file-size limit: the first shard's write fails with EFBIG, as a full disk fails it with ENOSPC",
		Exit: r.code, Sees: e.scrub(msg), Disk: s.String()})
}

// fileSize is the size of a file, or -1.
func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// sourcesOnly fills the empty cache to with hard links to the downloaded
// sources in the cache from (and nothing else from it) and returns to.
func sourcesOnly(t *testing.T, from, to string) string {
	t.Helper()
	dst := filepath.Join(to, "sha256")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(from, "sha256", "*"))
	n := 0
	for _, p := range m {
		if !reSHA256.MatchString(filepath.Base(p)) || strings.Contains(filepath.Base(p), ".") {
			continue
		}
		if err := os.Link(p, filepath.Join(dst, filepath.Base(p))); err != nil {
			writeFile(t, filepath.Join(dst, filepath.Base(p)), readFile(t, p))
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d sources in the cache %s, want 4", n, from)
	}
	return to
}

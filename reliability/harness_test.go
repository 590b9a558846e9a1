//go:build unix

package reliability

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

var update = flag.Bool("update", false, "rewrite RELIABILITY.md from what the tests observe")

// The binaries under test, built once by TestMain.
var prepBin, trainerBin string

// rssLaunchEnv, when set, makes the test binary a launcher (launchForRSS)
// instead of running the tests.
const rssLaunchEnv = "RELIABILITY_RSS_OUT"

func TestMain(m *testing.M) {
	if out := os.Getenv(rssLaunchEnv); out != "" {
		os.Exit(launchForRSS(out, os.Args[1:]))
	}
	flag.Parse()
	dir, err := os.MkdirTemp("", "reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	prepBin, trainerBin = filepath.Join(dir, "prep"), filepath.Join(dir, "trainer")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ out, pkg string }{{prepBin, "../cmd/prep"}, {trainerBin, "../cmd/trainer"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", b.pkg, err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	if code == 0 {
		code = report()
	}
	cleanupShared()
	cleanupTraining()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of a command gave.
type result struct {
	code           int
	stdout, stderr string
}

// env is the world of one case: temporary directories with placeholder
// names for the report, and helpers to run the commands in it.
type env struct {
	t     *testing.T
	out   string // prep output root
	cache string // download cache
	data  string // source files
	names [][2]string
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, out: t.TempDir(), cache: t.TempDir(), data: t.TempDir()}
	e.name(e.out, "$OUT")
	e.name(e.cache, "$CACHE")
	e.name(e.data, "$DATA")
	return e
}

// name makes the report show placeholder wherever s appears.
func (e *env) name(s, placeholder string) {
	e.names = append(e.names, [2]string{s, placeholder})
	// Longest first, so that a directory inside another is replaced whole.
	sort.SliceStable(e.names, func(i, j int) bool { return len(e.names[i][0]) > len(e.names[j][0]) })
}

// launchForRSS runs the command args with this process's standard streams,
// writes its peak resident set (wait4's ru_maxrss, in bytes) to the file out
// and returns its exit status. It exists because Linux carries the parent's
// high-water RSS into the ru_maxrss of a child started with vfork (which is
// how os/exec starts one): measured straight from the test binary, a
// command's peak is at least the test binary's own, which parallel tests
// drive up. Started afresh, the launcher is small, so the figure it reports
// is the command's.
func launchForRSS(out string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, rssLaunchEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rss launcher:", err)
		return 127
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "rss launcher: no rusage")
		return 127
	}
	rss := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" { // Linux and the BSDs count kilobytes
		rss *= 1024
	}
	if err := os.WriteFile(out, []byte(strconv.FormatInt(rss, 10)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "rss launcher:", err)
		return 127
	}
	return exitStatus(cmd.ProcessState)
}

// command returns an exec.Cmd for bin with the suite's environment.
func command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	return cmd
}

// exitStatus is a finished process's exit code, or 128 plus the signal
// that killed it, as a shell reports it.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return exitStatus(ee.ProcessState)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// run runs bin to completion.
func (e *env) run(bin string, args ...string) result {
	e.t.Helper()
	cmd := command(bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return result{exitCode(e.t, err), so.String(), se.String()}
}

// prep runs `prep run CONFIG --out OUT --cache CACHE` plus extra arguments.
func (e *env) prepRun(cfg string, extra ...string) result {
	e.t.Helper()
	return e.run(prepBin, append([]string{"run", cfg, "--out", e.out, "--cache", e.cache}, extra...)...)
}

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// signalWhen starts bin, waits until ready(stderr so far) holds, sends sig
// and returns what the run gave.
func (e *env) signalWhen(sig syscall.Signal, ready func(stderr string) bool, bin string, args ...string) result {
	e.t.Helper()
	r, ok := e.signalIf(sig, ready, nil, bin, args...)
	if !ok {
		e.t.Fatal("unreachable: no condition to miss")
	}
	return r
}

// signalIf is signalWhen with a second condition, still, checked while the
// process is stopped (SIGSTOP) just before sig is sent: a phase that ready
// saw begin may have ended before the signal. If still fails, the process
// is killed and ok is false: the caller tries again.
func (e *env) signalIf(sig syscall.Signal, ready func(stderr string) bool, still func() bool, bin string, args ...string) (res result, ok bool) {
	e.t.Helper()
	cmd := command(bin, args...)
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for !ready(se.String()) {
		select {
		case err := <-done:
			e.t.Fatalf("%s finished (%v) before the point to signal it; stderr:\n%s", filepath.Base(bin), err, se.String())
		case <-deadline:
			cmd.Process.Kill()
			<-done
			e.t.Fatalf("%s never reached the point to signal it; stderr:\n%s", filepath.Base(bin), se.String())
		case <-time.After(time.Millisecond):
		}
	}
	if still != nil {
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			e.t.Fatal(err)
		}
		if !still() {
			cmd.Process.Kill()
			<-done
			return result{}, false
		}
	}
	if err := cmd.Process.Signal(sig); err != nil {
		e.t.Fatal(err)
	}
	if still != nil {
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			e.t.Fatal(err)
		}
	}
	err := <-done
	return result{exitCode(e.t, err), so.String(), se.String()}, true
}

// glob reports whether pattern (relative to dir) matches anything.
func glob(dir, pattern string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return len(m) > 0
}

var (
	reSHA256   = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	reVersion  = regexp.MustCompile(`\b[0-9a-f]{12}\b`)
	reTmpName  = regexp.MustCompile(`\.tmp-<version>-\d+`)
	reDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m)\b`)
	reLoopback = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	reSpace    = regexp.MustCompile(`\s+`)
	reNewline  = regexp.MustCompile(`\s*\n\s*`)
)

// scrub makes a message independent of the machine and the run: temporary
// paths become placeholders, hashes, versions, durations and ports
// disappear, and lines are joined.
func (e *env) scrub(s string) string {
	for _, n := range e.names {
		s = strings.ReplaceAll(s, n[0], n[1])
	}
	s = reSHA256.ReplaceAllString(s, "<sha256>")
	s = reVersion.ReplaceAllString(s, "<version>")
	s = reTmpName.ReplaceAllString(s, ".tmp-<version>-<n>")
	s = reDuration.ReplaceAllString(s, "<t>")
	s = reLoopback.ReplaceAllString(s, "http://<mirror>")
	s = reNewline.ReplaceAllString(strings.TrimSpace(s), " / ")
	return strings.TrimSpace(reSpace.ReplaceAllString(s, " "))
}

// finalError returns the error a failed run printed last: from the last
// stderr line that starts with the command's prefix to the end.
func finalError(stderr, prefix string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return strings.Join(lines[i:], "\n")
		}
	}
	return strings.TrimSpace(stderr)
}

// lineWith returns the first stderr line containing sub, or "".
func lineWith(stderr, sub string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// dataset state, for the "on disk" column.
type dsState struct {
	versions []string // published version directories
	temps    []string // .tmp-* directories
	latest   string   // target of the latest link
	verified bool     // prep verify passed on every version
	verify   string   // its error otherwise
}

func (e *env) state(dataset string) dsState {
	e.t.Helper()
	dir := filepath.Join(e.out, dataset)
	var s dsState
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		switch name := ent.Name(); {
		case reVersionDir.MatchString(name) && ent.IsDir():
			s.versions = append(s.versions, name)
		case strings.HasPrefix(name, ".tmp-"), strings.HasPrefix(name, ".old-"), strings.HasPrefix(name, ".latest-"):
			s.temps = append(s.temps, name)
		}
	}
	s.latest, _ = os.Readlink(filepath.Join(dir, "latest"))
	s.verified = true
	for _, v := range s.versions {
		if r := e.run(prepBin, "verify", filepath.Join(dir, v)); r.code != 0 {
			s.verified, s.verify = false, finalError(r.stderr, "prep: ")
		}
	}
	return s
}

var reVersionDir = regexp.MustCompile(`^[0-9a-f]{12}$`)

// String describes the state for the report.
func (s dsState) String() string {
	var parts []string
	switch {
	case len(s.versions) == 0:
		parts = append(parts, "no version dir")
	case len(s.versions) == 1 && s.verified:
		parts = append(parts, "one version dir, `prep verify` passes")
	case len(s.versions) == 1:
		parts = append(parts, "one version dir, `prep verify` FAILS")
	default:
		parts = append(parts, fmt.Sprintf("%d version dirs", len(s.versions)))
	}
	if len(s.temps) == 0 {
		parts = append(parts, "no temp dir")
	} else {
		parts = append(parts, fmt.Sprintf("%d temp dir(s)", len(s.temps)))
	}
	return strings.Join(parts, ", ")
}

// clean asserts that a failed or interrupted run left nothing behind.
func (s dsState) clean(t *testing.T) {
	t.Helper()
	if len(s.versions) != 0 || len(s.temps) != 0 {
		t.Fatalf("left on disk: versions %v, temp dirs %v", s.versions, s.temps)
	}
}

// published asserts one verified version.
func (s dsState) published(t *testing.T) {
	t.Helper()
	if len(s.versions) != 1 || !s.verified || len(s.temps) != 0 || s.latest != s.versions[0] {
		t.Fatalf("want one verified version and no temp dir; versions %v (verify: %s), temps %v, latest %q", s.versions, s.verify, s.temps, s.latest)
	}
}

// cacheFiles counts the verified entries of a download cache.
func cacheFiles(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "sha256", "*"))
	n := 0
	for _, p := range m {
		if reSHA256.MatchString(filepath.Base(p)) && !strings.Contains(filepath.Base(p), ".") {
			n++
		}
	}
	return n
}

// Datasets shared by the cases (written once; read-only afterwards).
var (
	smallOnce, largeOnce sync.Once
	smallSet, largeSet   *tinyset.Set
	smallErr, largeErr   error
	smallDir, largeDir   string
)

// small is a dataset a run builds in well under a second.
func small(t *testing.T) *tinyset.Set {
	t.Helper()
	smallOnce.Do(func() {
		smallDir, smallErr = os.MkdirTemp("", "reliability-small-")
		if smallErr == nil {
			smallSet, smallErr = tinyset.Write(smallDir, tinyset.Spec{Train: 3000, Test: 500, Side: 12, Seed: 11})
		}
	})
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return smallSet
}

// large is a dataset whose build takes long enough to be interrupted in
// each phase.
func large(t *testing.T) *tinyset.Set {
	t.Helper()
	largeOnce.Do(func() {
		largeDir, largeErr = os.MkdirTemp("", "reliability-large-")
		if largeErr == nil {
			largeSet, largeErr = tinyset.Write(largeDir, tinyset.Spec{Train: 30000, Test: 2000, Side: 28, Seed: 12})
		}
	})
	if largeErr != nil {
		t.Fatal(largeErr)
	}
	return largeSet
}

// writeConfig writes a config for set named dataset (extra YAML appended)
// into the case's data directory and returns its path.
func (e *env) writeConfig(set *tinyset.Set, dataset, extra string) string {
	e.t.Helper()
	p := filepath.Join(e.data, dataset+".yaml")
	if err := os.WriteFile(p, []byte(set.Config(dataset, extra)), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if set == smallSet {
		e.name(smallDir, "$DATA")
	}
	if set == largeSet {
		e.name(largeDir, "$DATA")
	}
	return p
}

// withMirrors replaces the mirror list of a config.
func withMirrors(t *testing.T, cfgPath string, mirrors ...string) {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	q := make([]string, len(mirrors))
	for i, m := range mirrors {
		q[i] = fmt.Sprintf("%q", m)
	}
	out := regexp.MustCompile(`(?m)^mirrors: .*$`).ReplaceAll(b, []byte("mirrors: ["+strings.Join(q, ", ")+"]"))
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func cleanupShared() {
	for _, d := range []string{smallDir, largeDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

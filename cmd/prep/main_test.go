package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/formats/idx"
)

var prepBin string

// TestMain builds the prep binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "prep-cmd-test-")
	if err != nil {
		panic(err)
	}
	prepBin = filepath.Join(dir, "prep")
	if out, err := exec.Command("go", "build", "-o", prepBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building prep: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runPrep(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(prepBin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, so.String(), se.String()}
}

// writeDataset writes a synthetic IDX dataset and a config whose single
// mirror is mirror (a URL prefix; "" means the dataset directory itself).
func writeDataset(t *testing.T, nTrain, nTest, side int, mirror string) (cfgPath, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	r := rand.New(rand.NewPCG(uint64(nTrain), 3))
	y := ""
	for _, f := range []struct {
		key  string
		dims []int
	}{{"train_images", []int{nTrain, side, side}}, {"train_labels", []int{nTrain}}, {"test_images", []int{nTest, side, side}}, {"test_labels", []int{nTest}}} {
		h := idx.Header{Type: idx.U8, Dims: f.dims}
		data := make([]uint8, h.Len())
		for i := range data {
			data[i] = uint8(r.IntN(256))
			if len(f.dims) == 1 {
				data[i] %= 10
			}
		}
		var buf bytes.Buffer
		if err := idx.WriteGzip(&buf, h, data); err != nil {
			t.Fatal(err)
		}
		name := f.key + ".gz"
		if err := os.WriteFile(filepath.Join(dataDir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		y += fmt.Sprintf("  %s: {file: %s, sha256: %s}\n", f.key, name, hex.EncodeToString(sum[:]))
	}
	if mirror == "" {
		mirror = "file://" + dataDir + "/"
	}
	cfg := fmt.Sprintf("dataset: tiny\nmirrors: [%q]\nsources:\n%ssplit: {seed: 1, val_fraction: 0.1}\nshards: {rows: 500}\n", mirror, y)
	cfgPath = filepath.Join(dataDir, "tiny.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dataDir
}

func TestHelpAndUsageErrors(t *testing.T) {
	if r := runPrep(t, "help"); r.code != 0 || !strings.Contains(r.stdout, "prep run CONFIG") {
		t.Fatalf("help: %+v", r)
	}
	if r := runPrep(t); r.code != 2 {
		t.Fatalf("no arguments: exit %d", r.code)
	}
	if r := runPrep(t, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, "unknown command") {
		t.Fatalf("unknown command: %+v", r)
	}
	if r := runPrep(t, "run", "--help"); r.code != 0 || !strings.Contains(r.stderr, "--workers") || !strings.Contains(r.stderr, "atomic rename") {
		t.Fatalf("run --help: %+v", r)
	}
	if r := runPrep(t, "run"); r.code != 2 {
		t.Fatalf("run without config: exit %d", r.code)
	}
	if r := runPrep(t, "run", "no-such.yaml"); r.code != 1 || !strings.Contains(r.stderr, "no-such.yaml") {
		t.Fatalf("missing config: %+v", r)
	}
}

func TestRunShowVerifyLs(t *testing.T) {
	cfg, _ := writeDataset(t, 1200, 300, 6, "")
	out := t.TempDir()
	cache := t.TempDir()
	r := runPrep(t, "run", cfg, "--out", out, "--cache", cache, "--json")
	if r.code != 0 {
		t.Fatalf("run: %+v", r)
	}
	var rep runJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if rep.UpToDate || rep.Splits["train"] != 1080 || rep.Splits["val"] != 120 || rep.Splits["test"] != 300 || len(rep.Stages) < 3 || rep.Stages[0].Rows != 1500 {
		t.Fatalf("report %+v", rep)
	}
	r = runPrep(t, "run", cfg, "--out", out, "--cache", cache, "--workers", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "up to date") || !strings.Contains(r.stdout, rep.Short) {
		t.Fatalf("second run: %+v", r)
	}
	latest := filepath.Join(out, "tiny", "latest")
	if r = runPrep(t, "verify", latest); r.code != 0 || !strings.Contains(r.stdout, "all 5 shards verified") {
		t.Fatalf("verify: %+v", r)
	}
	if r = runPrep(t, "show", latest); r.code != 0 || !strings.Contains(r.stdout, "6x6x1 float32") || !strings.Contains(r.stdout, rep.Version) {
		t.Fatalf("show: %+v", r)
	}
	if r = runPrep(t, "ls", out); r.code != 0 || !strings.Contains(r.stdout, rep.Short) || !strings.Contains(r.stdout, "*") {
		t.Fatalf("ls: %+v", r)
	}
	if r = runPrep(t, "reproduce", latest, "--cache", cache); r.code != 0 || !strings.Contains(r.stdout, "5 identical") {
		t.Fatalf("reproduce: %+v", r)
	}
	// A damaged shard fails verify with exit 1 and names it.
	shard := filepath.Join(out, "tiny", rep.Short, "val-00000-of-00001.arrow")
	b, _ := os.ReadFile(shard)
	b[100] ^= 1
	os.WriteFile(shard, b, 0o644)
	if r = runPrep(t, "verify", latest); r.code != 1 || !strings.Contains(r.stderr, "val-00000-of-00001.arrow") {
		t.Fatalf("verify of a damaged version: %+v", r)
	}
}

func TestBadConfigNamesTheLine(t *testing.T) {
	cfg, _ := writeDataset(t, 10, 10, 2, "")
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(data, []byte("shards_rows: 5\n")...), 0o644)
	r := runPrep(t, "run", cfg, "--out", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "line 10") || !strings.Contains(r.stderr, "shards_rows") {
		t.Fatalf("%+v", r)
	}
}

// interrupt starts prep run, waits until ready() is true, sends sig, and
// returns the exit code and stderr.
func interrupt(t *testing.T, sig syscall.Signal, ready func() bool, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(prepBin, args...)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("prep never reached the point to interrupt")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(sig)
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return code, se.String()
}

// entries lists what the dataset directory holds besides the lock.
func entries(dir string) []string {
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		if e.Name() != ".lock" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestInterruptDuringDownload(t *testing.T) {
	requested := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requested <- struct{}{}
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(200)
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall until the client goes away
	}))
	defer srv.Close()
	cfg, dataDir := writeDataset(t, 100, 20, 4, srv.URL+"/")
	out, cache := t.TempDir(), t.TempDir()
	code, stderr := interrupt(t, syscall.SIGINT, func() bool { return len(requested) > 0 }, "run", cfg, "--out", out, "--cache", cache)
	if code != 130 || !strings.Contains(stderr, "interrupted") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if e := entries(filepath.Join(out, "tiny")); len(e) != 0 {
		t.Fatalf("left in the output: %v", e)
	}
	// The same config from a reachable mirror then succeeds.
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(data, []byte(srv.URL+"/"), []byte("file://"+dataDir+"/"), 1), 0o644)
	if r := runPrep(t, "run", cfg, "--out", out, "--cache", cache); r.code != 0 {
		t.Fatalf("run after the interrupt: %+v", r)
	}
}

func TestInterruptDuringShardWriting(t *testing.T) {
	cfg, _ := writeDataset(t, 30000, 5000, 28, "")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		out, cache := t.TempDir(), t.TempDir()
		ds := filepath.Join(out, "tiny")
		shardWritten := func() bool {
			m, _ := filepath.Glob(filepath.Join(ds, ".tmp-*", "*.arrow"))
			return len(m) > 0
		}
		code, stderr := interrupt(t, sig, shardWritten, "run", cfg, "--out", out, "--cache", cache, "--workers", "1")
		want := map[syscall.Signal]int{syscall.SIGTERM: 143, syscall.SIGINT: 130}[sig]
		if code != want {
			t.Fatalf("%v: exit %d, want %d; stderr:\n%s", sig, code, want, stderr)
		}
		if e := entries(ds); len(e) != 0 {
			t.Fatalf("%v: left in the output: %v", sig, e)
		}
		r := runPrep(t, "run", cfg, "--out", out, "--cache", cache, "--quiet")
		if r.code != 0 {
			t.Fatalf("run after %v: %+v", sig, r)
		}
		clean := runPrep(t, "run", cfg, "--out", t.TempDir(), "--cache", cache, "--quiet")
		if strings.TrimSpace(r.stdout) != strings.TrimSpace(clean.stdout) {
			t.Fatalf("version after the interrupt %q differs from a clean run's %q", r.stdout, clean.stdout)
		}
	}
}

// Two runs of the same config at once: one builds, the other waits and finds
// it up to date; one valid version results.
func TestConcurrentRuns(t *testing.T) {
	cfg, _ := writeDataset(t, 8000, 1000, 28, "")
	out, cache := t.TempDir(), t.TempDir()
	cmds := make([]*exec.Cmd, 2)
	outs := make([]*bytes.Buffer, 2)
	errs := make([]*bytes.Buffer, 2)
	for i := range cmds {
		outs[i] = &bytes.Buffer{}
		cmds[i] = exec.Command(prepBin, "run", cfg, "--out", out, "--cache", cache)
		cmds[i].Stdout = outs[i]
		errs[i] = &bytes.Buffer{}
		cmds[i].Stderr = errs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, errs[i])
		}
	}
	built, upToDate := 0, 0
	for _, o := range outs {
		sc := bufio.NewScanner(o)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "built ") {
				built++
			}
			if strings.Contains(sc.Text(), "up to date") {
				upToDate++
			}
		}
	}
	if built+upToDate != 2 || built < 1 {
		t.Fatalf("built %d, up to date %d:\n%s\n%s", built, upToDate, outs[0], outs[1])
	}
	if e := entries(filepath.Join(out, "tiny")); len(e) != 2 { // the version and latest
		t.Fatalf("dataset directory holds %v", e)
	}
	if r := runPrep(t, "verify", filepath.Join(out, "tiny", "latest")); r.code != 0 {
		t.Fatalf("verify: %+v", r)
	}
}

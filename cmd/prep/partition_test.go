package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// partitionSet writes a set with enough shards that 7 partitions all get
// several (51: 44 train, 3 val, 4 test), augmented so that a partition runs
// long enough to be killed in the middle, and returns its config.
func partitionSet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	set, err := tinyset.Write(dir, tinyset.Spec{Train: 6000, Test: 1000, Side: 16, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tiny.yaml")
	extra := "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 250}\n" +
		"augment: {copies: 1, seed: 3, ops: [{rotate: {degrees: 10}}, {elastic: {alpha: 8, sigma: 3}}]}\n"
	if err := os.WriteFile(cfg, []byte(set.Config("tiny", extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// versionFiles maps the files of the version latest names under out/tiny to
// their bytes, the manifest without its created time.
func versionFiles(t *testing.T, out string) (string, map[string][]byte) {
	t.Helper()
	ds := filepath.Join(out, "tiny")
	v, err := os.Readlink(filepath.Join(ds, manifest.LatestName))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	entries, err := os.ReadDir(filepath.Join(ds, v))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(ds, v, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == manifest.FileName {
			m, err := manifest.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			m.Created = ""
			if b, err = m.Marshal(); err != nil {
				t.Fatal(err)
			}
		}
		files[e.Name()] = b
	}
	return v, files
}

// runUntilShard starts a partition run and kills it with SIGKILL as soon
// as a shard file appears in its run directory: in the middle of its
// build, with its receipt not yet written. It reports false if the run
// finished before it could be killed.
func runUntilShard(t *testing.T, stage string, p string, args ...string) bool {
	t.Helper()
	cmd := exec.Command(prepBin, args...)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var i, n int
	fmt.Sscanf(p, "%d/%d", &i, &n)
	// A shard appears in the run directory when its file is created.
	pattern := filepath.Join(stage, fmt.Sprintf(".run-%05d-of-%05d-*", i, n), "*.arrow")
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("partition %s failed before it could be killed: %v\n%s", p, err, se.String())
			}
			return false
		default:
		}
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			ws, ok := err.(*exec.ExitError)
			if !ok || !ws.Sys().(syscall.WaitStatus).Signaled() {
				return false // it finished between the glob and the signal
			}
			return true
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPartitionsInParallelProcesses builds one version in N = 1, 3 and 7
// partitions, each in its own process and all at once, kills one partition
// with SIGKILL in the middle of its build, checks that the commit refuses
// to publish without it, reruns it, commits, and compares every byte with a
// one-process build.
func TestPartitionsInParallelProcesses(t *testing.T) {
	cfg := partitionSet(t)
	cache := t.TempDir()
	refOut := t.TempDir()
	if r := runPrep(t, "run", cfg, "--out", refOut, "--cache", cache, "--quiet"); r.code != 0 {
		t.Fatalf("one-process build: exit %d\n%s", r.code, r.stderr)
	}
	refVersion, ref := versionFiles(t, refOut)
	if len(ref) != 52 {
		t.Fatalf("the reference version has %d files; want 51 shards and the manifest", len(ref))
	}
	for _, n := range []int{1, 3, 7} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			out := t.TempDir()
			stage := filepath.Join(out, "tiny", ".partitions-"+refVersion)
			killed := fmt.Sprintf("%d/%d", n/2, n)
			base := []string{"run", cfg, "--out", out, "--cache", cache, "--json"}

			// All the partitions but the one to kill, at once.
			cmds := map[string]*exec.Cmd{}
			outs := map[string]*bytes.Buffer{}
			for i := 0; i < n; i++ {
				p := fmt.Sprintf("%d/%d", i, n)
				if p == killed {
					continue
				}
				cmd := exec.Command(prepBin, append(base, "--partition", p)...)
				outs[p] = &bytes.Buffer{}
				cmd.Stdout, cmd.Stderr = outs[p], &bytes.Buffer{}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds[p] = cmd
			}
			// Meanwhile the killed one; a run that wins the race against the
			// kill has its receipt removed and is run again.
			var ki, kn int
			fmt.Sscanf(killed, "%d/%d", &ki, &kn)
			receipt := filepath.Join(stage, fmt.Sprintf("partition-%05d-of-%05d.json", ki, kn))
			attempt := 0
			for ; attempt < 10; attempt++ {
				if runUntilShard(t, stage, killed, append(base, "--partition", killed, "--workers", "1")...) {
					break
				}
				if err := os.Remove(receipt); err != nil {
					t.Fatal(err)
				}
			}
			if attempt == 10 {
				t.Fatalf("partition %s finished 10 times before it could be killed", killed)
			}
			t.Logf("partition %s killed in the middle of its build at attempt %d", killed, attempt+1)
			for p, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("partition %s: %v\n%s", p, err, cmd.Stderr)
				}
				var rep partitionJSON
				if err := json.Unmarshal(outs[p].Bytes(), &rep); err != nil || rep.Shards == 0 || rep.Partition != p {
					t.Fatalf("partition %s reported %+v (%v); want its shards\n%s", p, rep, err, outs[p])
				}
			}

			// What the kill left: no receipt; a run directory; in the staging
			// area only whole shards, each the bytes of the reference.
			if _, err := os.Stat(receipt); err == nil {
				t.Fatalf("the killed partition %s left a receipt", killed)
			}
			if m, _ := filepath.Glob(filepath.Join(stage, fmt.Sprintf(".run-%05d-of-%05d-*", ki, kn))); len(m) != 1 {
				t.Fatalf("the killed partition left %d run directories; want 1", len(m))
			}
			entries, _ := os.ReadDir(stage)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".arrow") {
					b, _ := os.ReadFile(filepath.Join(stage, e.Name()))
					if !bytes.Equal(b, ref[e.Name()]) {
						t.Errorf("staged shard %s differs from the one-process build's", e.Name())
					}
				}
			}

			// The commit refuses, naming the partition, and publishes nothing.
			r := runPrep(t, "commit", cfg, "--out", out, "--cache", cache, "--partitions", fmt.Sprint(n))
			if r.code != 1 || !strings.Contains(r.stderr, "partitions have no receipt") || !strings.Contains(r.stderr, killed) || !strings.Contains(r.stderr, "nothing published") {
				t.Fatalf("commit without partition %s: exit %d\n%s%s", killed, r.code, r.stdout, r.stderr)
			}
			if _, err := os.Lstat(filepath.Join(out, "tiny", manifest.LatestName)); err == nil {
				t.Fatal("a refused commit made latest")
			}
			if _, err := os.Stat(filepath.Join(out, "tiny", refVersion)); err == nil {
				t.Fatal("a refused commit published the version")
			}

			// Rerun it; commit.
			if r := runPrep(t, append(base, "--partition", killed)...); r.code != 0 {
				t.Fatalf("rerun of partition %s: exit %d\n%s", killed, r.code, r.stderr)
			}
			r = runPrep(t, "commit", cfg, "--out", out, "--cache", cache)
			if r.code != 0 || !strings.Contains(r.stdout, "committed tiny version "+refVersion) {
				t.Fatalf("commit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			v, got := versionFiles(t, out)
			if v != refVersion || len(got) != len(ref) {
				t.Fatalf("committed version %s with %d files; want %s with %d", v, len(got), refVersion, len(ref))
			}
			for name, b := range ref {
				if !bytes.Equal(got[name], b) {
					t.Errorf("%s differs from the one-process build", name)
				}
			}
			if _, err := os.Stat(stage); err == nil {
				t.Error("the staging area is still there after the commit")
			}
			if r := runPrep(t, "verify", filepath.Join(out, "tiny", "latest")); r.code != 0 {
				t.Fatalf("verify: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// Bad --partition values are usage errors (exit 2) that say what is wrong.
func TestPartitionFlagRefusesBadValues(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "missing.yaml")
	for v, want := range map[string]string{
		"7/7":                       "must be below N",
		"/7":                        "index I is empty",
		"3":                         "want I/N",
		"$(JOB_COMPLETION_INDEX)/7": "is not a non-negative decimal integer",
	} {
		r := runPrep(t, "run", cfg, "--partition", v)
		if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "-partition") {
			t.Errorf("--partition %q: exit %d, want 2 saying %q\n%s", v, r.code, want, r.stderr)
		}
	}
	if r := runPrep(t, "commit", cfg, "--partitions", "-1"); r.code != 2 {
		t.Errorf("--partitions -1: exit %d, want 2\n%s", r.code, r.stderr)
	}
}

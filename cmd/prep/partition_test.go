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
	"github.com/shardsmith/shardsmith/internal/store/storetest"
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
// as a shard file appears in its run directory (a file matching the glob
// pattern): in the middle of its build, with its receipt not yet written.
// It reports false if the run finished before it could be killed.
func runUntilShard(t *testing.T, pattern string, p string, args ...string) bool {
	t.Helper()
	cmd := exec.Command(prepBin, args...)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
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
				// A shard appears in the run directory when its file is created.
				pattern := filepath.Join(stage, fmt.Sprintf(".run-%05d-of-%05d-*", ki, kn), "*.arrow")
				if runUntilShard(t, pattern, killed, append(base, "--partition", killed, "--workers", "1")...) {
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

// TestPartitionsIntoStoreInParallelProcesses builds one version into an
// object store (versitygw) in 3 partitions, each in its own process and all
// at once, kills one with SIGKILL in the middle of its build, checks that
// the commit refuses to publish without it, reruns it, commits, and
// compares every object with a one-process build into the same store.
func TestPartitionsIntoStoreInParallelProcesses(t *testing.T) {
	srv := storetest.Start(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where a partition into a store builds its shards
	cfg := partitionSet(t)
	cache := t.TempDir()
	if r := runPrep(t, "run", cfg, "--out", srv.URL("one"), "--cache", cache, "--quiet"); r.code != 0 {
		t.Fatalf("one-process build: exit %d\n%s", r.code, r.stderr)
	}
	objects := func(prefix string) map[string][]byte {
		t.Helper()
		files := map[string][]byte{}
		root := srv.ObjectPath(prefix)
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			if filepath.Base(p) == manifest.FileName {
				m, err := manifest.Parse(b)
				if err != nil {
					return err
				}
				m.Created = ""
				b, _ = m.Marshal()
			}
			files[filepath.ToSlash(rel)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	ref := objects("one")
	if len(ref) != 53 {
		t.Fatalf("the one-process build left %d objects; want 51 shards, the manifest and latest", len(ref))
	}
	out := srv.URL("parts")
	const n = 3
	killed := "1/3"
	base := []string{"run", cfg, "--out", out, "--cache", cache, "--json"}
	var cmds []*exec.Cmd
	for _, p := range []string{"0/3", "2/3"} {
		cmd := exec.Command(prepBin, append(base, "--partition", p)...)
		cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	pattern := filepath.Join(tmp, "shardsmith-partition-*-00001-of-00003-*", "*.arrow")
	attempt := 0
	for ; attempt < 10; attempt++ {
		if runUntilShard(t, pattern, killed, append(base, "--partition", killed, "--workers", "1")...) {
			break
		}
		// It won the race against the kill: take its receipt away.
		for k := range objects("parts") {
			if strings.HasSuffix(k, "partition-00001-of-00003.json") {
				os.Remove(srv.ObjectPath("parts/" + k))
			}
		}
	}
	if attempt == 10 {
		t.Fatalf("partition %s finished 10 times before it could be killed", killed)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd.Args, err, cmd.Stderr)
		}
	}
	for k, b := range objects("parts") {
		if strings.HasSuffix(k, ".arrow") && !bytes.Equal(b, ref[k]) {
			t.Errorf("uploaded shard %s differs from the one-process build's", k)
		}
		if strings.HasSuffix(k, manifest.FileName) || k == "tiny/latest" {
			t.Errorf("%s exists before the commit", k)
		}
	}

	r := runPrep(t, "commit", cfg, "--out", out, "--cache", cache, "--partitions", fmt.Sprint(n))
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 3 partitions have no receipt") || !strings.Contains(r.stderr, killed) || !strings.Contains(r.stderr, "nothing published") {
		t.Fatalf("commit without partition %s: exit %d\n%s%s", killed, r.code, r.stdout, r.stderr)
	}
	if r := runPrep(t, append(base, "--partition", killed)...); r.code != 0 {
		t.Fatalf("rerun of partition %s: exit %d\n%s", killed, r.code, r.stderr)
	}
	r = runPrep(t, "commit", cfg, "--out", out, "--cache", cache)
	if r.code != 0 || !strings.Contains(r.stdout, "committed tiny version ") {
		t.Fatalf("commit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got := objects("parts")
	if len(got) != len(ref) {
		t.Errorf("%d objects after the commit; the one-process build has %d", len(got), len(ref))
	}
	for k, b := range ref {
		if !bytes.Equal(got[k], b) {
			t.Errorf("%s differs from the one-process build", k)
		}
	}
	if r := runPrep(t, "verify", out+"/tiny/latest"); r.code != 0 {
		t.Fatalf("verify: exit %d\n%s", r.code, r.stderr)
	}
	// The rerun removed the local build directory the killed run left.
	if m, _ := filepath.Glob(filepath.Join(tmp, "shardsmith-*-*-*", "*")); len(m) > 0 {
		t.Errorf("local build directories left: %v", m)
	}
}

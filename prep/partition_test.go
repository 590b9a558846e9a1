package prep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
)

func TestParsePartition(t *testing.T) {
	good := map[string]Partition{"0/1": {0, 1}, "3/7": {3, 7}, " 6/7\n": {6, 7}, "2 of 4": {2, 4}, "99999/100000": {99999, 100000}, "007/10": {7, 10}}
	for s, want := range good {
		if got, err := ParsePartition(s); err != nil || got != want {
			t.Errorf("ParsePartition(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	bad := map[string]string{
		"":                          "want I/N",
		"3":                         "want I/N",
		"/7":                        "index I is empty",
		"3/":                        "count N is empty",
		"7/7":                       "must be below N",
		"8/7":                       "must be below N",
		"0/0":                       "at least 1",
		"-1/4":                      `"-1" is not a non-negative decimal integer`,
		"+1/4":                      "not a non-negative decimal integer",
		"1.0/4":                     "not a non-negative decimal integer",
		"1/4/5":                     `"4/5" is not`,
		"0x1/4":                     "not a non-negative decimal integer",
		"$(JOB_COMPLETION_INDEX)/4": "not a non-negative decimal integer",
		"1/100001":                  "more than 100000",
		"1/99999999999999999999":    "more than 100000",
	}
	for s, want := range bad {
		_, err := ParsePartition(s)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Errorf("ParsePartition(%q) = %v; want an error naming the value and saying %q", s, err, want)
		}
	}
}

func TestAssignShardsRoundRobin(t *testing.T) {
	got := assignShards([]int{5, 0, 2}, 3)
	want := [][]shardRef{{{0, 0}, {0, 3}, {2, 1}}, {{0, 1}, {0, 4}}, {{0, 2}, {2, 0}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("assignShards = %v, want %v", got, want)
	}
	// More partitions than shards: the last ones are empty.
	if got := assignShards([]int{1, 1}, 4); len(got[0]) != 1 || len(got[1]) != 1 || len(got[2]) != 0 || len(got[3]) != 0 {
		t.Fatalf("assignShards over 4 = %v", got)
	}
}

// partitionConfigs exercise what decides where a row lands: augmented
// copies whose image straddles two shards (rows 40 and 3 rows an image),
// dropped labels with remapping, val carved from train, uint8 and Parquet.
var partitionConfigs = map[string]string{
	"augmented": "split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 40, batch_rows: 16}\n" +
		"augment:\n  copies: 2\n  seed: 5\n  ops:\n    - rotate: {degrees: 15}\n    - noise: {stddev: 0.1, p: 0.5}\n",
	"filtered parquet": "split: {seed: 2, val_count: 10, labels: [7, 2, 4], remap: true}\nnormalize: {mode: none}\nshards: {rows: 7, format: parquet}\n",
}

// buildPartitions runs every partition of n in turn, then commits.
func buildPartitions(t *testing.T, cfg *config.Config, out string, n int) *Result {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{i, n}); err != nil {
			t.Fatalf("partition %d/%d: %v", i, n, err)
		}
	}
	res, err := Commit(context.Background(), cfg, testOptions(t, out), 0)
	if err != nil {
		t.Fatalf("commit of %d partitions: %v", n, err)
	}
	return res
}

// sameVersion fails unless two version directories hold the same files
// with the same bytes, the manifests differing only in created.
func sameVersion(t *testing.T, want, got string) {
	t.Helper()
	wf, gf := dirFiles(t, want), dirFiles(t, got)
	if len(wf) != len(gf) {
		t.Fatalf("%d files, want %d", len(gf), len(wf))
	}
	for name, b := range wf {
		g, ok := gf[name]
		if name == manifest.FileName {
			b, g = dropCreated(t, b), dropCreated(t, g)
		}
		if !ok || !bytes.Equal(b, g) {
			t.Errorf("%s differs from the one-process build", name)
		}
	}
}

func dropCreated(t *testing.T, b []byte) []byte {
	t.Helper()
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Created = ""
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPartitionedBuildIsTheOneProcessBuild(t *testing.T) {
	ts := writeTiny(t, 300, 60, 6, 6, 11)
	for name, extra := range partitionConfigs {
		t.Run(name, func(t *testing.T) {
			cfg := ts.config(t, extra)
			ref := build(t, cfg, testOptions(t, t.TempDir()))
			shards := 0
			for _, sp := range ref.Manifest.Splits {
				shards += len(sp.Shards)
			}
			if shards < 8 {
				t.Fatalf("the reference has %d shards; want enough for partitions to share", shards)
			}
			for _, n := range []int{1, 2, 3, 7, shards + 3} {
				out := t.TempDir()
				res := buildPartitions(t, cfg, out, n)
				if res.Manifest.Version != ref.Manifest.Version || filepath.Base(res.Dir) != filepath.Base(ref.Dir) {
					t.Fatalf("N=%d: version %s, want %s", n, res.Manifest.Version, ref.Manifest.Version)
				}
				sameVersion(t, ref.Dir, res.Dir)
				if _, err := Verify(res.Dir); err != nil {
					t.Fatalf("N=%d: %v", n, err)
				}
				if got := leftovers(t, filepath.Join(out, "tiny")); !slices.Equal(got, []string{ref.Manifest.ShortVersion()}) {
					t.Errorf("N=%d: the dataset directory holds %v after the commit; want only the version", n, got)
				}
				if l, err := os.Readlink(filepath.Join(out, "tiny", manifest.LatestName)); err != nil || l != ref.Manifest.ShortVersion() {
					t.Errorf("N=%d: latest is %q, %v", n, l, err)
				}
			}
		})
	}
}

// stagedSet builds partitions of n, all but those in skip, of the augmented
// config, and returns the config, the output root and the staging area.
func stagedSet(t *testing.T, n int, skip ...int) (*config.Config, string, string) {
	t.Helper()
	ts := writeTiny(t, 300, 60, 6, 6, 11)
	cfg := ts.config(t, partitionConfigs["augmented"])
	out := t.TempDir()
	var stage string
	for i := 0; i < n; i++ {
		if slices.Contains(skip, i) {
			continue
		}
		res, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{i, n})
		if err != nil {
			t.Fatal(err)
		}
		stage = res.Dir
	}
	return cfg, out, stage
}

// nothingPublished fails if a version directory or latest exists.
func nothingPublished(t *testing.T, out string) {
	t.Helper()
	for _, name := range leftovers(t, filepath.Join(out, "tiny")) {
		if !strings.HasPrefix(name, stagingPrefix) {
			t.Errorf("%s exists after a refused commit", name)
		}
	}
	if _, err := os.Lstat(filepath.Join(out, "tiny", manifest.LatestName)); err == nil {
		t.Error("latest exists after a refused commit")
	}
}

func TestCommitRefusesMissingPartitions(t *testing.T) {
	cfg, out, _ := stagedSet(t, 5, 1, 3)
	_, err := Commit(context.Background(), cfg, testOptions(t, out), 0)
	var ce *CommitError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "2 of 5 partitions have no receipt") || !strings.Contains(err.Error(), "1/5, 3/5") {
		t.Fatalf("commit with partitions 1 and 3 missing: %v", err)
	}
	nothingPublished(t, out)
	// --partitions 6 names every partition of 6 as missing but those found.
	_, err = Commit(context.Background(), cfg, testOptions(t, out), 6)
	if err == nil || !strings.Contains(err.Error(), "6 of 6 partitions have no receipt") {
		t.Fatalf("commit --partitions 6: %v", err)
	}
	// Building the missing ones completes it.
	for _, i := range []int{1, 3} {
		if _, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{i, 5}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 5); err != nil {
		t.Fatal(err)
	}
}

func TestCommitWithoutAnyPartition(t *testing.T) {
	ts := writeTiny(t, 100, 20, 6, 6, 1)
	cfg := ts.config(t, partitionConfigs["augmented"])
	out := t.TempDir()
	_, err := Commit(context.Background(), cfg, testOptions(t, out), 0)
	if err == nil || !strings.Contains(err.Error(), "no partition of tiny version") || !strings.Contains(err.Error(), "--partition I/N") {
		t.Fatalf("commit with nothing built: %v", err)
	}
	nothingPublished(t, out)
}

func TestCommitRefusesDamagedShards(t *testing.T) {
	cfg, out, stage := stagedSet(t, 3)
	r, err := loadReceipt(context.Background(), &localStaging{dir: stage}, "tiny", "", Partition{1, 3})
	if err == nil || !strings.Contains(err.Error(), "is for tiny version") {
		t.Fatalf("loading a receipt for another version: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(stage, receiptName(Partition{1, 3})))
	if r, err = parseReceipt(data); err != nil {
		t.Fatal(err)
	}
	flipped, removed := r.Shards[0].Path, r.Shards[1].Path
	b, err := os.ReadFile(filepath.Join(stage, flipped))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1 // same size, other bytes
	if err := os.WriteFile(filepath.Join(stage, flipped), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(stage, removed)); err != nil {
		t.Fatal(err)
	}
	_, err = Commit(context.Background(), cfg, testOptions(t, out), 0)
	for _, want := range []string{"partition 1/3: shard " + flipped + ": sha256", "receipt says", "partition 1/3: shard " + removed + " is missing", "nothing published"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("commit with damaged shards: %v; want it to say %q", err, want)
		}
	}
	nothingPublished(t, out)
	// A rerun of the partition finds its shards do not verify and rebuilds them.
	res, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{1, 3})
	if err != nil || res.UpToDate {
		t.Fatalf("rerun of the damaged partition: up to date %v, %v", res != nil && res.UpToDate, err)
	}
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 0); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionRunTwiceIsHarmless(t *testing.T) {
	cfg, out, stage := stagedSet(t, 2)
	p := Partition{0, 2}
	path := filepath.Join(stage, receiptName(p))
	before, _ := os.ReadFile(path)
	shardsBefore := dirFiles(t, stage)
	res, err := BuildPartition(context.Background(), cfg, testOptions(t, out), p)
	if err != nil || !res.UpToDate {
		t.Fatalf("second run: up to date %v, %v", res != nil && res.UpToDate, err)
	}
	opts := testOptions(t, out)
	opts.Force = true
	if res, err = BuildPartition(context.Background(), cfg, opts, p); err != nil || res.UpToDate {
		t.Fatalf("forced run: up to date %v, %v", res != nil && res.UpToDate, err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a forced rerun wrote another receipt")
	}
	for name, b := range dirFiles(t, stage) {
		if strings.HasSuffix(name, ".arrow") && !bytes.Equal(b, shardsBefore[name]) {
			t.Errorf("a forced rerun changed %s", name)
		}
	}
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 0); err != nil {
		t.Fatal(err)
	}
	// After the commit a partition run has nothing to do, and a second commit is up to date.
	if res, err = BuildPartition(context.Background(), cfg, testOptions(t, out), p); err != nil || !res.Published {
		t.Fatalf("partition run after the commit: published %v, %v", res != nil && res.Published, err)
	}
	if c, err := Commit(context.Background(), cfg, testOptions(t, out), 0); err != nil || !c.UpToDate {
		t.Fatalf("second commit: %v", err)
	}
}

func TestCommitRefusesReceiptsThatDisagree(t *testing.T) {
	cases := map[string]struct {
		edit func(r *Receipt)
		want string
	}{
		"statistics": {func(r *Receipt) { r.Manifest.Normalize.Mean[0] += 1e-9 }, "describes the version otherwise than partition 0/3"},
		"assignment": {func(r *Receipt) { r.Shards = r.Shards[1:] }, "but the assignment gives it"},
		"splits":     {func(r *Receipt) { r.Splits[0].Rows++ }, "has the splits"},
		"format":     {func(r *Receipt) { r.Format = "other/1" }, `format "other/1"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, out, stage := stagedSet(t, 3)
			path := filepath.Join(stage, receiptName(Partition{2, 3}))
			data, _ := os.ReadFile(path)
			r, err := parseReceipt(data)
			if err != nil {
				t.Fatal(err)
			}
			c.edit(r)
			b, _ := json.Marshal(r)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Commit(context.Background(), cfg, testOptions(t, out), 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("commit: %v; want %q", err, c.want)
			}
			nothingPublished(t, out)
		})
	}
}

func TestCommitWaitsForRunningPartitions(t *testing.T) {
	cfg, out, stage := stagedSet(t, 2)
	l, err := durable.TryLock(filepath.Join(stage, partitionLockName(Partition{1, 2})))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Commit(context.Background(), cfg, testOptions(t, out), 0)
	if err == nil || !strings.Contains(err.Error(), "partition 00001-of-00002 is still running") {
		t.Fatalf("commit while a partition holds its lock: %v", err)
	}
	nothingPublished(t, out)
	l.Unlock()
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 0); err != nil {
		t.Fatal(err)
	}
}

// What a killed partition leaves — a .run directory with a torn shard — is
// never committed and is removed by its next run.
func TestKilledPartitionLeftovers(t *testing.T) {
	cfg, out, stage := stagedSet(t, 3, 2)
	run := filepath.Join(stage, runPrefix(Partition{2, 3})+"killed")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "train-00002-of-00008.arrow"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 3); err == nil || !strings.Contains(err.Error(), "2/3") {
		t.Fatalf("commit with partition 2 killed: %v", err)
	}
	if _, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed run's directory is still there: %v", err)
	}
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 0); err != nil {
		t.Fatal(err)
	}
}

// Image tree sources (their rows carry source_path) partition alike.
func TestPartitionedImageTree(t *testing.T) {
	dir := t.TempDir()
	imageTree(t, filepath.Join(dir, "train"), 1, map[string]int{"cat": 20, "dog": 20})
	imageTree(t, filepath.Join(dir, "test"), 2, map[string]int{"cat": 10, "dog": 10})
	cfg := treeConfig(t, dir, "augment: {copies: 2, seed: 1, ops: [{rotate: {degrees: 10}}]}\n")
	ref := build(t, cfg, testOptions(t, t.TempDir()))
	for _, n := range []int{1, 4, 7} {
		out := t.TempDir()
		for i := 0; i < n; i++ {
			if _, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{i, n}); err != nil {
				t.Fatalf("partition %d/%d: %v", i, n, err)
			}
		}
		res, err := Commit(context.Background(), cfg, testOptions(t, out), n)
		if err != nil {
			t.Fatal(err)
		}
		sameVersion(t, ref.Dir, res.Dir)
	}
}

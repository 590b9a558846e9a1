//go:build unix

package reliability

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
)

// The chaos test's seed and number of kill points per case. The
// defaults keep it well under a minute; a long soak raises them, e.g.
//
//	go test ./reliability -run Chaos -chaos.seed 7 -chaos.kills 400
//
// (or CHAOS_SEED / CHAOS_KILLS in the environment, which also reach a
// plain `go test ./...`). RELIABILITY.md records the default run.
var (
	chaosSeed  = flag.Uint64("chaos.seed", envUint("CHAOS_SEED", 1), "seed of the chaos test's kill points")
	chaosKills = flag.Int("chaos.kills", int(envUint("CHAOS_KILLS", 40)), "kill points per case of the chaos test")
)

// envUint returns the environment variable name as a number, or def
// where it is unset; a value that is not a number is kept in badEnv, for
// the chaos tests to refuse.
func envUint(name string, def uint64) uint64 {
	s, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		badEnv = append(badEnv, fmt.Sprintf("%s=%q is not a non-negative integer", name, s))
		return def
	}
	return v
}

var badEnv []string

var chaos = addSection(110, "Chaos: SIGKILL at random moments",
	"`prep run` and `trainer` are killed with SIGKILL at moments drawn from a seeded generator, uniformly over the duration "+
		"of an uninterrupted run (the median of three measured just before, from the same starting point), so that kills land in every phase, saves and renames included, "+
		"on a tiny dataset. After each kill the invariants below are checked, then the interrupted work is finished and "+
		"compared with the uninterrupted run. What is checked is fixed by the seed; where each kill lands depends on timing. "+
		"`go test ./reliability -run Chaos -chaos.seed S -chaos.kills N` (or `CHAOS_SEED`, `CHAOS_KILLS`) runs a longer soak."+
		chaosSoak,
	func() int { return len(prepChaosModes) + 1 })

// chaosSoak reports the last long soak (measured, not generated: a soak
// takes too long for every run of the suite).
const chaosSoak = "\n\n" +
	"**Long soak.** `go test ./reliability -run Chaos -chaos.seed 7 -chaos.kills 400`: 1,200 kills (400 for each case), " +
	"7 min 38 s of wall time on a shared 2-core machine (load average 10 to 15), no failure. " +
	"Where the kills landed (timing, so not part of what is checked): `prep run` with an empty cache 124 before its temporary " +
	"directory existed (start-up, downloads), 263 with it in place (statistics, shards, manifest, the rename), 1 after `latest` was switched " +
	"but before the exit, 12 after the run had ended; with a warm cache 58, 224, 12 and 106; " +
	"`trainer` 60 before its first save, 46 in the middle of a save (a newer generation's files beside the one `checkpoint.json` names), " +
	"108, 63, 64 and 27 with the checkpoint of epoch 1, 2, 3 and 4 as the last, 32 after the run had ended. " +
	"**Bug found and fixed:** a first trainer soak (seed 7, 300 kills, with this test's first draft) killed the trainer, at its 12th kill point (352 ms into the 4-epoch run), " +
	"between its last epoch's checkpoint save and the writing of `metrics.jsonl`: `--resume` to the same total had no epoch left to train, " +
	"so `metrics.jsonl` and `curves.png` stayed an epoch behind the checkpoint for good. A resume now rewrites the run files from the " +
	"checkpoint's history before it trains (`cmd/trainer`, regression test `TestResumeRewritesRunFilesBehindTheCheckpoint`)."

// killPoints draws n moments uniformly over [0, d) from the seeded
// generator; stream separates the commands.
func killPoints(t *testing.T, stream uint64, n int, d time.Duration) []time.Duration {
	t.Helper()
	if len(badEnv) > 0 {
		t.Fatal(strings.Join(badEnv, "; "))
	}
	if n < 1 || d <= 0 {
		t.Fatalf("-chaos.kills %d over %v: want at least one kill over a measured run", n, d)
	}
	rng := rand.New(rand.NewPCG(*chaosSeed, stream))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(rng.Int64N(int64(d)))
	}
	return out
}

// killAt starts bin, sends it SIGKILL at moment at after the start and
// returns what the run gave (exit 0 if it finished first).
func (e *env) killAt(at time.Duration, bin string, args ...string) result {
	e.t.Helper()
	cmd := command(bin, args...)
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(at - time.Since(start)):
		cmd.Process.Signal(syscall.SIGKILL)
		err = <-done
	}
	return result{exitCode(e.t, err), so.String(), se.String()}
}

// measure runs the uninterrupted run (prepare, then bin) three times and
// returns the results and the median duration: one run on a busy machine
// may take several times as long as the next.
func (e *env) measure(prepare func(i int), bin string, args ...string) ([]result, time.Duration) {
	e.t.Helper()
	var rs []result
	var ds []time.Duration
	for i := 0; i < 3; i++ {
		prepare(i)
		start := time.Now()
		r := e.run(bin, args...)
		ds = append(ds, time.Since(start))
		wantCode(e.t, r, 0)
		rs = append(rs, r)
	}
	slices.Sort(ds)
	return rs, ds[1]
}

// chaosExtra makes several shards per split of the chaos set.
const chaosExtra = "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 200}\n"

// reset empties dir (or creates it).
func reset(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// The two starting points of the killed prep runs: an empty download
// cache (the kills land in download, decode, statistics, shard writing,
// manifest and publish) and the warm cache of an uninterrupted run (the
// sources and statistics are cache hits: most kills land in shard
// writing and publish).
var prepChaosModes = []struct{ name, cache string }{
	{"empty cache", "an empty download cache"},
	{"warm cache", "a copy of an uninterrupted run's cache"},
}

// TestChaosPrep kills `prep run` of a tiny set, each time into an empty
// output directory, then checks what is visible and runs prep again on
// what the killed run left, output and cache alike.
func TestChaosPrep(t *testing.T) {
	e := newEnv(t)
	// Smaller than the small set, so that a run takes a fraction of a second.
	set, err := tinyset.Write(e.data, tinyset.Spec{Train: 800, Test: 200, Side: 8, Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.data, "tiny.yaml")
	writeFile(t, cfg, []byte(set.Config("tiny", chaosExtra)))
	ds := filepath.Join(e.out, "tiny")
	warm := filepath.Join(t.TempDir(), "warm")

	// The uninterrupted run: its version, shard bytes and cache.
	ref := e.run(prepBin, "run", cfg, "--out", e.out, "--cache", warm, "--quiet")
	wantCode(t, ref, 0)
	version := strings.TrimSpace(ref.stdout)
	wantBytes := shardBytes(t, filepath.Join(ds, version))
	if len(wantBytes) < 3 {
		t.Fatalf("the reference version has %d shards; want several", len(wantBytes))
	}
	for m, mode := range prepChaosModes {
		start := func() {
			reset(t, e.out)
			reset(t, e.cache)
			if m == 1 {
				copyTree(t, warm, e.cache)
			}
		}
		// The duration of an uninterrupted run from this starting point.
		rs, d := e.measure(func(int) { start() }, prepBin, "run", cfg, "--out", e.out, "--cache", e.cache, "--quiet")
		for _, r := range rs {
			if got := strings.TrimSpace(r.stdout); got != version {
				t.Fatalf("two uninterrupted runs published %s and %s", version, got)
			}
		}
		landed := map[string]int{}
		for i, at := range killPoints(t, uint64(1+m), *chaosKills, d) {
			what := fmt.Sprintf("%s: kill %d at %v of %v (seed %d)", mode.name, i, at, d, *chaosSeed)
			start()
			k := e.killAt(at, prepBin, "run", cfg, "--out", e.out, "--cache", e.cache, "--quiet")
			if k.code != 137 && k.code != 0 {
				t.Fatalf("%s: exit %d\n%s", what, k.code, k.stderr)
			}
			s := e.state("tiny")
			landed[prepMoment(k, s)]++
			// No partial version: a version directory is the whole version
			// (prep verify passes), and latest names nothing or one of them.
			for _, v := range s.versions {
				if v != version {
					t.Fatalf("%s: version directory %s, the uninterrupted run publishes %s", what, v, version)
				}
			}
			if !s.verified {
				t.Fatalf("%s: a visible version fails prep verify: %s", what, s.verify)
			}
			if fi, err := os.Lstat(filepath.Join(ds, "latest")); err == nil {
				if fi.Mode()&os.ModeSymlink == 0 || len(s.versions) != 1 || s.latest != s.versions[0] {
					t.Fatalf("%s: latest (%v) is %q; version directories %v", what, fi.Mode(), s.latest, s.versions)
				}
			}
			if k.code == 0 && (len(s.versions) != 1 || s.latest != version) {
				t.Fatalf("%s: the run finished but published %v (latest %q)", what, s.versions, s.latest)
			}
			// The next run, on whatever the killed run left, publishes the
			// same version with the same bytes.
			next := e.prepRun(cfg, "--quiet")
			if next.code != 0 {
				t.Fatalf("%s: the next run failed (exit %d):\n%s", what, next.code, next.stderr)
			}
			if got := strings.TrimSpace(next.stdout); got != version {
				t.Fatalf("%s: the next run published %s, the uninterrupted run %s", what, got, version)
			}
			after := e.state("tiny")
			if len(after.versions) != 1 || !after.verified || len(after.temps) != 0 || after.latest != version {
				t.Fatalf("%s: after the next run: versions %v (verify: %s), temps %v, latest %q", what, after.versions, after.verify, after.temps, after.latest)
			}
			if got := shardBytes(t, filepath.Join(ds, version)); !reflect.DeepEqual(got, wantBytes) {
				t.Fatalf("%s: the next run's shards differ from the uninterrupted run's:\n%v\nwant\n%v", what, got, wantBytes)
			}
		}
		t.Logf("prep, %s: %d kills over %v with seed %d; where they landed: %v", mode.name, *chaosKills, d, *chaosSeed, landed)
		if *chaosKills >= 20 && landed["while building"] == 0 {
			t.Fatalf("%s: none of %d kills landed while the run was building (%v): the kill points miss the run", mode.name, *chaosKills, landed)
		}
		chaos.record(t, m, Row{Case: "`prep run` killed at random moments, " + mode.name,
			Injected: fmt.Sprintf("%d SIGKILLs (seed %d) to `prep run` of an 800-image set in 200-row shards, each into an empty output directory, with %s", *chaosKills, *chaosSeed, mode.cache),
			Exit:     137, Sees: "(killed: no message)",
			Disk: "after every kill: each version directory present is the uninterrupted run's version and passes `prep verify`; `latest` is absent or links to it; " +
				"the next run, on what the killed run left in the output and the cache, publishes the uninterrupted run's version with byte-identical shards, and nothing else is left"})
	}
}

// copyTree copies the regular files and directories under from into to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		case d.Type().IsRegular():
			writeFile(t, filepath.Join(to, rel), readFile(t, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// prepMoment names where a kill landed, for the log.
func prepMoment(k result, s dsState) string {
	switch {
	case k.code == 0:
		return "after the run"
	case len(s.versions) == 1 && s.latest == s.versions[0]:
		return "after latest"
	case len(s.versions) == 1:
		return "between the rename and latest"
	case len(s.temps) > 0:
		return "while building"
	}
	return "before building" // start-up, downloads
}

// chaosTrainEpochs is the length of the trainer chaos run: short epochs,
// so that saves are a good share of its duration.
const chaosTrainEpochs = 4

// TestChaosTrainer kills `trainer` at random moments of a run, then
// checks the run directory and resumes it (or, before the first save,
// starts it again) to the end.
func TestChaosTrainer(t *testing.T) {
	trainSetup(t)
	e := newEnv(t)
	e.name(trainDir, "$DATA")
	straight := filepath.Join(e.data, "straight")
	rs, d := e.measure(func(int) { reset(t, straight) }, trainerBin, trainArgs(straight, chaosTrainEpochs)...)
	want := runOutcome(t, straight, rs[2])
	t.Logf("uninterrupted run: %v, weights %s", d, want.weights)

	run := filepath.Join(e.data, "run")
	e.name(run, "$RUN")
	landed := map[string]int{}
	for i, at := range killPoints(t, uint64(1+len(prepChaosModes)), *chaosKills, d) {
		what := fmt.Sprintf("kill %d at %v of %v (seed %d)", i, at, d, *chaosSeed)
		reset(t, run)
		k := e.killAt(at, trainerBin, trainArgs(run, chaosTrainEpochs)...)
		if k.code != 137 && k.code != 0 {
			t.Fatalf("%s: exit %d\n%s", what, k.code, k.stderr)
		}
		base := filepath.Join(run, trainer.CheckpointBase)
		var final result
		if !checkpoint.Exists(base) {
			landed["before the first save"]++
			if k.code == 0 {
				t.Fatalf("%s: the run finished without a checkpoint", what)
			}
			res := e.run(trainerBin, "--shards", trainShards, "--resume", run, "--epochs", strconv.Itoa(chaosTrainEpochs), "--quiet")
			msg := finalError(res.stderr, "trainer: ")
			if res.code != 1 || !strings.Contains(msg, "no checkpoint there") {
				t.Fatalf("%s: with no checkpoint, --resume gave exit %d: %q", what, res.code, msg)
			}
			final = e.run(trainerBin, trainArgs(run, chaosTrainEpochs)...)
		} else {
			c, err := checkpoint.Load(base)
			if err != nil {
				t.Fatalf("%s: the checkpoint left does not load: %v", what, err)
			}
			if c.Meta.Epoch < 1 || c.Meta.Epoch > chaosTrainEpochs {
				t.Fatalf("%s: checkpoint of epoch %d", what, c.Meta.Epoch)
			}
			switch {
			case k.code == 0:
				landed["after the run"]++
			case newerGeneration(run):
				landed["mid-save"]++
			default:
				landed[fmt.Sprintf("after epoch %d", c.Meta.Epoch)]++
			}
			final = e.run(trainerBin, "--shards", trainShards, "--resume", run, "--epochs", strconv.Itoa(chaosTrainEpochs), "--quiet")
		}
		if final.code != 0 {
			t.Fatalf("%s: finishing the run failed (exit %d):\n%s", what, final.code, final.stderr)
		}
		if k.code == 0 {
			final = k // the killed run finished: its own report is the one to compare
		}
		if got := runOutcome(t, run, final); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the finished run differs from the uninterrupted one:\n%+v\nwant\n%+v", what, got, want)
		}
	}
	t.Logf("trainer: %d kills over %v with seed %d; where they landed: %v", *chaosKills, d, *chaosSeed, landed)
	if *chaosKills >= 20 && (landed["before the first save"] == 0 || landed["before the first save"]+landed["after the run"] == *chaosKills) {
		t.Fatalf("of %d kills none landed before the first save, or none after it and before the end (%v): the kill points miss the run", *chaosKills, landed)
	}
	chaos.record(t, len(prepChaosModes), Row{Case: "`trainer` killed at random moments",
		Injected: fmt.Sprintf("%d SIGKILLs (seed %d) to `trainer --epochs %d` (MLP, 1600 training images), each into an empty run directory", *chaosKills, *chaosSeed, chaosTrainEpochs),
		Exit:     137, Sees: "(killed: no message)",
		Disk: "after every kill: `$RUN` holds no checkpoint (and `--resume` refuses, saying so) or a checkpoint that loads, of an epoch already trained; " +
			"`--resume` (or, without a checkpoint, a new run) ends with the uninterrupted run's weights (SHA-256), `metrics.jsonl` and test accuracy"})
}

// outcome is what must match between a resumed and an uninterrupted run.
type outcome struct {
	weights string   // SHA-256 of the weights file checkpoint.json names
	epochs  int      // epoch of the checkpoint
	metrics []string // metrics.jsonl, timings removed
	test    string   // the "test accuracy" line
}

func runOutcome(t *testing.T, run string, r result) outcome {
	t.Helper()
	s, err := readSidecar(run)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(readFile(t, filepath.Join(run, s.Weights.Name)))
	o := outcome{weights: hex.EncodeToString(sum[:]), epochs: s.Epoch, test: lineWith(r.stdout, "test accuracy")}
	if o.weights != s.Weights.SHA256 {
		t.Fatalf("%s: the weights file's SHA-256 %s, checkpoint.json says %s", run, o.weights, s.Weights.SHA256)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(run, trainer.MetricsFile)))), "\n") {
		o.metrics = append(o.metrics, reTimings.ReplaceAllString(l, ""))
	}
	if o.test == "" {
		t.Fatalf("no test accuracy in the output:\n%s", r.stdout)
	}
	return o
}

// reTimings matches the fields of a metrics line that measure time.
var reTimings = regexp.MustCompile(`"(seconds|images_per_second)":[^,}]*,?`)

//go:build unix

package reliability

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// Cases of three classes: a reused cache never changes the bytes of a
// version, memory follows the data rather than the config or a header, and a
// build whose split would be empty fails at prep time.

var caches = addSection(45, "Reused caches are verified",
	"A version is built, then something `prep run` reuses across runs is damaged in its cache, and the version is built again with `--force`. "+
		"The damage is detected, the entry evicted and recomputed or fetched again, and every shard is byte-identical to the first build: "+
		"a version id never names two sets of bytes.",
	func() int { return len(cacheCases) })

type cacheCase struct {
	name, injected string
	damage         func(t *testing.T, cache string)
	log            string // the log line that reports the damage contains this
}

// statsEntry edits the one statistics cache entry under cache.
func statsEntry(t *testing.T, cache string, edit func(b []byte) []byte) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(cache, "stats", "*.json"))
	if len(m) != 1 {
		t.Fatalf("statistics cache entries: %v", m)
	}
	writeFile(t, m[0], edit(readFile(t, m[0])))
}

// editJSON decodes a statistics entry, edits it and encodes it again.
func editJSON(t *testing.T, b []byte, edit func(map[string]any)) []byte {
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var cacheCases = []cacheCase{
	{"statistics: mean edited", "the `mean` of the train statistics entry in `$CACHE/stats/` raised by 0.01 (its checksum left as it was)", func(t *testing.T, cache string) {
		statsEntry(t, cache, func(b []byte) []byte {
			return editJSON(t, b, func(v map[string]any) { v["mean"] = v["mean"].(float64) + 0.01 })
		})
	}, "does not verify"},
	{"statistics: truncated", "the train statistics entry cut to half its length", func(t *testing.T, cache string) {
		statsEntry(t, cache, func(b []byte) []byte { return b[:len(b)/2] })
	}, "does not verify"},
	{"statistics: another key's entry", "the entry's recorded `key` replaced by another computation's (values and checksum consistent with it)", func(t *testing.T, cache string) {
		statsEntry(t, cache, func(b []byte) []byte {
			return editJSON(t, b, func(v map[string]any) {
				v["key"] = strings.Repeat("0", 64)
				v["sum"] = strings.Repeat("0", 64)
			})
		})
	}, "does not verify"},
	{"download: altered in place", "one bit flipped in the cached `train_images` file under `$CACHE/sha256/` (same size, same name)", func(t *testing.T, cache string) {
		p := filepath.Join(cache, "sha256", small(t).SHA["train_images"])
		b := readFile(t, p)
		b[len(b)/2] ^= 0x40
		writeFile(t, p, b)
	}, "corrupt"},
}

// shardBytes maps each shard file of a version directory to its SHA-256.
func shardBytes(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ent := range ents {
		if strings.HasSuffix(ent.Name(), ".arrow") {
			sum := sha256.Sum256(readFile(t, filepath.Join(dir, ent.Name())))
			out[ent.Name()] = hex.EncodeToString(sum[:])
		}
	}
	return out
}

func TestReusedCachesAreVerified(t *testing.T) {
	for i, c := range cacheCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.writeConfig(small(t), "tiny", smallExtra)
			wantCode(t, e.prepRun(cfg), 0)
			dir := filepath.Join(e.out, "tiny", "latest")
			before := shardBytes(t, dir)
			c.damage(t, e.cache)
			r := e.prepRun(cfg, "--force")
			wantCode(t, r, 0)
			line := lineWith(r.stderr, c.log)
			if line == "" {
				t.Fatalf("the damage was not reported:\n%s", r.stderr)
			}
			after := shardBytes(t, dir)
			if len(after) == 0 || fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("shards differ from the first build:\n%v\n%v", before, after)
			}
			s := e.state("tiny")
			s.published(t)
			caches.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: e.scrub(line),
				Disk: fmt.Sprintf("the rebuilt version's %d shards are byte-identical to the first build's; %s", len(after), s)})
		})
	}
}

var memory = addSection(46, "Memory sized by the data",
	"`prep run` of the small set (3000+500 images of 12×12) with a config or a source header that announces far more than the data holds. "+
		"Memory follows what the files hold: the run's peak resident memory (`wait4`'s max RSS of the subprocess, started from a small launcher so that the test binary's own memory does not count) stays under the bound.",
	func() int { return len(memoryCases) })

// rssBound is the peak resident memory a prep run of the small set may use.
const rssBound = 100 << 20

type memoryCase struct {
	name, injected string
	extra          string
	key            string                    // the source replaced, "" for none
	bytes          func(t *testing.T) []byte // its bytes
	labels         []byte                    // replacement train_labels, when set
	want           string                    // in the message; "" means the run succeeds
}

var memoryCases = []memoryCase{
	{"shards.rows of 2⁴⁰", "`shards: {rows: 1099511627776}` (one shard per split)", "split: {seed: 1, val_fraction: 0.1}\nshards: {rows: 1099511627776}\n", "", nil, nil, ""},
	{"labels header announces 2³⁰ (gzip)", "`train_labels.gz` declares 1073741824 labels and `train_images.gz` as many 2×2 images; both hold 4", smallExtra, "train_images",
		func(t *testing.T) []byte { return gz(t, idxBytes([]uint32{1 << 30, 2, 2}, make([]byte, 4*4))) },
		idxBytes([]uint32{1 << 30}, make([]byte, 4)), "of 1073741824 items"},
	{"labels header announces 2³⁰ (raw)", "`train_labels` (raw IDX) declares 1073741824 labels and holds 3000", smallExtra, "train_labels",
		func(t *testing.T) []byte { return idxBytes([]uint32{1 << 30}, gunzip(t, "train_labels")[8:]) },
		nil, "fits the file"},
	{"one image of 60000×60000 (gzip)", "`train_images.gz` declares one 60000×60000 image (3.6 GB), with labels for one", smallExtra, "train_images",
		func(t *testing.T) []byte { return gz(t, idxBytes([]uint32{1, 60000, 60000}, make([]byte, 64))) },
		idxBytes([]uint32{1}, []byte{1}), "an image may have"},
}

// configWith writes a config for set (extra YAML appended) in which the
// sources named in repl are replaced by the given bytes (their sha256 in the
// config updated), and returns its path.
func (e *env) configWith(set *tinyset.Set, extra string, repl map[string][]byte) string {
	e.t.Helper()
	t := e.t
	y := set.Config("tiny", extra)
	if len(repl) == 0 {
		return e.writeConfig(set, "tiny", extra)
	}
	for _, k := range []string{"train_images", "train_labels", "test_images", "test_labels"} {
		b, ok := repl[k]
		if !ok {
			b = readFile(t, filepath.Join(set.Dir, set.Files[k]))
		}
		writeFile(t, filepath.Join(e.data, set.Files[k]), b)
		sum := sha256.Sum256(b)
		y = strings.Replace(y, set.SHA[k], hex.EncodeToString(sum[:]), 1)
	}
	y = strings.Replace(y, "file://"+set.Dir+"/", "file://"+e.data+"/", 1)
	cfg := filepath.Join(e.data, "tiny.yaml")
	writeFile(t, cfg, []byte(y))
	return cfg
}

// runRSS runs bin through the RSS launcher (launchForRSS) and returns its
// result and peak resident set in bytes.
func (e *env) runRSS(bin string, args ...string) (result, int64) {
	e.t.Helper()
	self, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	out := filepath.Join(e.t.TempDir(), "rss")
	cmd := command(self, append([]string{bin}, args...)...)
	cmd.Env = append(cmd.Env, rssLaunchEnv+"="+out)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	r := result{exitCode(e.t, err), so.String(), se.String()}
	b, err := os.ReadFile(out)
	if err != nil {
		e.t.Fatalf("the RSS launcher wrote no figure: %v\n%s", err, r.stderr)
	}
	rss, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, rss
}

func TestMemoryIsSizedByTheData(t *testing.T) {
	for i, c := range memoryCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			repl := map[string][]byte{}
			if c.key != "" {
				repl[c.key] = c.bytes(t)
			}
			if c.labels != nil {
				repl["train_labels"] = gz(t, c.labels)
			}
			cfg := e.configWith(small(t), c.extra, repl)
			r, rss := e.runRSS(prepBin, "run", cfg, "--out", e.out, "--cache", e.cache)
			t.Logf("max RSS %d bytes", rss)
			if rss > rssBound {
				t.Fatalf("peak RSS %d bytes, more than %d\n%s", rss, rssBound, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") {
				t.Fatalf("panic:\n%s", r.stderr)
			}
			s := e.state("tiny")
			sees := "(builds)"
			if c.want == "" {
				wantCode(t, r, 0)
				s.published(t)
			} else {
				wantCode(t, r, 1)
				msg := finalError(r.stderr, "prep: ")
				if !strings.Contains(msg, c.want) {
					t.Fatalf("message %q lacks %q", msg, c.want)
				}
				s.clean(t)
				sees = e.scrub(msg)
			}
			memory.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: sees,
				Disk: fmt.Sprintf("peak RSS under %d MiB; %s", rssBound>>20, s)})
		})
	}
}

var emptySplits = addSection(95, "Empty splits",
	"`prep run` of a config whose split settings leave a split with no image. The run fails before anything is written, naming the "+
		"split and the counts, unless `split.allow_empty` lists the split (or, for val, no val was asked for).",
	func() int { return len(emptyCases) })

type emptyCase struct {
	name, injected, extra string
	want                  string // in the message; "" means the run succeeds
	splits                string // the published splits, when it succeeds
	noTest                bool   // the test files hold no image
}

var emptyCases = []emptyCase{
	{"val_fraction rounds to no image", "`split: {seed: 1, val_fraction: 0.0001}` (0.3 of 3000 images)", "split: {seed: 1, val_fraction: 0.0001}\n", "split val would be empty", "", false},
	{"same, val allowed empty", "`split: {seed: 1, val_fraction: 0.0001, allow_empty: [val]}`", "split: {seed: 1, val_fraction: 0.0001, allow_empty: [val]}\n", "", "train, test", false},
	{"no val asked for", "`split: {seed: 1}`", "split: {seed: 1}\n", "", "train, test", false},
	{"test file with no image", "`test_images.gz` and `test_labels.gz` hold 0 images", "split: {seed: 1}\n", "split test would be empty", "", true},
	{"same, test allowed empty", "the same, with `split: {seed: 1, allow_empty: [test]}`", "split: {seed: 1, allow_empty: [test]}\n", "", "train", true},
	{"per_class larger than a class", "`split: {seed: 1, per_class: 400}` (a class has fewer than 400 train images)", "split: {seed: 1, per_class: 400}\n", "per_class 400", "", false},
}

func TestEmptySplitsFailPrep(t *testing.T) {
	for i, c := range emptyCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			repl := map[string][]byte{}
			if c.noTest {
				repl["test_images"] = gz(t, idxBytes([]uint32{0, 12, 12}, nil))
				repl["test_labels"] = gz(t, idxBytes([]uint32{0}, nil))
			}
			cfg := e.configWith(small(t), c.extra, repl)
			r := e.prepRun(cfg)
			s := e.state("tiny")
			if c.want != "" {
				wantCode(t, r, 1)
				msg := finalError(r.stderr, "prep: ")
				if !strings.Contains(msg, c.want) {
					t.Fatalf("message %q lacks %q", msg, c.want)
				}
				s.clean(t)
				emptySplits.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: e.scrub(msg), Disk: s.String()})
				return
			}
			wantCode(t, r, 0)
			s.published(t)
			emptySplits.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: "(builds; splits " + c.splits + ")", Disk: s.String()})
		})
	}
}

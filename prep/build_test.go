package prep

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/idx"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/stages/normalize"
)

func TestBuildTinyEndToEnd(t *testing.T) {
	ts := writeTiny(t, 150, 50, 4, 3, 1)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	res := build(t, cfg, testOptions(t, out))
	m := res.Manifest
	if res.UpToDate || res.Dir != filepath.Join(out, "tiny", m.ShortVersion()) {
		t.Fatalf("result %+v", res)
	}
	if link, _ := os.Readlink(filepath.Join(out, "tiny", manifest.LatestName)); link != m.ShortVersion() {
		t.Fatalf("latest -> %q, want %q", link, m.ShortVersion())
	}
	rows := map[vocab.Split]int{}
	for _, sp := range m.Splits {
		rows[sp.Name] = sp.Rows
	}
	if rows["train"] != 120 || rows["val"] != 30 || rows["test"] != 50 {
		t.Fatalf("split rows %v, want train 120 val 30 test 50", rows)
	}
	if got := len(m.Split("train").Shards); got != 3 {
		t.Fatalf("train has %d shards of 40 rows, want 3", got)
	}
	if m.Split("train").Shards[2].Path != "train-00002-of-00003.arrow" {
		t.Fatalf("shard name %s", m.Split("train").Shards[2].Path)
	}

	// Every source image appears exactly once, with its label and its pixels
	// normalized with the train split's statistics.
	var hist normalize.Histogram
	trainSet := readSplit(t, res.Dir, res, "train")
	for i := 0; i < trainSet.Len(); i++ {
		// recompute from the source bytes
		si := trainSet.SourceIndex[i]
		hist.Add(ts.trainImgs[int(si)*12 : int(si+1)*12])
	}
	mean, std, _ := hist.MeanStd()
	if len(m.Normalize.Mean) != 1 || math.Abs(mean-m.Normalize.Mean[0]) > 1e-12 || math.Abs(std-m.Normalize.Std[0]) > 1e-12 {
		t.Fatalf("manifest mean/std %v/%v, train split has %v/%v", m.Normalize.Mean, m.Normalize.Std, mean, std)
	}
	table := manifest.Normalize{Mean: manifest.Values{mean}, Std: manifest.Values{std}}.Table()
	seen := map[uint64]vocab.Split{}
	for _, name := range vocab.Splits {
		r := readSplit(t, res.Dir, res, name)
		labels := make([]int, 10)
		for i := 0; i < r.Len(); i++ {
			si := r.SourceIndex[i]
			if prev, dup := seen[si]; dup {
				t.Fatalf("source %d in %s and %s", si, prev, name)
			}
			seen[si] = name
			var src []uint8
			var label uint8
			if si < 150 {
				src, label = ts.trainImgs[si*12:(si+1)*12], ts.trainLabels[si]
			} else {
				j := si - 150
				src, label = ts.testImgs[j*12:(j+1)*12], ts.testLabels[j]
				if name != "test" {
					t.Fatalf("test image %d landed in %s", j, name)
				}
			}
			if r.Label[i] != label {
				t.Fatalf("source %d: label %d, want %d", si, r.Label[i], label)
			}
			want := make([]float32, 12)
			table.Apply(want, src)
			for k := range want {
				if r.ImageF32[i*12+k] != want[k] {
					t.Fatalf("source %d pixel %d: %v, want %v", si, k, r.ImageF32[i*12+k], want[k])
				}
			}
			labels[r.Label[i]]++
		}
		for c, n := range m.Split(name).Labels {
			if labels[c] != n {
				t.Fatalf("%s: manifest says %d rows of label %d, shards hold %d", name, n, c, labels[c])
			}
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct source images, want 200", len(seen))
	}
	if got := leftovers(t, filepath.Join(out, "tiny")); len(got) != 1 || got[0] != m.ShortVersion() {
		t.Fatalf("dataset dir holds %v", got)
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}
}

func TestSecondRunIsUpToDate(t *testing.T) {
	ts := writeTiny(t, 60, 20, 3, 3, 2)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	first := build(t, cfg, testOptions(t, out))
	second := build(t, cfg, testOptions(t, out))
	if !second.UpToDate || second.Manifest.Version != first.Manifest.Version {
		t.Fatalf("second run: up to date %v, version %s vs %s", second.UpToDate, second.Manifest.Version, first.Manifest.Version)
	}
}

// Same config, any worker count, forced rebuild: byte-identical shards, and
// manifests that differ only in their creation time.
func TestBytesIdenticalAcrossWorkersAndRebuilds(t *testing.T) {
	ts := writeTiny(t, 300, 80, 5, 5, 3)
	cfg := ts.config(t, tinySplit)
	out1, out8 := t.TempDir(), t.TempDir()
	o1 := testOptions(t, out1)
	o1.Workers = 1
	o8 := testOptions(t, out8)
	o8.Workers = 8
	r1 := build(t, cfg, o1)
	r8 := build(t, cfg, o8)
	if r1.Manifest.Version != r8.Manifest.Version {
		t.Fatal("worker count changed the version")
	}
	f1, f8 := dirFiles(t, r1.Dir), dirFiles(t, r8.Dir)
	o1.Force = true
	rf := build(t, cfg, o1)
	if rf.UpToDate {
		t.Fatal("--force did not rebuild")
	}
	ff := dirFiles(t, rf.Dir)
	if len(f1) != len(f8) || len(f1) != len(ff) {
		t.Fatalf("file counts differ: %d %d %d", len(f1), len(f8), len(ff))
	}
	for name, b := range f1 {
		if name == manifest.FileName {
			continue
		}
		if !bytes.Equal(b, f8[name]) {
			t.Errorf("%s differs between workers=1 and workers=8", name)
		}
		if !bytes.Equal(b, ff[name]) {
			t.Errorf("%s differs after --force", name)
		}
	}
	strip := func(b []byte) string {
		m, err := manifest.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		m.Created = ""
		out, _ := m.Marshal()
		return string(out)
	}
	if strip(f1[manifest.FileName]) != strip(f8[manifest.FileName]) {
		t.Error("manifests differ in more than the creation time")
	}
}

func TestVersionDependsOnlyOnBytes(t *testing.T) {
	ts := writeTiny(t, 30, 10, 2, 2, 4)
	a := ts.config(t, tinySplit)
	b := ts.config(t, tinySplit+"out: elsewhere\nworkers: 3\n")
	b.Mirrors = append(b.Mirrors, "https://mirror.invalid/")
	if NewHashInput(a).Version() != NewHashInput(b).Version() {
		t.Fatal("out/workers/mirrors changed the version")
	}
	for _, extra := range []string{
		"split: {seed: 4, val_fraction: 0.2, stratify: true}\n",
		"split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 41, batch_rows: 16}\n",
		tinySplit + "normalize: {mode: none}\n",
		"split: {seed: 3, val_fraction: 0.2, stratify: true}\nshards: {rows: 40, batch_rows: 16, compression: lz4}\n",
	} {
		if NewHashInput(ts.config(t, extra)).Version() == NewHashInput(a).Version() {
			t.Errorf("config change %q kept the version", extra)
		}
	}
	c := ts.config(t, tinySplit)
	c.Sources.TestLabels.ContentSHA256 = strings.Repeat("a", 64)
	if NewHashInput(c).Version() == NewHashInput(a).Version() {
		t.Error("a source content change kept the version")
	}
	// The version follows the content, not the container: another file
	// digest with the same content pin is the same version.
	d := ts.config(t, tinySplit)
	d.Sources.TestLabels.ContentSHA256 = strings.Repeat("a", 64)
	d.Sources.TestLabels.SHA256 = strings.Repeat("b", 64)
	if NewHashInput(d).Version() != NewHashInput(c).Version() {
		t.Error("a file digest change with the same content changed the version")
	}
	h := NewHashInput(a)
	h.Stages["split"] = "split/999"
	if h.Version() == NewHashInput(a).Version() {
		t.Error("a stage version change kept the version")
	}
}

func TestUint8Shards(t *testing.T) {
	ts := writeTiny(t, 50, 10, 3, 3, 5)
	res := build(t, ts.config(t, tinySplit+"normalize: {mode: none}\n"), testOptions(t, t.TempDir()))
	if res.Manifest.Image.DType != "uint8" || len(res.Manifest.Normalize.Std) != 1 || res.Manifest.Normalize.Std[0] <= 0 {
		t.Fatalf("manifest image %+v normalize %+v", res.Manifest.Image, res.Manifest.Normalize)
	}
	test := readSplit(t, res.Dir, res, "test")
	if !bytes.Equal(test.ImageU8, ts.testImgs) {
		t.Fatal("uint8 test pixels differ from the source")
	}
}

func TestMaxBytesLimitsShards(t *testing.T) {
	ts := writeTiny(t, 100, 10, 4, 4, 6)
	// 16 float32 pixels = 64 bytes a row; 640 bytes => 10 rows a shard.
	res := build(t, ts.config(t, "split: {seed: 1}\nshards: {rows: 1000, max_bytes: 640}\n"), testOptions(t, t.TempDir()))
	if sp := res.Manifest.Split("train"); len(sp.Shards) != 10 || sp.Shards[0].Rows != 10 {
		t.Fatalf("train shards: %d of %d rows", len(sp.Shards), sp.Shards[0].Rows)
	}
}

// Every way the input can be bad fails with a specific error and publishes nothing.
func TestBadInputPublishesNothing(t *testing.T) {
	cases := []struct {
		name  string
		mess  func(t *testing.T, ts *tinySet)
		wants []string
	}{
		{"truncated gzip", func(t *testing.T, ts *tinySet) {
			b, _ := os.ReadFile(ts.files["train_images"])
			ts.writeRaw(t, "train_images", b[:len(b)/2])
		}, []string{"train_images", "offset"}},
		{"wrong magic", func(t *testing.T, ts *tinySet) {
			ts.writeRaw(t, "test_labels", []byte{1, 2, 8, 1, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
		}, []string{"test_labels", "offset 0"}},
		{"unsupported type byte", func(t *testing.T, ts *tinySet) {
			ts.writeRaw(t, "test_labels", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 0})
		}, []string{"test_labels", "offset 2"}},
		{"truncated idx", func(t *testing.T, ts *tinySet) {
			ts.writeRaw(t, "test_images", append([]byte{0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 3, 0, 0, 0, 3}, make([]byte, 40)...))
		}, []string{"test_images", "offset"}},
		{"count mismatch", func(t *testing.T, ts *tinySet) {
			ts.write(t, "test_labels", idxHeader(9), make([]uint8, 9))
		}, []string{"10 images", "9 labels"}},
		{"label out of range", func(t *testing.T, ts *tinySet) {
			l := make([]uint8, 10)
			l[4] = 10
			ts.write(t, "test_labels", idxHeader(10), l)
		}, []string{"test_labels", "offset 12"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := writeTiny(t, 20, 10, 3, 3, 7)
			c.mess(t, ts)
			cfg := ts.config(t, "split: {seed: 1}\n")
			out := t.TempDir()
			_, err := Build(context.Background(), cfg, testOptions(t, out))
			if err == nil {
				t.Fatal("bad input accepted")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if left := leftovers(t, filepath.Join(out, "tiny")); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func idxHeader(n int) idx.Header { return idx.Header{Type: idx.U8, Dims: []int{n}} }

func TestChecksumMismatchNamesBothHashes(t *testing.T) {
	ts := writeTiny(t, 20, 10, 3, 3, 8)
	cfg := ts.config(t, "split: {seed: 1}\n")
	want := cfg.Sources.TrainLabels.SHA256
	ts.write(t, "train_labels", idxHeader(20), make([]uint8, 20)) // same name, other bytes
	out := t.TempDir()
	_, err := Build(context.Background(), cfg, testOptions(t, out))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v should name the expected hash %s", err, want)
	}
	if left := leftovers(t, filepath.Join(out, "tiny")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestEveryMirrorFailing(t *testing.T) {
	ts := writeTiny(t, 20, 10, 3, 3, 9)
	cfg := ts.config(t, "split: {seed: 1}\n")
	cfg.Mirrors = []string{"file:///nonexistent-a/", "file:///nonexistent-b/"}
	_, err := Build(context.Background(), cfg, testOptions(t, t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "nonexistent-a") || !strings.Contains(err.Error(), "nonexistent-b") {
		t.Fatalf("error %v should list each mirror", err)
	}
}

func TestOutputNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o644)
		ts := writeTiny(t, 20, 10, 3, 3, 10)
		_, err := Build(context.Background(), ts.config(t, "split: {seed: 1}\n"), testOptions(t, f))
		if err == nil || !strings.Contains(err.Error(), "output directory") {
			t.Fatalf("err = %v", err)
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	ts := writeTiny(t, 20, 10, 3, 3, 10)
	_, err := Build(context.Background(), ts.config(t, "split: {seed: 1}\n"), testOptions(t, dir))
	if err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Fatalf("err = %v", err)
	}
}

// errAfter fails every write once n bytes have passed (a full disk).
type errAfter struct {
	w io.Writer
	n int
}

var errDiskFull = errors.New("no space left on device (injected)")

func (e *errAfter) Write(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errDiskFull
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	n, err := e.w.Write(p)
	e.n -= n
	if err == nil && e.n <= 0 {
		err = errDiskFull
	}
	return n, err
}

func TestWriteFailureMidShardPublishesNothing(t *testing.T) {
	ts := writeTiny(t, 200, 40, 4, 4, 11)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	opts := testOptions(t, out)
	opts.wrapShard = func(w io.Writer) io.Writer { return &errAfter{w: w, n: 700} }
	_, err := Build(context.Background(), cfg, opts)
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), ".arrow") {
		t.Fatalf("err = %v, want the injected error naming the shard", err)
	}
	if left := leftovers(t, filepath.Join(out, "tiny")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	// The next run succeeds.
	build(t, cfg, testOptions(t, out))
}

func TestCancelPublishesNothing(t *testing.T) {
	ts := writeTiny(t, 3000, 100, 8, 8, 12)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	opts := testOptions(t, out)
	var calls atomic.Int32 // shards are written by several workers at once
	opts.wrapShard = func(w io.Writer) io.Writer {
		if calls.Add(1) == 3 {
			cancel()
		}
		return w
	}
	_, err := Build(ctx, cfg, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if left := leftovers(t, filepath.Join(out, "tiny")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestStaleTempDirsAreRemoved(t *testing.T) {
	ts := writeTiny(t, 20, 10, 3, 3, 13)
	cfg := ts.config(t, "split: {seed: 1}\n")
	out := t.TempDir()
	stale := filepath.Join(out, "tiny", ".tmp-abc-123")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "x.arrow"), []byte("half"), 0o644)
	res := build(t, cfg, testOptions(t, out))
	if left := leftovers(t, filepath.Join(out, "tiny")); len(left) != 1 || left[0] != res.Manifest.ShortVersion() {
		t.Fatalf("left behind: %v", left)
	}
}

func TestStratifiedValKeepsLabelShares(t *testing.T) {
	ts := writeTiny(t, 1000, 10, 2, 2, 14)
	res := build(t, ts.config(t, "split: {seed: 5, val_fraction: 0.25, stratify: true}\n"), testOptions(t, t.TempDir()))
	tr, va := res.Manifest.Split("train"), res.Manifest.Split("val")
	for c := range tr.Labels {
		total := tr.Labels[c] + va.Labels[c]
		if exact := 0.25 * float64(total); math.Abs(float64(va.Labels[c])-exact) > 1 {
			t.Errorf("class %d: %d of %d in val, want %.1f±1", c, va.Labels[c], total, exact)
		}
	}
}

func TestLabelFilterRemapAndPerClass(t *testing.T) {
	ts := writeTiny(t, 400, 100, 3, 3, 31)
	res := build(t, ts.config(t, "split: {seed: 2, val_count: 10, labels: [7, 2], remap: true, per_class: 5}\n"), testOptions(t, t.TempDir()))
	m := res.Manifest
	if len(m.Classes) != 2 || m.Classes[0] != "7" || m.Classes[1] != "2" {
		t.Fatalf("classes %v, want [7 2]", m.Classes)
	}
	if tr := m.Split("train"); tr.Rows != 10 || tr.Labels[0] != 5 || tr.Labels[1] != 5 {
		t.Fatalf("train %d rows, labels %v; want 5 of each", tr.Rows, tr.Labels)
	}
	wantTest := 0
	for _, l := range ts.testLabels {
		if l == 7 || l == 2 {
			wantTest++
		}
	}
	test := readSplit(t, res.Dir, res, "test")
	if test.Len() != wantTest {
		t.Fatalf("test has %d rows, want %d", test.Len(), wantTest)
	}
	for i, si := range test.SourceIndex {
		src := ts.testLabels[si-400]
		if want := map[uint8]uint8{7: 0, 2: 1}[src]; test.Label[i] != want {
			t.Fatalf("source label %d written as %d, want %d", src, test.Label[i], want)
		}
	}
}

func TestAugmentedBytesIdenticalAcrossWorkers(t *testing.T) {
	ts := writeTiny(t, 200, 40, 8, 8, 41)
	cfg := ts.config(t, tinySplit+"augment:\n  copies: 2\n  seed: 5\n  ops:\n    - rotate: {degrees: 15}\n    - elastic: {alpha: 8, sigma: 2}\n    - noise: {stddev: 0.1, p: 0.5}\n")
	var files []map[string][]byte
	for _, w := range []int{1, 8} {
		o := testOptions(t, t.TempDir())
		o.Workers = w
		files = append(files, dirFiles(t, build(t, cfg, o).Dir))
	}
	for name, b := range files[0] {
		if name != manifest.FileName && !bytes.Equal(b, files[1][name]) {
			t.Fatalf("%s differs between workers=1 and workers=8", name)
		}
	}
	if len(files[0]) != 1+12+1+1 { // manifest, 12 train shards (160 × 3 = 480 rows of 40), val, test
		t.Fatalf("%d files", len(files[0]))
	}
}

// A bad augment op is a config error naming its line, reported before any
// download is attempted.
func TestBadAugmentOpFailsBeforeDownload(t *testing.T) {
	ts := writeTiny(t, 20, 10, 3, 3, 42)
	for op, want := range map[string]string{
		"- rotate: {degrees: -3}":        "degrees",
		"- rotate: {degrees: 3, p: 1.5}": "p",
		"- twirl: {amount: 1}":           "twirl",
	} {
		cfg := ts.config(t, "split: {seed: 1}\naugment:\n  copies: 1\n  ops:\n    "+op+"\n")
		cfg.Mirrors = []string{"file:///nonexistent/"}
		_, err := Build(context.Background(), cfg, testOptions(t, t.TempDir()))
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "line 12") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", op, err)
		}
	}
}

// The train statistics are cached by content: a rebuild does not decode the
// train images twice, and gets the same values; a damaged cache entry is
// recomputed.
func TestTrainStatsAreCached(t *testing.T) {
	ts := writeTiny(t, 100, 20, 4, 4, 43)
	cfg := ts.config(t, tinySplit)
	out := t.TempDir()
	var logs []string
	opts := testOptions(t, out)
	opts.Logf = func(format string, a ...any) { logs = append(logs, format) }
	computed := func() int {
		n := 0
		for _, l := range logs {
			if strings.Contains(l, "computing mean/std") {
				n++
			}
		}
		return n
	}
	first := build(t, cfg, opts)
	opts.Force = true
	second := build(t, cfg, opts)
	if computed() != 1 || !first.Manifest.Normalize.Equal(second.Manifest.Normalize) {
		t.Fatalf("computed %d times; %+v vs %+v", computed(), first.Manifest.Normalize, second.Manifest.Normalize)
	}
	entries, _ := filepath.Glob(filepath.Join(out, ".cache-test", "stats", "*.json"))
	if len(entries) != 1 {
		t.Fatalf("stats cache entries: %v", entries)
	}
	os.WriteFile(entries[0], []byte("{garbage"), 0o644)
	third := build(t, cfg, opts)
	if computed() != 2 || !third.Manifest.Normalize.Equal(first.Manifest.Normalize) {
		t.Fatalf("damaged cache entry: computed %d times, %+v", computed(), third.Manifest.Normalize)
	}
}

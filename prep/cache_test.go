package prep

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/stages/download"
)

// logSink collects log lines from concurrent writers.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *logSink) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// sameShards fails unless two version directories hold the same shard files
// byte for byte.
func sameShards(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := dirFiles(t, a), dirFiles(t, b)
	if len(fa) != len(fb) {
		t.Fatalf("%d files vs %d", len(fa), len(fb))
	}
	for name, data := range fa {
		if name != manifest.FileName && !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs from the clean build", name)
		}
	}
}

// A statistics cache entry that does not verify (an edited mean, a truncated
// file, the entry of another key, a checksum that does not match) is evicted
// with a log line and recomputed, and the shards are the clean build's bytes.
func TestDamagedStatsCacheEntryIsRecomputed(t *testing.T) {
	ts := writeTiny(t, 120, 30, 4, 4, 51)
	cfg := ts.config(t, tinySplit)
	clean := build(t, cfg, testOptions(t, t.TempDir()))

	entryOf := func(b []byte) statsEntry {
		var e statsEntry
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	damage := map[string]func(b []byte) []byte{
		"changed mean": func(b []byte) []byte {
			e := entryOf(b)
			e.Mean[0] += 0.01 // checksum left as it was
			out, _ := json.Marshal(e)
			return out
		},
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"empty":     func(b []byte) []byte { return nil },
		"wrong key inside": func(b []byte) []byte {
			e := entryOf(b)
			e.Key = strings.Repeat("0", 64)
			e.Mean[0] += 0.01
			e.Sum = e.checksum() // a valid entry, for another computation
			out, _ := json.Marshal(e)
			return out
		},
		"negative std": func(b []byte) []byte {
			e := entryOf(b)
			e.Std[0] = -e.Std[0]
			e.Sum = e.checksum()
			out, _ := json.Marshal(e)
			return out
		},
		"trailing data": func(b []byte) []byte { return append(b, []byte(` {"key":"x"}`)...) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			var logs logSink
			opts := testOptions(t, out)
			opts.Logf = logs.logf
			first := build(t, cfg, opts)
			entries, _ := filepath.Glob(filepath.Join(out, ".cache-test", "stats", "*.json"))
			if len(entries) != 1 {
				t.Fatalf("stats cache entries: %v", entries)
			}
			b, err := os.ReadFile(entries[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(entries[0], fn(b), 0o644); err != nil {
				t.Fatal(err)
			}
			opts.Force = true
			again := build(t, cfg, opts)
			if logs.count("does not verify") != 1 || logs.count("computing mean/std") != 2 {
				t.Fatalf("damage not detected: %q", logs.lines)
			}
			if again.Manifest.Version != first.Manifest.Version || !again.Manifest.Normalize.Equal(clean.Manifest.Normalize) {
				t.Fatalf("normalize %+v, clean %+v", again.Manifest.Normalize, clean.Manifest.Normalize)
			}
			sameShards(t, clean.Dir, again.Dir)
			// The recomputed entry verifies: a third run uses it.
			build(t, cfg, opts)
			if logs.count("computing mean/std") != 2 {
				t.Fatalf("the rewritten entry was not used: %q", logs.lines)
			}
		})
	}
}

// A cached download altered in place is caught on the next run by its
// SHA-256, evicted and fetched again, and the shards are the clean build's.
func TestCachedDownloadAlteredInPlaceIsRefetched(t *testing.T) {
	ts := writeTiny(t, 120, 30, 4, 4, 52)
	cfg := ts.config(t, tinySplit)
	clean := build(t, cfg, testOptions(t, t.TempDir()))

	out := t.TempDir()
	cache := filepath.Join(out, ".cache")
	var logs logSink
	opts := Options{Out: out, Logf: logs.logf, Fetcher: download.New(download.WithCacheDir(cache), download.WithRetries(0), download.WithLogf(logs.logf))}
	build(t, cfg, opts)
	p, err := opts.Fetcher.CachePath(cfg.Sources.TrainImages.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40 // same size, one bit off
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Force = true
	again := build(t, cfg, opts)
	if logs.count("corrupt") != 1 {
		t.Fatalf("altered cache file not reported: %q", logs.lines)
	}
	sameShards(t, clean.Dir, again.Dir)
	if _, err := Build(context.Background(), cfg, opts); err != nil {
		t.Fatal(err)
	}
}

// Shard encoding is a stage of the graph: the report lists route, write and
// collect after the pixel stages (float32 pixels are normalized by route,
// as it copies them into the shard buffers: no stage of its own), the write
// stage runs on the workers and counts every row, and its busy time
// (encoding, hashing, fsync) is there.
func TestStageReportShowsShardWriting(t *testing.T) {
	ts := writeTiny(t, 300, 80, 5, 5, 53)
	opts := testOptions(t, t.TempDir())
	opts.Workers = 3
	res := build(t, ts.config(t, tinySplit), opts)
	var names []string
	byName := map[string]int{}
	for i, s := range res.Stages {
		names = append(names, s.Name)
		byName[s.Name] = i
	}
	if strings.Join(names, ",") != "decode,route,write,collect" {
		t.Fatalf("stages %v", names)
	}
	w := res.Stages[byName["write"]]
	shards := 0
	for _, sp := range res.Manifest.Splits {
		shards += len(sp.Shards)
	}
	if w.Workers != 3 || w.Rows != 380 || w.Items != int64(shards) || w.Busy <= 0 {
		t.Fatalf("write stage %+v, want 3 workers, 380 rows, %d items, busy > 0", w, shards)
	}
	if c := res.Stages[byName["collect"]]; c.Rows != 380 {
		t.Fatalf("collect stage %+v", c)
	}
}

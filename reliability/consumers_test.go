//go:build unix

package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

var contradicted = addSection(110, "A version its shards contradict",
	"A copy of the trainer cases' version in which one shard, `"+contraVictim+"`, disagrees with `manifest.json`. "+
		"Except in the last two cases the shard is a well-formed shard and the manifest's `sha256`, `bytes` and `data_sha256` are "+
		"updated to match it, so what is under test is the reader's check of rows and schema metadata, not the hash. "+
		"`trainer`, `trainer eval --split train`, `prep verify` and `prep preview` read the version through the one reader, "+
		"`formats/dataset`, and all four refuse it, naming the shard (or the manifest) and the field.",
	func() int { return len(contraCases) })

const contraVictim = "train-00000-of-00004.arrow"

type contraCase struct {
	name, injected string
	meta           func(*shard.Meta)              // rewrites the victim with this metadata
	rows           func(shard.Rows) shard.Rows    // and these rows
	raw            func(t *testing.T, dir string) // or damages the directory itself
	field          string                         // each message names it
}

var contraCases = []contraCase{
	{name: "rows", injected: "the shard's last row dropped; its `rows` in the manifest left at 512",
		meta: func(*shard.Meta) {}, rows: func(r shard.Rows) shard.Rows { return r.Slice(0, r.Len()-1, 64) }, field: "rows"},
	{name: "shape", injected: "the shard's schema metadata says 4×16 images (the same 64 pixels); the manifest says 8×8",
		meta: func(m *shard.Meta) { m.Height, m.Width = 4, 16 }, field: "height"},
	{name: "classes", injected: "the shard's class names are `[a, b, z]`; the manifest says `[a, b, c]`",
		meta: func(m *shard.Meta) { m.Classes = []string{"a", "b", "z"} }, field: "classes"},
	{name: "normalization", injected: "the shard's schema metadata gives another mean than the manifest",
		meta: func(m *shard.Meta) { m.Mean = manifest.Values{m.Mean[0] + 0.125} }, field: "mean"},
	{name: "version", injected: "the shard's schema metadata names another version",
		meta: func(m *shard.Meta) { m.Version = strings.Repeat("0", 64) }, field: "version"},
	{name: "bytes", injected: "one byte in the middle of the shard flipped (the manifest not updated)",
		raw: func(t *testing.T, dir string) {
			p := filepath.Join(dir, contraVictim)
			b := readFile(t, p)
			b[len(b)/2] ^= 0x08
			writeFile(t, p, b)
		}, field: "sha"},
	{name: "normalization values", injected: "`normalize.std` in `manifest.json` set to 0 (every pixel would become ±Inf)",
		raw: func(t *testing.T, dir string) {
			m, err := manifest.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Marshal refuses nothing: write what a careless tool would.
			m.Normalize.Std = manifest.Values{0}
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, manifest.FileName), b)
		}, field: "normalize.std"},
}

// contradict rewrites the victim shard of the version in dir with c's
// metadata and rows, and updates its size and hashes in the manifest.
func contradict(t *testing.T, dir string, c contraCase) {
	t.Helper()
	if err := tinyset.RewriteShard(dir, contraVictim, c.meta, c.rows); err != nil {
		t.Fatal(err)
	}
}

func TestConsumersRefuseContradictedVersions(t *testing.T) {
	trainSetup(t)
	for i, c := range contraCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dir := filepath.Join(e.data, "version")
			e.name(dir, "$VERSION")
			e.name(run1Dir, "$CHECKPOINT")
			copyDir(t, trainShards, dir)
			if c.raw != nil {
				c.raw(t, dir)
			} else {
				contradict(t, dir, c)
			}
			run := filepath.Join(e.data, "run")
			grid := filepath.Join(e.data, "grid.png")
			var sees []string
			for _, cmd := range []struct {
				label, bin, prefix string
				args               []string
			}{
				{"trainer", trainerBin, "trainer: ", append(trainArgs(run, 1)[2:], "--shards", dir)},
				{"trainer eval", trainerBin, "trainer: ", []string{"eval", "--checkpoint", run1Dir, "--shards", dir, "--split", "train"}},
				{"prep verify", prepBin, "prep: ", []string{"verify", dir}},
				{"prep preview", prepBin, "prep: ", []string{"preview", dir, "-o", grid}},
			} {
				r := e.run(cmd.bin, cmd.args...)
				wantCode(t, r, 1)
				if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
					t.Fatalf("%s panicked:\n%s", cmd.label, r.stderr)
				}
				msg := finalError(r.stderr, cmd.prefix)
				names := contraVictim
				if c.field == "normalize.std" {
					names = manifest.FileName
				}
				if !strings.Contains(msg, names) || !strings.Contains(strings.ToLower(msg), c.field) {
					t.Fatalf("%s: message %q does not name %s and %s", cmd.label, msg, names, c.field)
				}
				sees = append(sees, "["+cmd.label+"] "+e.scrub(msg))
			}
			if _, err := os.Stat(filepath.Join(run, "checkpoint.json")); err == nil {
				t.Fatal("the refused trainer wrote a checkpoint")
			}
			if _, err := os.Stat(grid); err == nil {
				t.Fatal("the refused preview wrote its grid")
			}
			contradicted.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: 1, Sees: strings.Join(sees, " "),
				Disk: "no checkpoint and no preview grid written; the version is left as it was"})
		})
	}
}

package prep

import (
	"runtime"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// The version of a fixed tiny config, and the uncompressed data hash of
// each of its shards, are pinned: a change to any stage that alters the
// rows (split, augment, normalize, the shard layout) without bumping that
// stage's Version, or a change to what the version hashes, fails here. The
// compressed file bytes are not pinned (they follow the zstd library, which
// the version names). If this fails because the bytes changed on purpose,
// bump the stage's Version and update the pins.
func TestTinyVersionAndDataPinned(t *testing.T) {
	set, err := tinyset.Write(t.TempDir(), tinyset.Spec{Train: 120, Test: 30, Side: 6, Seed: 11, Learnable: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(set.Config("pinned",
		"split: {seed: 3, val_fraction: 0.25, stratify: true}\n"+
			"shards: {rows: 50, batch_rows: 16}\n"+
			"augment:\n  copies: 1\n  seed: 9\n  ops:\n    - rotate: {degrees: 12}\n    - translate: {pixels: 1}\n    - noise: {stddev: 0.05, p: 0.5}\n")), "pinned.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := build(t, cfg, testOptions(t, t.TempDir()))
	m := res.Manifest
	const wantVersion = "67e3d1577c6eabc77de3072b8fddc95bf86c38d7fc43f44071340a1da87159e3" // since arrow-go v18.9.0
	if m.Version != wantVersion {
		t.Errorf("version %s, want %s", m.Version, wantVersion)
	}
	if runtime.GOARCH != "amd64" {
		return // data hashes pinned on amd64, like augment's output digest; the version holds everywhere
	}
	want := map[string]string{
		"train-00000-of-00004.arrow": "1ac0903441a6e192",
		"train-00001-of-00004.arrow": "d7eead45aff04736",
		"train-00002-of-00004.arrow": "50b73d0b7ca025e7",
		"train-00003-of-00004.arrow": "d3714f1b1df0b32f",
		"val-00000-of-00001.arrow":   "769496073529b6bf",
		"test-00000-of-00001.arrow":  "a993d99309c0dbfa",
	}
	got := map[string]string{}
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			got[sh.Path] = sh.DataSHA256[:16]
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d shards, want %d", len(got), len(want))
	}
	for p, h := range got {
		if want[p] != h {
			t.Errorf("%s: data hash %s, want %s", p, h, want[p])
		}
	}
}

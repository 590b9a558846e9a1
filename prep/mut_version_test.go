package prep

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/stages/augment"
	"github.com/shardsmith/shardsmith/stages/decode"
	"github.com/shardsmith/shardsmith/stages/images"
	"github.com/shardsmith/shardsmith/stages/normalize"
	"github.com/shardsmith/shardsmith/stages/split"
)

// The version names exactly the stages and libraries that make the bytes of
// that config: the augment stage only when copies are made, the decode stage
// for IDX sources and the images stage for trees, the Parquet writer only for
// Parquet shards, and the codec (with its level for zstd) that compresses
// them. A version that named a library it does not use would change when
// that library changes though the bytes do not; one that missed a library it
// uses would not change when the bytes do.
func TestHashInputNamesWhatMakesTheBytes(t *testing.T) {
	ts := writeTiny(t, 20, 10, 3, 3, 5)
	dir := t.TempDir()
	imageTree(t, dir+"/train", 1, map[string]int{"cat": 2})
	imageTree(t, dir+"/test", 2, map[string]int{"cat": 1})
	aug := "augment: {copies: 1, seed: 2, ops: [{translate: {pixels: 1}}]}\n"
	cases := []struct {
		name       string
		tree       bool
		yaml       string
		wantStages []string
		wantLibs   map[string]string
	}{
		{"idx, zstd", false, "", []string{"decode", "normalize", "shard", "split"},
			map[string]string{"arrow": shard.ArrowLibrary, "zstd": shard.ZstdLibrary, "zstd_level": shard.ZstdLevel}},
		{"idx, augmented", false, aug, []string{"augment", "decode", "normalize", "shard", "split"}, nil},
		{"idx, copies 0", false, "augment: {copies: 0, seed: 2, ops: [{translate: {pixels: 1}}]}\n", []string{"decode", "normalize", "shard", "split"}, nil},
		{"idx, lz4", false, "shards: {compression: lz4}\n", nil,
			map[string]string{"arrow": shard.ArrowLibrary, "lz4": "arrow-go lz4 frame codec (" + shard.ArrowLibrary + ")"}},
		{"idx, uncompressed", false, "shards: {compression: none}\n", nil, map[string]string{"arrow": shard.ArrowLibrary}},
		{"idx, parquet", false, "shards: {format: parquet}\n", nil,
			map[string]string{"arrow": shard.ArrowLibrary, "parquet_created_by": shard.ParquetCreatedBy, "zstd": shard.ZstdLibrary, "zstd_level": shard.ZstdLevel}},
		{"tree", true, "", []string{"images", "normalize", "shard", "split"}, nil},
		{"tree, augmented", true, aug, []string{"augment", "images", "normalize", "shard", "split"}, nil},
	}
	versions := map[string]string{"augment": augment.Version, "decode": decode.Version, "images": images.Version,
		"normalize": normalize.Version, "shard": shard.Version, "split": split.Version}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ts.config(t, c.yaml)
			if c.tree {
				cfg = treeConfig(t, dir, c.yaml)
			}
			h := NewHashInput(cfg)
			if h.Schema != hashSchema {
				t.Errorf("schema %q", h.Schema)
			}
			if c.wantStages != nil {
				got := slices.Sorted(maps.Keys(h.Stages))
				if !slices.Equal(got, c.wantStages) {
					t.Errorf("stages %v, want %v", got, c.wantStages)
				}
				for k, v := range h.Stages {
					if versions[k] != v {
						t.Errorf("stage %s at version %q, want %q", k, v, versions[k])
					}
				}
			}
			if c.wantLibs != nil && !maps.Equal(h.Libraries, c.wantLibs) {
				t.Errorf("libraries %v, want %v", h.Libraries, c.wantLibs)
			}
			// The encoding is what the version hashes, and it is canonical:
			// decoding and encoding it again gives the same bytes.
			var back HashInput
			if err := json.Unmarshal(h.Encode(), &back); err != nil {
				t.Fatal(err)
			}
			if string(back.Encode()) != string(h.Encode()) || back.Version() != h.Version() {
				t.Errorf("encoding is not canonical:\n%s\n%s", h.Encode(), back.Encode())
			}
		})
	}
	// Any change of a library's version string is a new version.
	cfg := ts.config(t, "")
	h := NewHashInput(cfg)
	base := h.Version()
	h.Libraries = maps.Clone(h.Libraries)
	h.Libraries["zstd_level"] += "x"
	if h.Version() == base {
		t.Error("the version does not follow the zstd level")
	}
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Errorf("version %q is not a full hex SHA-256", base)
	}
}

package prep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/stages/augment"
	"github.com/shardsmith/shardsmith/stages/decode"
	"github.com/shardsmith/shardsmith/stages/images"
	"github.com/shardsmith/shardsmith/stages/normalize"
	"github.com/shardsmith/shardsmith/stages/split"
)

// hashSchema names the layout of HashInput itself.
// Version 2: IDX sources enter by the digest of their content (their bytes
// after gzip decoding), not of the file as fetched.
const hashSchema = "shardsmith-dataset-version/2"

// HashInput is everything that determines the bytes of a dataset version, and
// nothing else: not the output path, the cache, the worker count or the
// mirrors (sources are pinned by SHA-256). Its canonical JSON encoding (struct
// fields in declaration order, map keys sorted) is what the version hashes.
type HashInput struct {
	Schema string        `json:"schema"`
	Config config.Hashed `json:"config"`
	// Stages maps each stage to its output version.
	Stages map[string]string `json:"stages"`
	// Libraries whose version changes bytes: the Arrow IPC writer and the
	// body compressor with its level.
	Libraries map[string]string `json:"libraries"`
	// Content maps each split of an image tree or list source to the
	// SHA-256 of its decoded rows (class, relative path, pixels, in order),
	// so the version follows the images, not where or how they are stored.
	Content map[string]string `json:"content,omitempty"`
	// Skipped lists the files skip_bad left out, per split.
	Skipped map[string][]string `json:"skipped,omitempty"`
}

// NewHashInput builds the hash input for a configuration.
func NewHashInput(cfg *config.Config) HashInput {
	libs := map[string]string{"arrow": shard.ArrowLibrary}
	if cfg.Shards.Format == vocab.FormatParquet {
		libs["parquet_created_by"] = shard.ParquetCreatedBy
	}
	switch cfg.Shards.Compression {
	case vocab.CompressionZstd:
		libs["zstd"] = shard.ZstdLibrary
		libs["zstd_level"] = shard.ZstdLevel
	case vocab.CompressionLZ4:
		libs["lz4"] = "arrow-go lz4 frame codec (" + shard.ArrowLibrary + ")"
	}
	stages := map[string]string{
		"decode":    decode.Version,
		"split":     split.Version,
		"normalize": normalize.Version,
		"shard":     shard.Version,
	}
	if !cfg.Sources.IDX() {
		delete(stages, "decode")
		stages["images"] = images.Version
	}
	if cfg.Augment.Copies > 0 {
		stages["augment"] = augment.Version
	}
	return HashInput{Schema: hashSchema, Config: cfg.Hashed(), Stages: stages, Libraries: libs}
}

// withIDXContent sets the content digest of each IDX source.
func (h HashInput) withIDXContent(contents map[string]string) HashInput {
	src := make(map[string]string, len(contents))
	for k, v := range contents {
		src[k] = v
	}
	h.Config.Sources = src
	return h
}

// withContent adds the content digests of image tree and list sources.
func (h HashInput) withContent(set *imageSet) HashInput {
	h.Content = map[string]string{}
	for k, l := range set.lists {
		if l.Root != "" {
			h.Content[imageSplits[k]] = set.content[k]
		}
	}
	for _, s := range set.skipped {
		if h.Skipped == nil {
			h.Skipped = map[string][]string{}
		}
		h.Skipped[s.Split] = append(h.Skipped[s.Split], s.Path)
	}
	return h
}

// Encode returns the canonical encoding of h.
func (h HashInput) Encode() []byte {
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // only plain strings, numbers and slices: cannot fail
	}
	return b
}

// Version returns the full hex SHA-256 of the canonical encoding.
func (h HashInput) Version() string {
	sum := sha256.Sum256(h.Encode())
	return hex.EncodeToString(sum[:])
}

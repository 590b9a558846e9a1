package manifest

import (
	"fmt"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// The on-disk layout of prep's output, in one place for every program that
// writes or finds a version:
//
//	OUT/DATASET/VERSION/manifest.json            (FileName)
//	OUT/DATASET/VERSION/{split}-{i}-of-{n}{ext}  (ShardName)
//	OUT/DATASET/latest -> VERSION                (LatestName)

// LatestName is the symbolic link in a dataset directory that names its
// newest published version.
const LatestName = "latest"

// ShardName is the file name of shard i (from 0) of n of a split, with
// extension ext (".arrow" or ".parquet", see vocab.Format.Ext): for example
// train-00002-of-00004.arrow. Zero-padded, so names sort in shard order.
func ShardName(split vocab.Split, i, n int, ext string) string {
	return fmt.Sprintf("%s-%05d-of-%05d%s", split, i, n, ext)
}

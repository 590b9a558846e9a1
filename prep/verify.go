package prep

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
)

// Problem is one way a version directory differs from its manifest.
type Problem struct {
	Path string `json:"path"`
	What string `json:"what"`
}

// VerifyError lists every problem found by Verify.
type VerifyError struct {
	Dir      string
	Problems []Problem
}

func (e *VerifyError) Error() string {
	s := fmt.Sprintf("%s: %d problem(s):", e.Dir, len(e.Problems))
	for _, p := range e.Problems {
		s += fmt.Sprintf("\n  %s: %s", p.Path, p.What)
	}
	return s
}

// Verify re-hashes every shard of the version in dir against its manifest,
// reading each shard once through formats/dataset with the data hash on:
// file size and bytes (sha256), schema metadata, decoded rows and the hash
// of the uncompressed data. Missing, truncated, altered, contradicted and
// unexpected files are all reported, each with what is wrong.
//
// A version on an object store is verified the same way, each shard
// downloaded into a temporary cache that keeps only the shard being read.
func Verify(dir string) (*manifest.Manifest, error) {
	opts := []dataset.Option{dataset.WithDataHash()}
	if store.IsRemote(dir) {
		tmp, err := os.MkdirTemp("", "shardsmith-verify-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		c, err := dataset.NewCache(tmp, 0)
		if err != nil {
			return nil, err
		}
		opts = append(opts, dataset.WithCache(c))
	}
	ds, err := dataset.Load(dir, opts...)
	if err != nil {
		return nil, err
	}
	m := ds.Manifest()
	var probs []Problem
	listed := map[string]bool{manifest.FileName: true}
	for _, sp := range m.Splits {
		for i, sh := range sp.Shards {
			listed[sh.Path] = true
			if err := readShard(ds, sp.Name, i); err != nil {
				probs = append(probs, Problem{sh.Path, what(err)})
			}
		}
	}
	names, err := versionFiles(ds)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if !listed[name] {
			probs = append(probs, Problem{name, "not listed in the manifest"})
		}
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Path < probs[j].Path })
	if len(probs) > 0 {
		return m, &VerifyError{Dir: dir, Problems: probs}
	}
	return m, nil
}

// readShard reads shard i of a split to its end, which is where the reader
// has checked all of it.
func readShard(ds *dataset.Dataset, split vocab.Split, i int) error {
	r, err := ds.OpenShard(split, i)
	if err != nil {
		return err
	}
	defer r.Close()
	var rows shard.Rows
	for {
		rows.Reset()
		more, err := r.Next(&rows)
		if !more || err != nil {
			return err
		}
	}
}

// what says what is wrong with a shard, in verify's words (the file is
// named by the Problem).
func what(err error) string {
	var se *dataset.ShardError
	if !errors.As(err, &se) {
		return err.Error()
	}
	switch se.Field {
	case dataset.FieldFile:
		if errors.Is(se.Err, fs.ErrNotExist) {
			return "missing"
		}
		return se.Err.Error()
	case dataset.FieldBytes:
		return fmt.Sprintf("size %s bytes, manifest says %s (truncated or replaced)", se.Got, se.Want)
	case dataset.FieldSHA256:
		return fmt.Sprintf("sha256 %s, manifest says %s (contents changed)", se.Got, se.Want)
	case dataset.FieldDataSHA256:
		return fmt.Sprintf("data hash %s, manifest says %s", se.Got, se.Want)
	case dataset.FieldFormat:
		return se.Err.Error()
	}
	return se.Detail // rows and schema metadata
}

// versionFiles lists the names in a version directory, or the keys under a
// version's prefix on an object store.
func versionFiles(ds *dataset.Dataset) ([]string, error) {
	if ds.Remote() {
		return ds.Objects(context.Background())
	}
	entries, err := os.ReadDir(ds.Dir())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

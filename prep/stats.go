package prep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/durable"
	"github.com/shardsmith/shardsmith/stages/decode"
	"github.com/shardsmith/shardsmith/stages/normalize"
	"github.com/shardsmith/shardsmith/stages/split"
)

// statsEntry is one cached statistics result. The cache is content-addressed
// (the file is named by Key) and every entry carries its key and a checksum of
// its payload, so an entry that was damaged, truncated, edited or copied under
// another name is detected and recomputed: a cached value enters the shard
// bytes of a version, and a version must never name two sets of bytes.
//
// Mean and Std hold one value per channel (manifest.Values: a number for one
// channel, so single-channel entries are what they always were).
type statsEntry struct {
	Key  string          `json:"key"`
	Mean manifest.Values `json:"mean"`
	Std  manifest.Values `json:"std"`
	Sum  string          `json:"sum"`
}

// checksum covers the key and the exact bits of every value: one line of
// comma-separated hex words for the means, one for the stds.
func (e statsEntry) checksum() string {
	bits := func(v manifest.Values) string {
		parts := make([]string, len(v))
		for i, f := range v {
			parts[i] = fmt.Sprintf("%016x", math.Float64bits(f))
		}
		return strings.Join(parts, ",")
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%s\n", e.Key, bits(e.Mean), bits(e.Std)))
	return hex.EncodeToString(sum[:])
}

// parseStatsEntry decodes a cache file and checks it is the entry for key.
func parseStatsEntry(b []byte, key string, channels int) (statsEntry, error) {
	var e statsEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a statistics entry: %v", err)
	}
	if dec.More() {
		return e, errors.New("data after the entry")
	}
	switch {
	case e.Key != key:
		return e, fmt.Errorf("entry is for key %q", e.Key)
	case e.Sum != e.checksum():
		return e, fmt.Errorf("checksum %q does not match its values (want %q)", e.Sum, e.checksum())
	}
	if err := (manifest.Normalize{Mode: vocab.NormalizeCompute, Mean: e.Mean, Std: e.Std}).ValidateFor(channels); err != nil {
		return e, fmt.Errorf("mean %s, std %s: %v", e.Mean.Text(), e.Std.Text(), err)
	}
	return e, nil
}

// statsKey covers everything the statistics depend on: the normalize stage's
// version, the digest of the train images' content and which images are in train.
func statsKey(imagesSHA string, assign []uint8) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", normalize.Version, imagesSHA)
	h.Write(assign)
	return hex.EncodeToString(h.Sum(nil))
}

// cachedTrainStats returns the train split's mean and std per channel, from the cache
// when this exact computation was done before and its entry verifies; it
// saves a second decompression of the train images on every rebuild. An
// entry that does not verify is evicted, logged and recomputed.
func cachedTrainStats(ctx context.Context, opts *Options, imagesSHA string, f decode.File, assign []uint8, channels int) (mean, std manifest.Values, err error) {
	key := statsKey(imagesSHA, assign)
	var path string
	if dir := opts.Fetcher.CacheDir(); dir != "" {
		path = filepath.Join(dir, "stats", key+".json")
		if b, err := os.ReadFile(path); err == nil {
			e, err := parseStatsEntry(b, key, channels)
			if err == nil {
				return e.Mean, e.Std, nil
			}
			opts.logf("statistics cache entry %s does not verify (%v); evicting it and recomputing", path, err)
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, nil, fmt.Errorf("evict statistics cache entry: %w", err)
			}
		}
	}
	opts.logf("computing mean/std over the train split")
	if mean, std, err = trainStats(ctx, f, assign, channels); err != nil {
		return nil, nil, err
	}
	if path != "" { // best effort: a failed write only costs the next run a pass
		e := statsEntry{Key: key, Mean: mean, Std: std}
		e.Sum = e.checksum()
		if b, err := json.Marshal(e); err == nil {
			writeCacheFile(path, b)
		}
	}
	return mean, std, nil
}

// writeCacheFile writes b to path atomically, so a reader sees the old
// entry, no entry or the whole new one.
func writeCacheFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, b, 0o644)
}

// trainStats streams the train images once and returns the mean and std,
// per channel, of the pixels of images assigned to the train split.
func trainStats(ctx context.Context, f decode.File, assign []uint8, channels int) (mean, std manifest.Values, err error) {
	path := f.Name
	r, err := decode.OpenIDX(f)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	elems := r.Header().ItemElems()
	buf := make([]uint8, decode.BatchItems(elems, decodeBatch)*elems)
	hist := normalize.NewHistograms(channels)
	for i := 0; i < len(assign); {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		n, err := r.ReadU8(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("%s: ended after %d of %d images", path, i, len(assign))
		}
		for j := 0; j < n; j++ {
			if assign[i+j] == split.Train {
				hist.Add(buf[j*elems : (j+1)*elems])
			}
		}
		i += n
	}
	// Read to the end, so a bad gzip checksum, trailing bytes or a file
	// changed since its download are caught here too (the decode stage
	// checks the same).
	if err := r.End(); err != nil {
		return nil, nil, err
	}
	return hist.MeanStd()
}

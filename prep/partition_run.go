package prep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/pipeline"
)

// The staging area of a version built in partitions on local disk (on a
// store it is the version's own prefix: see partition_stage.go), beside
// where the version is published (a name starting with "." is no version
// to any reader, and a one-process run's clean-up leaves it alone):
//
//	OUT/DATASET/.partitions-SHORT/
//	  train-00000-of-00006.arrow        the shards, under their final names
//	  partition-00002-of-00007.json     the receipt of partition 2 of 7
//	  .partition-00002-of-00007.lock    held while partition 2 of 7 runs
//	  .run-00002-of-00007-*/            the shards of a run in progress (or killed)
//
// A partition writes its shards in its own .run directory, fsyncs each,
// moves them into the staging area by rename, and writes its receipt last
// (durable.WriteFile): a shard in the staging area is whole, and a receipt
// lists only shards that are. Shards of one version have the same bytes
// whichever run wrote them, so a rename over a shard another run put there
// replaces it with the same bytes.

// ReceiptFormat names the layout of a partition receipt.
const ReceiptFormat = "shardsmith-partition-receipt/1"

// Assignment names the shard-to-partition assignment (see partition.go).
const Assignment = "round-robin: shard g of the train, val, test shard sequence belongs to partition g mod N"

const stagingPrefix = ".partitions-"

// Receipt is what a partition run leaves for the commit.
type Receipt struct {
	Format     string         `json:"format"`
	Dataset    string         `json:"dataset"`
	Version    string         `json:"version"`
	Partition  int            `json:"partition"`
	Partitions int            `json:"partitions"`
	Assignment string         `json:"assignment"`
	Splits     []ReceiptSplit `json:"splits"` // every split of the version
	Shards     []ReceiptShard `json:"shards"` // this partition's, in sequence order
	// Manifest is the version's manifest without created and splits: the
	// same in every receipt of a version (statistics, sources, config).
	Manifest *manifest.Manifest `json:"manifest"`
}

// ReceiptSplit is a split of the version: its rows and number of shards.
type ReceiptSplit struct {
	Name   vocab.Split `json:"name"`
	Rows   int         `json:"rows"`
	Shards int         `json:"shards"`
}

// ReceiptShard is a shard a partition wrote: its manifest entry, its place
// and the histogram of its labels.
type ReceiptShard struct {
	Split vocab.Split `json:"split"`
	Index int         `json:"index"`
	manifest.Shard
	Labels []int `json:"labels"`
}

// receiptName is the receipt's file name in the staging area.
func receiptName(p Partition) string {
	return fmt.Sprintf("partition-%05d-of-%05d.json", p.Index, p.Count)
}

func partitionLockName(p Partition) string {
	return fmt.Sprintf(".partition-%05d-of-%05d.lock", p.Index, p.Count)
}

func runPrefix(p Partition) string {
	return fmt.Sprintf(".run-%05d-of-%05d-", p.Index, p.Count)
}

// PartitionResult describes a finished partition run.
type PartitionResult struct {
	Version string // the full version id
	Receipt *Receipt
	// Dir is the staging area; Path the receipt.
	Dir, Path string
	// UpToDate: the partition's receipt and shards were already there and
	// verified, and nothing was built. Published: the version is already
	// published, and nothing was built.
	UpToDate, Published bool
	Stages              []pipeline.Snapshot
	Elapsed             time.Duration
}

// BuildPartition builds the shards of partition p of the version cfg
// describes into its staging area (partition_stage.go: a directory beside
// the version, or the version's prefix on a store) and writes the
// partition's receipt; it publishes nothing (Commit does). A run of a
// partition whose receipt is there and whose shards verify (size and
// SHA-256) does nothing, unless opts.Force; a forced rerun replaces each
// shard with the same bytes. Runs of different partitions may run at once;
// on local disk two runs of one partition take turns on its lock.
func BuildPartition(ctx context.Context, cfg *config.Config, opts Options, p Partition) (*PartitionResult, error) {
	t0 := time.Now()
	if p.Count < 1 || p.Count > MaxPartitions || p.Index < 0 || p.Index >= p.Count {
		return nil, fmt.Errorf("partition %d/%d: want 0 ≤ I < N ≤ %d", p.Index, p.Count, MaxPartitions)
	}
	t, err := resolve(ctx, cfg, &opts)
	if err != nil {
		return nil, err
	}
	defer t.close()
	area := t.stagingArea()
	res := &PartitionResult{Version: t.version, Dir: area.where(), Path: area.receiptLoc(p)}
	published := func() bool {
		_, ok := t.dst.current(ctx, t.short, t.version)
		return ok && !opts.Force
	}
	if published() {
		res.Published, res.Elapsed = true, time.Since(t0)
		return res, nil
	}
	unlock, err := area.lockPartition(ctx, p, opts.logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// A commit may have published the version while this run waited.
	if published() {
		res.Published, res.Elapsed = true, time.Since(t0)
		return res, nil
	}
	area.cleanRuns(p, opts.logf)
	if !opts.Force {
		r, err := loadReceipt(ctx, area, t.cfg.Dataset, t.version, p)
		for _, sh := range receiptShards(r, err) {
			if err = area.verify(ctx, sh.Shard); err != nil {
				break
			}
		}
		if err == nil {
			res.Receipt, res.UpToDate, res.Elapsed = r, true, time.Since(t0)
			return res, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			opts.logf("rebuilding partition %s: %v", p, err)
		}
	}

	if err := t.fetchRest(ctx, &opts); err != nil {
		return nil, err
	}
	tmp, err := area.newRun(p)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	opts.logf("building partition %s of %s version %s into %s", p, t.cfg.Dataset, t.short, area.where())
	run := &partitionRun{p: p}
	opts.partition = run
	m, stages, err := t.buildInto(ctx, tmp, &opts)
	if err != nil {
		return nil, err
	}
	r := newReceipt(m, p, run.filter)
	shards := make([]manifest.Shard, len(r.Shards))
	for i, sh := range r.Shards {
		shards[i] = sh.Shard
	}
	if err := area.putShards(ctx, tmp, shards); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := area.putReceipt(ctx, p, append(data, '\n')); err != nil {
		return nil, err
	}
	res.Receipt, res.Stages, res.Elapsed = r, stages, time.Since(t0)
	return res, nil
}

// receiptShards is the shards of r, none if loading it failed.
func receiptShards(r *Receipt, err error) []ReceiptShard {
	if err != nil {
		return nil
	}
	return r.Shards
}

// newReceipt turns the manifest a partition's graph returned (its own
// shards filled in, the others' blank) into its receipt.
func newReceipt(m *manifest.Manifest, p Partition, f *partFilter) *Receipt {
	r := &Receipt{Format: ReceiptFormat, Dataset: m.Dataset, Version: m.Version, Partition: p.Index, Partitions: p.Count,
		Assignment: Assignment, Shards: []ReceiptShard{}}
	byName := map[vocab.Split]manifest.Split{}
	for _, sp := range m.Splits {
		r.Splits = append(r.Splits, ReceiptSplit{Name: sp.Name, Rows: sp.Rows, Shards: len(sp.Shards)})
		byName[sp.Name] = sp
	}
	for _, ref := range f.refs {
		name := vocab.Splits[ref.split]
		r.Shards = append(r.Shards, ReceiptShard{Split: name, Index: ref.idx, Shard: byName[name].Shards[ref.idx], Labels: f.hist[ref.split][ref.idx]})
	}
	skel := *m
	skel.Created, skel.Splits = "", nil
	r.Manifest = &skel
	return r
}

// loadReceipt reads and checks the receipt of p in the staging area: its
// layout, and that it is partition p of the version.
func loadReceipt(ctx context.Context, area stagingArea, dataset, version string, p Partition) (*Receipt, error) {
	path := area.receiptLoc(p)
	data, err := area.readReceipt(ctx, p)
	if err != nil {
		return nil, err
	}
	r, err := parseReceipt(data)
	if err != nil {
		return nil, fmt.Errorf("receipt %s: %w", path, err)
	}
	switch {
	case r.Dataset != dataset || r.Version != version:
		return nil, fmt.Errorf("receipt %s is for %s version %s, not %s version %s", path, r.Dataset, manifest.Short(r.Version), dataset, manifest.Short(version))
	case r.Partition != p.Index || r.Partitions != p.Count:
		return nil, fmt.Errorf("receipt %s is for partition %d/%d, not %s", path, r.Partition, r.Partitions, p)
	}
	return r, nil
}

// parseReceipt decodes a receipt strictly: unknown fields, trailing data,
// another format or assignment, shard entries that are not valid manifest
// entries are errors.
func parseReceipt(data []byte) (*Receipt, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Receipt
	if err := dec.Decode(&r); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("offset %d: %v", se.Offset, err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("truncated at %d bytes: %v", len(data), err)
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the receipt")
	}
	switch {
	case r.Format != ReceiptFormat:
		return nil, fmt.Errorf("format %q, expected %q", r.Format, ReceiptFormat)
	case r.Assignment != Assignment:
		return nil, fmt.Errorf("assignment %q, expected %q", r.Assignment, Assignment)
	case r.Manifest == nil:
		return nil, errors.New("no manifest")
	}
	for _, sh := range r.Shards {
		if !sh.Split.Valid() {
			return nil, fmt.Errorf("shard %s: unknown split %q", sh.Path, sh.Split)
		}
		n := shardCount(r.Splits, sh.Split)
		if sh.Index < 0 || sh.Index >= n {
			return nil, fmt.Errorf("shard %s: index %d, but split %s has %d shards", sh.Path, sh.Index, sh.Split, n)
		}
		if want := manifest.ShardName(sh.Split, sh.Index, n, filepath.Ext(sh.Path)); sh.Path != want {
			return nil, fmt.Errorf("shard %s: expected the name %s for shard %d of split %s", sh.Path, want, sh.Index, sh.Split)
		}
	}
	return &r, nil
}

func shardCount(splits []ReceiptSplit, name vocab.Split) int {
	for _, sp := range splits {
		if sp.Name == name {
			return sp.Shards
		}
	}
	return 0
}

// verifyShardFile checks a shard file's size and SHA-256 against its entry.
func verifyShardFile(path string, want manifest.Shard) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("shard %s is missing", path)
		}
		return err
	}
	if fi.Size() != want.Bytes {
		return shardMismatch(path, want, fi.Size(), "")
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return fmt.Errorf("shard %s: %w", path, err)
	}
	return shardMismatch(path, want, fi.Size(), sum)
}

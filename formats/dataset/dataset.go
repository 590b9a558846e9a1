// Package dataset reads a dataset version written by prep: a directory with
// manifest.json and the shards it lists.
//
// It is the one reader of a version, for every consumer (the trainer's
// loader, prep preview, prep verify, Go programs): Resolve finds the version
// a user means, Open loads and checks the manifest, OpenShard reads one
// shard batch by batch into a caller's buffer, Batches streams a split's
// Arrow record batches in shard order, and ReadSplit copies a whole split
// into plain Go slices. Every shard is checked against the manifest as it is
// read (the file's size and SHA-256, every schema metadata field, the row
// count; the data hash on request), and a disagreement is a *ShardError
// naming the file and the field, so no consumer trains on or shows a shard
// that is not the one the version describes.
//
// Shards may be Arrow IPC files (.arrow) or Parquet files (.parquet); both
// yield record batches with the same schema (see package shard).
package dataset

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
)

// Dataset is an opened dataset version. Its methods may be called
// concurrently; each call opens the shard files it reads.
type Dataset struct {
	dir  string
	m    *manifest.Manifest
	meta shard.Meta
	opts options
	st   *store.Store // a version on an object store (remote.go), else nil

	mu       sync.Mutex
	verified map[string]bool // shard files whose SHA-256 matched (WithVerifyOnce)
}

// Option configures Open and Load.
type Option func(*options) error

type verifyMode int

const (
	verifyEvery verifyMode = iota
	verifyOnce
	verifyOff
)

type options struct {
	mem      memory.Allocator
	verify   verifyMode
	dataHash bool
	cache    *Cache
}

// WithAllocator sets the allocator for the Arrow buffers of record batches.
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) error {
		if mem == nil {
			return errors.New("dataset: WithAllocator(nil)")
		}
		o.mem = mem
		return nil
	}
}

// WithVerify turns the SHA-256 check of shard files on (the default) or off.
// With it, every read of a shard first hashes the file and compares the hash
// with the manifest's: one pass over the compressed bytes, a few percent of
// the cost of decompressing them. Turn it off only for files that cannot have
// been damaged: the Arrow decoders trust the sizes written in a file, so a
// damaged shard can make them allocate without limit instead of failing.
// Without it a read still checks the file's size.
func WithVerify(on bool) Option {
	return func(o *options) error {
		o.verify = verifyEvery
		if !on {
			o.verify = verifyOff
		}
		return nil
	}
}

// WithVerifyOnce hashes each shard file only the first time this Dataset
// reads it, and checks its size on later reads: for a reader that goes over
// the same shards again and again (the trainer, every epoch).
func WithVerifyOnce() Option {
	return func(o *options) error { o.verify = verifyOnce; return nil }
}

// WithDataHash also hashes the uncompressed column data of every shard as
// it is read and, once a shard is read to its end, compares the hash with the
// manifest's data_sha256 (a FieldDataSHA256 ShardError). Together with the
// file hash that is what `prep verify` checks, in one reading of each shard.
func WithDataHash() Option {
	return func(o *options) error { o.dataHash = true; return nil }
}

// Open opens the version directory dir (for example OUT/mnist/latest; see
// Resolve for the paths a user may give). It loads and validates the
// manifest and checks that every shard it lists is present with the
// recorded size; shard contents are checked when read.
func Open(dir string, opts ...Option) (*Dataset, error) {
	d, err := Load(dir, opts...)
	if err != nil {
		return nil, err
	}
	if d.st != nil {
		return d, d.checkRemote(context.Background())
	}
	for _, sp := range d.m.Splits {
		for _, sh := range sp.Shards {
			p := filepath.Join(dir, sh.Path)
			fi, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("dataset %s: split %s: %w", dir, sp.Name, fileError(p, err))
			}
			if fi.Size() != sh.Bytes {
				return nil, fmt.Errorf("dataset %s: split %s: %w", dir, sp.Name, sizeError(p, fi.Size(), sh.Bytes))
			}
		}
	}
	return d, nil
}

// Load is Open without the check that every shard is present: for tools
// that report on a damaged version rather than read it (prep verify). Every
// read of a shard still checks it.
func Load(dir string, opts ...Option) (*Dataset, error) {
	o := options{mem: memory.DefaultAllocator, verify: verifyEvery}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	var m *manifest.Manifest
	var st *store.Store
	loc, err := store.Parse(dir)
	switch {
	case err != nil:
		return nil, err
	case loc.Local():
		dir = loc.Path
		if m, err = manifest.Load(filepath.Join(dir, manifest.FileName)); err != nil {
			return nil, err // names the manifest file
		}
	default:
		// A store has no links: resolve a dataset's latest object here.
		if dir, err = resolveRemote(context.Background(), loc); err != nil {
			return nil, err
		}
		if loc, err = store.Parse(dir); err != nil {
			return nil, err
		}
		if st, m, err = loadRemote(context.Background(), loc); err != nil {
			return nil, err
		}
	}
	float := m.Normalize.Mode.Float()
	if want := map[bool]string{true: "float32", false: "uint8"}[float]; m.Image.DType != want {
		return nil, fmt.Errorf("dataset %s: manifest: normalize mode %q needs image dtype %s, manifest says %s", dir, m.Normalize.Mode, want, m.Image.DType)
	}
	meta := shard.Meta{
		Dataset: m.Dataset, Version: m.Version,
		Height: m.Image.Height, Width: m.Image.Width, Channels: m.Image.Channels,
		Normalize: m.Normalize.Mode, Mean: m.Normalize.Mean, Std: m.Normalize.Std,
		Classes: m.Classes,
	}
	return &Dataset{dir: dir, m: m, meta: meta, opts: o, st: st, verified: map[string]bool{}}, nil
}

// Dir is the version directory, or its URL on an object store.
func (d *Dataset) Dir() string { return d.dir }

// Manifest returns the loaded manifest; callers must not modify it.
func (d *Dataset) Manifest() *manifest.Manifest { return d.m }

// Splits lists the split names in manifest order (train, val, test as present).
func (d *Dataset) Splits() []vocab.Split {
	names := make([]vocab.Split, len(d.m.Splits))
	for i, sp := range d.m.Splits {
		names[i] = sp.Name
	}
	return names
}

// Meta describes every row of the version: image shape, pixel type
// (Meta.Float), normalization and class names. Its Split is empty.
func (d *Dataset) Meta() shard.Meta { return d.meta }

// NumRows is the number of rows of a split, or -1 if there is no such split.
func (d *Dataset) NumRows(split vocab.Split) int {
	if sp := d.m.Split(split); sp != nil {
		return sp.Rows
	}
	return -1
}

func (d *Dataset) split(name vocab.Split) (*manifest.Split, error) {
	if sp := d.m.Split(name); sp != nil {
		return sp, nil
	}
	have := make([]string, len(d.m.Splits))
	for i, sp := range d.m.Splits {
		have[i] = sp.Name.String()
	}
	return nil, fmt.Errorf("dataset %s: no split %q (have %s)", d.dir, name, strings.Join(have, ", "))
}

// Batches returns an iterator over the record batches of a split, shard by
// shard in manifest order, each with the schema shard.Schema(Meta()). A batch
// is released when the loop body returns; Retain it to keep it longer. The
// first error ends the iteration and is yielded with a nil batch.
//
//	for rec, err := range ds.Batches("train") {
//		if err != nil {
//			return err
//		}
//		labels := rec.Column(1).(*array.Uint8).Uint8Values()
//		...
//	}
func (d *Dataset) Batches(split vocab.Split) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		sp, err := d.split(split)
		if err != nil {
			yield(nil, err)
			return
		}
		for i := range sp.Shards {
			more, err := d.shardBatches(sp.Name, i, yield)
			if err != nil {
				yield(nil, err)
				return
			}
			if !more {
				return
			}
		}
	}
}

// shardBatches yields the batches of shard i; more is false when the
// consumer stopped the iteration.
func (d *Dataset) shardBatches(split vocab.Split, i int, yield func(arrow.RecordBatch, error) bool) (more bool, err error) {
	r, err := d.OpenShard(split, i)
	if err != nil {
		return false, err
	}
	defer r.Close()
	for {
		rec, err := r.NextBatch()
		if err != nil {
			return false, err
		}
		if rec == nil {
			return true, nil
		}
		ok := yield(rec, nil)
		rec.Release()
		if !ok {
			return false, nil
		}
	}
}

// maxPrealloc bounds the pixel values ReadSplit allocates up front.
const maxPrealloc = 1 << 27

// ReadSplit reads every row of a split into Go slices (ImageF32 or ImageU8
// as Meta().Float() says), in the order Batches yields them.
func (d *Dataset) ReadSplit(split vocab.Split) (shard.Rows, error) {
	sp, err := d.split(split)
	if err != nil {
		return shard.Rows{}, err
	}
	// Size the slices from the manifest, within reason: a manifest that
	// claims absurd row counts fails on the shards, not on allocation.
	n, elems := sp.Rows, d.meta.Elems()
	if n > maxPrealloc/elems {
		n = maxPrealloc / elems
	}
	rows := shard.Rows{SourceIndex: make([]uint64, 0, n), Label: make([]uint8, 0, n), Copy: make([]uint16, 0, n)}
	if d.meta.Float() {
		rows.ImageF32 = make([]float32, 0, n*elems)
	} else {
		rows.ImageU8 = make([]uint8, 0, n*elems)
	}
	for rec, err := range d.Batches(split) {
		if err != nil {
			return shard.Rows{}, err
		}
		shard.AppendRows(&rows, rec)
	}
	return rows, nil
}

// Package dataset reads a dataset version written by prep: a directory with
// manifest.json and the shards it lists.
//
// It is the entry point for Go programs that consume shards: Open loads and
// checks the manifest, Batches streams a split's Arrow record batches in
// shard order, and ReadSplit copies a whole split into plain Go slices. Every
// shard is checked against the manifest as it is read (the file's SHA-256,
// schema metadata, row count), so a reader never trains on a shard that is
// not the one the version describes.
//
// Shards may be Arrow IPC files (.arrow) or Parquet files (.parquet); both
// yield record batches with the same schema (see package shard).
package dataset

import (
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
)

// Dataset is an opened dataset version. Its methods may be called
// concurrently; each call opens the shard files it reads.
type Dataset struct {
	dir  string
	m    *manifest.Manifest
	meta shard.Meta
	opts options
}

// Option configures Open.
type Option func(*options)

type options struct {
	mem    memory.Allocator
	verify bool
}

// WithAllocator sets the allocator for the Arrow buffers of record batches.
func WithAllocator(mem memory.Allocator) Option { return func(o *options) { o.mem = mem } }

// WithVerify turns the SHA-256 check of shard files on (the default) or off.
// With it, every read of a shard first hashes the file and compares the hash
// with the manifest's: one pass over the compressed bytes, a few percent of
// the cost of decompressing them. Turn it off only for files that cannot have
// been damaged: the Arrow decoders trust the sizes written in a file, so a
// damaged shard can make them allocate without limit instead of failing.
func WithVerify(on bool) Option { return func(o *options) { o.verify = on } }

// Open opens the version directory dir (for example OUT/mnist/latest). It
// loads and validates the manifest and checks that every shard it lists is
// present with the recorded size; shard contents are checked when read.
func Open(dir string, opts ...Option) (*Dataset, error) {
	o := options{mem: memory.DefaultAllocator, verify: true}
	for _, f := range opts {
		f(&o)
	}
	m, err := manifest.Load(filepath.Join(dir, manifest.FileName))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	float := m.Normalize.Mode != "none"
	if want := map[bool]string{true: "float32", false: "uint8"}[float]; m.Image.DType != want {
		return nil, fmt.Errorf("dataset %s: manifest: normalize mode %q needs image dtype %s, manifest says %s", dir, m.Normalize.Mode, want, m.Image.DType)
	}
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			p := filepath.Join(dir, sh.Path)
			fi, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("dataset %s: split %s: %w", dir, sp.Name, err)
			}
			if fi.Size() != sh.Bytes {
				return nil, fmt.Errorf("dataset %s: shard %s has %d bytes, manifest says %d", dir, sh.Path, fi.Size(), sh.Bytes)
			}
		}
	}
	meta := shard.Meta{
		Dataset: m.Dataset, Version: m.Version,
		Height: m.Image.Height, Width: m.Image.Width, Channels: m.Image.Channels,
		Normalize: m.Normalize.Mode, Mean: m.Normalize.Mean, Std: m.Normalize.Std,
		Classes: m.Classes,
	}
	return &Dataset{dir: dir, m: m, meta: meta, opts: o}, nil
}

// Dir is the version directory.
func (d *Dataset) Dir() string { return d.dir }

// Manifest returns the loaded manifest; callers must not modify it.
func (d *Dataset) Manifest() *manifest.Manifest { return d.m }

// Splits lists the split names in manifest order (train, val, test as present).
func (d *Dataset) Splits() []string {
	names := make([]string, len(d.m.Splits))
	for i, sp := range d.m.Splits {
		names[i] = sp.Name
	}
	return names
}

// Meta describes every row of the version: image shape, pixel type
// (Meta.Float), normalization and class names. Its Split is empty.
func (d *Dataset) Meta() shard.Meta { return d.meta }

// NumRows is the number of rows of a split, or -1 if there is no such split.
func (d *Dataset) NumRows(split string) int {
	if sp := d.m.Split(split); sp != nil {
		return sp.Rows
	}
	return -1
}

func (d *Dataset) split(name string) (*manifest.Split, error) {
	if sp := d.m.Split(name); sp != nil {
		return sp, nil
	}
	return nil, fmt.Errorf("dataset %s: no split %q (have %s)", d.dir, name, strings.Join(d.Splits(), ", "))
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
func (d *Dataset) Batches(split string) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		sp, err := d.split(split)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, sh := range sp.Shards {
			more, err := d.shardBatches(sp.Name, sh, yield)
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

// shardBatches yields the batches of one shard; more is false when the
// consumer stopped the iteration.
func (d *Dataset) shardBatches(split string, sh manifest.Shard, yield func(arrow.RecordBatch, error) bool) (more bool, err error) {
	p := filepath.Join(d.dir, sh.Path)
	if d.opts.verify {
		if err := shard.CheckSHA256(p, sh.SHA256); err != nil {
			return false, fmt.Errorf("dataset: %w", err)
		}
	}
	r, err := shard.OpenFile(p, shard.WithAllocator(d.opts.mem))
	if err != nil {
		return false, fmt.Errorf("dataset: %w", err)
	}
	defer r.Close()
	want := d.meta
	want.Split = split
	if got := r.Meta(); !reflect.DeepEqual(got, want) {
		return false, fmt.Errorf("dataset: shard %s: schema metadata %+v does not match the manifest's %+v", p, got, want)
	}
	rows := 0
	for i := 0; i < r.NumBatches(); i++ {
		rec, err := r.Batch(i)
		if err != nil {
			return false, fmt.Errorf("dataset: %w", err)
		}
		rows += int(rec.NumRows())
		if rows > sh.Rows {
			rec.Release()
			return false, fmt.Errorf("dataset: shard %s: more than the %d rows the manifest lists (batch %d ends at row %d)", p, sh.Rows, i, rows)
		}
		ok := yield(rec, nil)
		rec.Release()
		if !ok {
			return false, nil
		}
	}
	if rows != sh.Rows {
		return false, fmt.Errorf("dataset: shard %s: %d rows, manifest lists %d", p, rows, sh.Rows)
	}
	return true, nil
}

// maxPrealloc bounds the pixel values ReadSplit allocates up front.
const maxPrealloc = 1 << 27

// ReadSplit reads every row of a split into Go slices (ImageF32 or ImageU8
// as Meta().Float() says), in the order Batches yields them.
func (d *Dataset) ReadSplit(split string) (shard.Rows, error) {
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

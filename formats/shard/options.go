package shard

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Option configures a shard writer (Write, WriteParquet) or reader (Open,
// OpenParquet, OpenFile). An option given an invalid value makes the call
// fail with an error naming the option and the value, before anything is
// written or opened.
type Option func(*options) error

type options struct {
	mem         memory.Allocator
	batchRows   int
	compression vocab.Compression
	// reading is set for readers, which take only WithAllocator.
	reading bool
}

// defaultOptions are the defaults of every option, in one place.
func defaultOptions() options {
	return options{mem: memory.DefaultAllocator, batchRows: 1024, compression: vocab.Compressions[0]}
}

// newOptions applies a writer's options to the defaults.
func newOptions(opts []Option) (options, error) {
	return applyOptions(defaultOptions(), opts)
}

// readOptions applies a reader's options to the defaults.
func readOptions(opts []Option) (options, error) {
	o := defaultOptions()
	o.reading = true
	return applyOptions(o, opts)
}

func applyOptions(o options, opts []Option) (options, error) {
	for _, f := range opts {
		if f == nil {
			return options{}, fmt.Errorf("shard: a nil Option")
		}
		if err := f(&o); err != nil {
			return options{}, fmt.Errorf("shard: %w", err)
		}
	}
	return o, nil
}

// WithAllocator sets the allocator for Arrow's buffers (default
// memory.DefaultAllocator).
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) error {
		if mem == nil {
			return fmt.Errorf("WithAllocator(nil): want an allocator")
		}
		o.mem = mem
		return nil
	}
}

// WithBatchRows sets the rows per record batch (IPC) or row group (Parquet),
// default 1024; at least 1. Writers only.
func WithBatchRows(n int) Option {
	return func(o *options) error {
		switch {
		case o.reading:
			return fmt.Errorf("WithBatchRows(%d): a reader takes the batches the file has", n)
		case n < 1:
			return fmt.Errorf("WithBatchRows(%d): batch rows must be ≥ 1", n)
		}
		o.batchRows = n
		return nil
	}
}

// WithCompression selects one of vocab.Compressions: zstd (default), lz4 or
// none. Writers only.
func WithCompression(c vocab.Compression) Option {
	return func(o *options) error {
		if o.reading {
			return fmt.Errorf("WithCompression(%q): a reader takes the compression the file has", c)
		}
		if !c.Valid() {
			return fmt.Errorf("WithCompression(%q): unknown compression %q, want one of %q", c, c, vocab.Compressions)
		}
		o.compression = c
		return nil
	}
}

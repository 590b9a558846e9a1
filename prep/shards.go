package prep

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/stages/split"
)

// shardFormat is how shard files are encoded: the file extension, the
// encoder and its options. The shard stages know this, not the config.
type shardFormat struct {
	ext   string
	write func(io.Writer, shard.Meta, shard.Rows, ...shard.Option) (shard.Result, error)
	opts  []shard.Option
}

// newShardFormat is the one place where the config's shard settings become
// shard writer options.
func newShardFormat(format vocab.Format, compression vocab.Compression, batchRows int) (shardFormat, error) {
	f := shardFormat{ext: format.Ext(), write: shard.Write,
		opts: []shard.Option{shard.WithBatchRows(batchRows), shard.WithCompression(compression)}}
	if format == vocab.FormatParquet {
		f.write = shard.WriteParquet
	}
	return f, nil
}

// shardJob is one whole shard, cut by the route stage.
type shardJob struct {
	split uint8
	idx   int
	name  string
	meta  shard.Meta
	rows  shard.Rows
}

// shardDone is a written shard: its manifest entry, and its buffer for reuse.
type shardDone struct {
	split uint8
	idx   int
	entry manifest.Shard
	rows  shard.Rows
}

// shardStages are the last three stages of the graph:
//
//	route   (1 goroutine)  routes rows to their split's current shard (normalizing
//	                       float32 shards' pixels on the way) and emits full shards
//	write   (workers)      encodes, hashes and fsyncs each shard file
//	collect (1 goroutine)  puts each result in its index-aligned slot [split][shard]
//
// Being stages of the graph, a failed write cancels every stage through the
// graph alone, and compression time shows in the stage report.
type shardStages struct {
	meta    shard.Meta
	plans   []*splitPlan
	ext     string
	cur     []shard.Rows // the shard being filled, per split
	next    []int        // index of the shard being filled, per split
	results [][]manifest.Shard
	hist    [][]int
	// free holds buffers whose shard is written, for reuse by any split
	// whose shards fit them.
	free chan shard.Rows
	// part, in a partitioned build, keeps only the partition's shards.
	part *partFilter
	// table, for float32 shards, normalizes the uint8 pixels of the items
	// as route copies them into the shard buffers.
	table manifest.Table
}

func newShardStages(g *pipeline.Graph, dir string, meta shard.Meta, plans []*splitPlan, format shardFormat, opts *Options, part *partFilter, table manifest.Table, in <-chan item) *shardStages {
	s := &shardStages{meta: meta, plans: plans, ext: format.ext, part: part, table: table,
		cur: make([]shard.Rows, len(plans)), next: make([]int, len(plans)), results: make([][]manifest.Shard, len(plans)),
		hist: make([][]int, len(plans)), free: make(chan shard.Rows, opts.Workers+len(plans))}
	for i, p := range plans {
		s.results[i] = make([]manifest.Shard, p.nShards)
		s.hist[i] = make([]int, len(meta.Classes))
	}
	w := &shardWriter{dir: dir, format: format, wrap: opts.wrapShard}
	jobs := pipeline.Regroup(g, "route", 1, in, s.route, s.flushAll)
	done := pipeline.Map(g, "write", opts.Workers, 1, jobs, func(ctx context.Context, st *pipeline.Stats, j shardJob) (shardDone, error) {
		entry, err := w.write(j.name, j.meta, j.rows)
		if err != nil {
			return shardDone{}, err
		}
		st.AddRows(j.rows.Len())
		return shardDone{split: j.split, idx: j.idx, entry: entry, rows: j.rows}, nil
	})
	pipeline.Sink(g, "collect", done, func(ctx context.Context, st *pipeline.Stats, d shardDone) error {
		s.results[d.split][d.idx] = d.entry
		st.AddRows(d.entry.Rows)
		d.rows.Reset()
		select { // recycle the buffer for a later shard
		case s.free <- d.rows:
		default:
		}
		return nil
	})
	return s
}

// route copies the rows of it into their splits' shard buffers and emits
// every shard that becomes full. The pixels of it are recycled.
func (s *shardStages) route(ctx context.Context, st *pipeline.Stats, it item, emit func(shardJob) error) error {
	defer bytePool.put(it.rows.ImageU8) // the rows are copied into shard buffers
	st.AddRows(it.rows.Len())
	elems := s.meta.Elems()
	if s.part != nil {
		var err error
		if it.split, err = s.part.keepOwned(&it.rows, it.split, elems); err != nil {
			return err
		}
	}
	for i := 0; i < it.rows.Len(); {
		sp := it.split[i]
		j := i + 1
		for j < it.rows.Len() && it.split[j] == sp {
			j++
		}
		if sp != split.Drop {
			for k := i; k < j; k++ {
				s.hist[sp][it.rows.Label[k]]++
			}
			run := it.rows.Slice(i, j, elems)
			for run.Len() > 0 {
				cur := &s.cur[sp]
				if cur.Label == nil {
					*cur = s.newRows(sp)
					if s.part != nil { // the owned shards are not consecutive
						s.next[sp] = s.part.shardOf(sp, run.SourceIndex[0], run.Copy[0])
					}
				}
				take := min(run.Len(), s.plans[sp].perShard-cur.Len())
				appendRows(cur, run.Slice(0, take, elems), s.table)
				run = run.Slice(take, run.Len(), elems)
				if cur.Len() == s.plans[sp].perShard {
					if err := s.cut(sp, emit); err != nil {
						return err
					}
				}
			}
		}
		i = j
	}
	return nil
}

// flushAll emits the partial last shard of every split.
func (s *shardStages) flushAll(ctx context.Context, st *pipeline.Stats, emit func(shardJob) error) error {
	for sp := range s.cur {
		if s.cur[sp].Len() > 0 {
			if err := s.cut(uint8(sp), emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// cut emits split sp's current shard as a job.
func (s *shardStages) cut(sp uint8, emit func(shardJob) error) error {
	rows := s.cur[sp]
	s.cur[sp] = shard.Rows{}
	idx := s.next[sp]
	s.next[sp]++
	if idx >= s.plans[sp].nShards {
		return fmt.Errorf("split %s: shard %d is beyond the %d planned", vocab.Splits[sp], idx, s.plans[sp].nShards)
	}
	meta := s.meta
	meta.Split = vocab.Splits[sp]
	name := manifest.ShardName(vocab.Splits[sp], idx, s.plans[sp].nShards, s.ext)
	return emit(shardJob{split: sp, idx: idx, name: name, meta: meta, rows: rows})
}

// newRows returns an empty buffer for a shard of split sp: a recycled one
// that fits, or one sized by the rows the split actually holds (see
// splitPlan.bufRows). Usually every split's shards are full-sized, so every
// recycled buffer fits; a smaller one is left to the collector.
func (s *shardStages) newRows(sp uint8) shard.Rows {
	n, elems := s.plans[sp].bufRows(), s.meta.Elems()
	select {
	case r := <-s.free:
		if cap(r.Label) >= n {
			return r
		}
	default:
	}
	r := shard.Rows{SourceIndex: make([]uint64, 0, n), Label: make([]uint8, 0, n), Copy: make([]uint16, 0, n)}
	if s.meta.SourcePaths {
		r.SourcePath = make([]string, 0, n)
	}
	if s.meta.Float() {
		r.ImageF32 = make([]float32, 0, n*elems)
	} else {
		r.ImageU8 = make([]uint8, 0, n*elems)
	}
	return r
}

// appendRows appends src to dst. Into a float32 buffer, uint8 pixels are
// normalized by table.
func appendRows(dst *shard.Rows, src shard.Rows, table manifest.Table) {
	dst.SourceIndex = append(dst.SourceIndex, src.SourceIndex...)
	dst.Label = append(dst.Label, src.Label...)
	dst.Copy = append(dst.Copy, src.Copy...)
	if dst.SourcePath != nil {
		dst.SourcePath = append(dst.SourcePath, src.SourcePath...)
	}
	switch {
	case dst.ImageF32 != nil && src.ImageF32 == nil:
		n := len(dst.ImageF32)
		dst.ImageF32 = slices.Grow(dst.ImageF32, len(src.ImageU8))[:n+len(src.ImageU8)]
		table.Apply(dst.ImageF32[n:], src.ImageU8)
	case dst.ImageF32 != nil:
		dst.ImageF32 = append(dst.ImageF32, src.ImageF32...)
	default:
		dst.ImageU8 = append(dst.ImageU8, src.ImageU8...)
	}
}

// check confirms, after the graph finished, that every planned shard was cut.
func (s *shardStages) check() error {
	if s.part != nil {
		return s.part.check(s.results)
	}
	for sp, p := range s.plans {
		if s.next[sp] != p.nShards {
			return fmt.Errorf("split %s: wrote %d shards, planned %d", vocab.Splits[sp], s.next[sp], p.nShards)
		}
	}
	return nil
}

// shardWriter writes one shard file: encode, hash while writing, fsync.
type shardWriter struct {
	dir    string
	format shardFormat
	// wrap, when set, wraps each shard file's writer (tests inject faults).
	wrap func(io.Writer) io.Writer
}

func (w *shardWriter) write(name string, meta shard.Meta, rows shard.Rows) (manifest.Shard, error) {
	path := filepath.Join(w.dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return manifest.Shard{}, fmt.Errorf("shard %s: %w", name, err)
	}
	defer f.Close()
	var sink io.Writer = f
	if w.wrap != nil {
		sink = w.wrap(f)
	}
	hw := &sha256Writer{w: sink, h: sha256.New()}
	bw := bufio.NewWriterSize(hw, 1<<20)
	res, err := w.format.write(bw, meta, rows, w.format.opts...)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return manifest.Shard{}, fmt.Errorf("writing shard %s: %w", name, err)
	}
	return manifest.Shard{Path: name, Rows: res.Rows, Bytes: hw.n, SHA256: hex.EncodeToString(hw.h.Sum(nil)), DataSHA256: res.DataSHA256}, nil
}

// sha256Writer counts and hashes what passes through it to w.
type sha256Writer struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (s *sha256Writer) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	return n, err
}

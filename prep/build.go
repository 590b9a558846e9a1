// Package prep builds dataset versions: it resolves a configuration, fetches
// the sources, derives the version id, runs the stage graph
// (decode → augment → normalize → shard) into a temporary directory, and
// publishes the result with one atomic rename. It also verifies and
// reproduces published versions.
//
// The split decision is made from the labels before the graph runs, so the
// graph order differs from the order stages are usually listed in: the split
// is decided first (by source index), augmented copies are made next (and
// inherit their source's split, so nothing leaks between splits), and
// pixels are normalized last, with statistics taken from the un-augmented
// train originals.
package prep

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/stages/augment"
	"github.com/shardsmith/shardsmith/stages/decode"
	"github.com/shardsmith/shardsmith/stages/download"
	"github.com/shardsmith/shardsmith/stages/normalize"
	"github.com/shardsmith/shardsmith/stages/split"
)

// ToolVersion is recorded in every manifest.
var ToolVersion = "shardsmith 0.1.0"

// decodeBatch is how many images the decode stage reads per item.
const decodeBatch = 1024

// Options control a build; none of them changes the bytes of a version.
type Options struct {
	// Out overrides the configuration's output root.
	Out string
	// Workers bounds the parallel stages (default: config, then GOMAXPROCS).
	Workers int
	// Force rebuilds a version that already exists.
	Force bool
	// Fetcher fetches the sources (default: download.New with Cache).
	Fetcher *download.Fetcher
	// Cache is the download cache directory when Fetcher is nil.
	Cache string
	// Logf receives one-line status messages.
	Logf func(format string, args ...any)
	// Progress is called a few times a second while the graph runs.
	Progress func(Progress)

	// wrapShard, when set, wraps each shard file's writer (tests inject faults).
	wrapShard func(io.Writer) io.Writer
}

// Progress is a snapshot of a running build.
type Progress struct {
	RowsDone, RowsTotal int64
	Stages              []pipeline.Snapshot
}

// Result describes a finished build.
type Result struct {
	Manifest *manifest.Manifest
	// Dir is the published version directory.
	Dir string
	// UpToDate is true when the version already existed and nothing was built.
	UpToDate bool
	Stages   []pipeline.Snapshot
	Elapsed  time.Duration
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Build makes sure the dataset version described by cfg exists under the
// output root, building and publishing it if needed.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	t0 := time.Now()
	out := opts.Out
	if out == "" {
		out = cfg.Out
	}
	if opts.Workers == 0 {
		opts.Workers = cfg.Workers
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Augment.Copies > 0 {
		// Check the ops now, before any download. The image size is not
		// known yet: validate against a generous nominal one; the real size
		// is checked again when the stage is built.
		if _, err := newAugmenter(cfg, 256, 256); err != nil {
			return nil, err
		}
	}
	hin := NewHashInput(cfg)
	version := hin.Version()
	short := manifest.Short(version)
	dsDir := filepath.Join(out, cfg.Dataset)
	final := filepath.Join(dsDir, short)

	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if err := checkWritable(dsDir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(ctx, dsDir, opts.logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStale(dsDir, opts.logf)

	if !opts.Force {
		if m, err := manifest.Load(final); err == nil && m.Version == version && shardsPresent(final, m) {
			if err := setLatest(dsDir, short); err != nil {
				return nil, err
			}
			return &Result{Manifest: m, Dir: final, UpToDate: true, Elapsed: time.Since(t0)}, nil
		}
	}

	if opts.Fetcher == nil {
		var fo []download.Option
		if opts.Cache != "" {
			fo = append(fo, download.WithCacheDir(opts.Cache))
		} else if cfg.Cache != "" {
			fo = append(fo, download.WithCacheDir(cfg.Cache))
		}
		if opts.Logf != nil {
			fo = append(fo, download.WithLogf(opts.Logf))
		}
		opts.Fetcher = download.New(fo...)
	}
	paths, sources, err := fetchAll(ctx, cfg, &opts)
	if err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp(dsDir, ".tmp-"+short+"-")
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("output directory: %w", err)
	}
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()

	opts.logf("building %s version %s into %s", cfg.Dataset, short, final)
	m, stages, err := buildInto(ctx, tmp, cfg, hin, paths, &opts)
	if err != nil {
		return nil, err
	}
	m.Sources = sources
	if err := writeManifest(tmp, m); err != nil {
		return nil, err
	}
	if err := publish(tmp, final, dsDir); err != nil {
		return nil, err
	}
	published = true
	if err := setLatest(dsDir, short); err != nil {
		return nil, err
	}
	return &Result{Manifest: m, Dir: final, Stages: stages, Elapsed: time.Since(t0)}, nil
}

// fetchAll fetches the four sources concurrently; results land in
// index-aligned slots so their order never depends on which finished first.
func fetchAll(ctx context.Context, cfg *config.Config, opts *Options) (map[string]string, []manifest.Source, error) {
	f := opts.Fetcher
	all := cfg.Sources.All()
	got := make([]string, len(all))
	srcs := make([]manifest.Source, len(all))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(len(all))
	for i, s := range all {
		eg.Go(func() error {
			p, err := f.Fetch(ectx, download.Source{Name: s.Key, SHA256: s.File.SHA256, URLs: cfg.URLs(s.File)})
			if err != nil {
				return err
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			got[i] = p
			srcs[i] = manifest.Source{Name: s.Key, File: s.File.File, SHA256: s.File.SHA256, Bytes: fi.Size()}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, nil, err
	}
	paths := map[string]string{}
	for i, s := range all {
		paths[s.Key] = got[i]
	}
	return paths, srcs, nil
}

// item is what flows through the graph: a run of rows and the split of each.
type item struct {
	rows  shard.Rows
	split []uint8
}

// splitPlan is the shard layout of one split, known before any pixel is read.
type splitPlan struct {
	id        uint8
	rows      int
	perShard  int
	nShards   int
	augmented bool
}

func buildInto(ctx context.Context, dir string, cfg *config.Config, hin HashInput, paths map[string]string, opts *Options) (*manifest.Manifest, []pipeline.Snapshot, error) {
	classes := len(cfg.Classes)
	file := func(key string) decode.File {
		return decode.File{Path: paths[key], Name: fmt.Sprintf("%s (%s)", key, sourceFile(cfg, key))}
	}
	train, err := decode.Open(file("train_images"), file("train_labels"), classes)
	if err != nil {
		return nil, nil, err
	}
	defer train.Close()
	test, err := decode.Open(file("test_images"), file("test_labels"), classes)
	if err != nil {
		return nil, nil, err
	}
	defer test.Close()
	if train.Height != test.Height || train.Width != test.Width || train.Channels != test.Channels {
		return nil, nil, fmt.Errorf("train images are %dx%dx%d but test images are %dx%dx%d",
			train.Height, train.Width, train.Channels, test.Height, test.Width, test.Channels)
	}
	elems := train.Elems()

	so := split.Options{Seed: cfg.Split.Seed, Fraction: cfg.Split.ValFraction, Count: cfg.Split.ValCount, Stratify: cfg.Split.Stratify, PerClass: cfg.Split.PerClass}
	// remap[l] is the label written for source label l.
	var remap [256]uint8
	for l := range remap {
		remap[l] = uint8(l)
	}
	for i, l := range cfg.Split.Labels {
		so.Labels = append(so.Labels, uint8(l))
		if cfg.Split.Remap {
			remap[l] = uint8(i)
		}
	}
	trainAssign, err := split.Assign(train.Labels, so)
	if err != nil {
		return nil, nil, err
	}
	testAssign := split.AssignTest(test.Labels, so)
	classNames := cfg.OutputClasses()

	var aug *augment.Augmenter
	augSplits := map[uint8]bool{}
	if cfg.Augment.Copies > 0 {
		if train.Channels != 1 {
			return nil, nil, fmt.Errorf("augment: only single-channel images are supported, got %d channels", train.Channels)
		}
		if aug, err = newAugmenter(cfg, train.Width, train.Height); err != nil {
			return nil, nil, err
		}
		for _, s := range cfg.Augment.Splits {
			id, _ := split.ID(s)
			augSplits[id] = true
		}
	}

	// Normalization statistics: from the train split's originals only.
	norm := manifest.Normalize{Mode: cfg.Normalize.Mode, Mean: cfg.Normalize.Mean, Std: cfg.Normalize.Std}
	if cfg.Normalize.Mode != "fixed" {
		if norm.Mean, norm.Std, err = cachedTrainStats(ctx, opts, cfg.Sources.TrainImages.SHA256, file("train_images"), trainAssign); err != nil {
			return nil, nil, err
		}
	}

	// Shard layout per split.
	rowBytes := int64(elems)
	if cfg.Normalize.Mode != "none" {
		rowBytes *= 4
	}
	perShard := cfg.Shards.Rows
	if cfg.Shards.MaxBytes > 0 {
		perShard = int(max(1, min(int64(perShard), cfg.Shards.MaxBytes/rowBytes)))
	}
	plans := make([]*splitPlan, len(split.Names))
	for id := range plans {
		plans[id] = &splitPlan{id: uint8(id), perShard: perShard, augmented: augSplits[uint8(id)]}
	}
	for _, a := range [][]uint8{trainAssign, testAssign} {
		for _, s := range a {
			if s != split.Drop {
				plans[s].rows++
			}
		}
	}
	var totalRows int64
	for _, p := range plans {
		if p.augmented {
			p.rows *= 1 + cfg.Augment.Copies
		}
		p.nShards = (p.rows + perShard - 1) / perShard
		totalRows += int64(p.rows)
	}

	meta := shard.Meta{Dataset: cfg.Dataset, Version: hin.Version(), Height: train.Height, Width: train.Width, Channels: train.Channels,
		Normalize: cfg.Normalize.Mode, Mean: norm.Mean, Std: norm.Std, Classes: classNames}

	g := pipeline.New(ctx)
	src := pipeline.Source(g, "decode", 2, func(ctx context.Context, st *pipeline.Stats, emit func(item) error) error {
		base := uint64(0)
		for _, pa := range []struct {
			p      *decode.Pair
			assign []uint8
		}{{train, trainAssign}, {test, testAssign}} {
			for i := 0; i < pa.p.Count(); {
				n := min(decodeBatch, pa.p.Count()-i)
				it := item{rows: shard.Rows{SourceIndex: make([]uint64, 0, n), Label: make([]uint8, 0, n), Copy: make([]uint16, n), ImageU8: bytePool.get(n * elems)}}
				got, err := pa.p.Read(it.rows.ImageU8)
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				if got != n {
					return fmt.Errorf("read %d of %d images at image %d", got, n, i)
				}
				for j := 0; j < n; j++ {
					it.rows.SourceIndex = append(it.rows.SourceIndex, base+uint64(i+j))
					it.rows.Label = append(it.rows.Label, remap[pa.p.Labels[i+j]])
				}
				it.split = pa.assign[i : i+n]
				st.AddRows(n)
				if err := emit(it); err != nil {
					return err
				}
				i += n
			}
			if err := pa.p.ReadEnd(); err != nil {
				return err
			}
			base += uint64(pa.p.Count())
		}
		return nil
	})
	stream := src
	if aug != nil {
		stream = pipeline.Map(g, "augment", opts.Workers, 2, stream, func(ctx context.Context, st *pipeline.Stats, it item) (item, error) {
			out := expand(it, aug, augSplits, cfg.Augment.Copies, elems)
			st.AddRows(out.rows.Len() - it.rows.Len())
			return out, nil
		})
	}
	if cfg.Normalize.Mode != "none" {
		table := normalize.NewTable(norm.Mean, norm.Std)
		stream = pipeline.Map(g, "normalize", opts.Workers, 2, stream, func(ctx context.Context, st *pipeline.Stats, it item) (item, error) {
			it.rows.ImageF32 = floatPool.get(len(it.rows.ImageU8))
			table.Apply(it.rows.ImageF32, it.rows.ImageU8)
			bytePool.put(it.rows.ImageU8)
			it.rows.ImageU8 = nil
			st.AddRows(it.rows.Len())
			return it, nil
		})
	}
	sw := newShardWriter(g.Context(), dir, meta, plans, cfg, opts)
	pipeline.Sink(g, "shard", stream, func(ctx context.Context, st *pipeline.Stats, it item) error {
		st.AddRows(it.rows.Len())
		err := sw.add(it)
		// The rows are copied into shard buffers: recycle the pixels.
		bytePool.put(it.rows.ImageU8)
		floatPool.put(it.rows.ImageF32)
		return err
	})

	stopProgress := startProgress(g, opts, totalRows)
	err = g.Wait()
	if err == nil {
		err = sw.finish()
	} else {
		sw.abort()
	}
	stopProgress()
	if err != nil {
		return nil, nil, err
	}

	cfgJSON, err := json.Marshal(resolvedForManifest(cfg))
	if err != nil {
		return nil, nil, err
	}
	m := &manifest.Manifest{
		Dataset:   cfg.Dataset,
		Version:   hin.Version(),
		Tool:      ToolVersion,
		Created:   time.Now().UTC().Format(time.RFC3339),
		Config:    cfgJSON,
		HashInput: hin.Encode(),
		Image:     manifest.Image{Height: train.Height, Width: train.Width, Channels: train.Channels, DType: "float32"},
		Normalize: norm,
		Classes:   classNames,
	}
	if cfg.Normalize.Mode == "none" {
		m.Image.DType = "uint8"
	}
	for _, p := range plans {
		if p.rows == 0 {
			continue
		}
		m.Splits = append(m.Splits, manifest.Split{Name: split.Names[p.id], Rows: p.rows, Labels: sw.hist[p.id], Shards: sw.results[p.id]})
	}
	return m, g.Stats(), nil
}

// newAugmenter builds the augment stage from the config; a bad op or
// parameter is a config error naming its line.
func newAugmenter(cfg *config.Config, width, height int) (*augment.Augmenter, error) {
	specs := make([]augment.Spec, len(cfg.Augment.Ops))
	for i, op := range cfg.Augment.Ops {
		specs[i] = augment.Spec{Op: op.Op, Params: op.Params, Line: op.Line}
	}
	a, err := augment.New(cfg.Augment.Seed, width, height, specs)
	if err != nil {
		return nil, &config.Error{File: cfg.File(), Msg: err.Error()}
	}
	return a, nil
}

// sourceFile is the file name of a source, for messages.
func sourceFile(cfg *config.Config, key string) string {
	for _, s := range cfg.Sources.All() {
		if s.Key == key {
			if s.File.File != "" {
				return s.File.File
			}
			return s.File.URLs[0]
		}
	}
	return key
}

// resolvedForManifest is the configuration as embedded in a manifest:
// defaults filled in, machine-local settings (output, cache, workers) left out.
func resolvedForManifest(cfg *config.Config) *config.Config {
	c := *cfg
	c.Out, c.Cache, c.Workers = "", "", 0
	return &c
}

// expand inserts the augmented copies of each row whose split is augmented
// right after its original.
func expand(it item, aug *augment.Augmenter, augSplits map[uint8]bool, copies, elems int) item {
	n := it.rows.Len()
	extra := 0
	for _, s := range it.split {
		if augSplits[s] {
			extra += copies
		}
	}
	if extra == 0 {
		return it
	}
	total := n + extra
	out := item{rows: shard.Rows{SourceIndex: make([]uint64, 0, total), Label: make([]uint8, 0, total), Copy: make([]uint16, 0, total),
		ImageU8: bytePool.get(total * elems)}, split: make([]uint8, 0, total)}
	k := 0
	for i := 0; i < n; i++ {
		src := it.rows.ImageU8[i*elems : (i+1)*elems]
		c := 0
		if augSplits[it.split[i]] {
			c = copies
		}
		for j := 0; j <= c; j++ {
			dst := out.rows.ImageU8[k*elems : (k+1)*elems]
			if j == 0 {
				copy(dst, src)
			} else {
				aug.Apply(dst, src, it.rows.SourceIndex[i], j)
			}
			out.rows.SourceIndex = append(out.rows.SourceIndex, it.rows.SourceIndex[i])
			out.rows.Label = append(out.rows.Label, it.rows.Label[i])
			out.rows.Copy = append(out.rows.Copy, uint16(j))
			out.split = append(out.split, it.split[i])
			k++
		}
	}
	bytePool.put(it.rows.ImageU8)
	return out
}

// cachedTrainStats returns the train split's mean and std, from the cache
// when this exact computation was done before. The key covers everything the
// result depends on (the image file's SHA-256, which images are in train,
// and the normalize stage's version), so a hit is always right; it saves a
// second decompression of the train images on every rebuild.
func cachedTrainStats(ctx context.Context, opts *Options, imagesSHA string, f decode.File, assign []uint8) (mean, std float64, err error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", normalize.Version, imagesSHA)
	h.Write(assign)
	var path string
	if dir := opts.Fetcher.CacheDir(); dir != "" {
		path = filepath.Join(dir, "stats", hex.EncodeToString(h.Sum(nil))+".json")
		var st struct{ Mean, Std float64 }
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &st) == nil && st.Std > 0 {
			return st.Mean, st.Std, nil
		}
	}
	opts.logf("computing mean/std over the train split")
	if mean, std, err = trainStats(ctx, f, assign); err != nil {
		return 0, 0, err
	}
	if path != "" { // best effort: a failed write only costs the next run a pass
		if b, err := json.Marshal(struct{ Mean, Std float64 }{mean, std}); err == nil && os.MkdirAll(filepath.Dir(path), 0o755) == nil {
			tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
			if os.WriteFile(tmp, b, 0o644) == nil {
				os.Rename(tmp, path)
			}
		}
	}
	return mean, std, nil
}

// trainStats streams the train images once and returns the mean and std of
// the pixels of images assigned to the train split.
func trainStats(ctx context.Context, f decode.File, assign []uint8) (mean, std float64, err error) {
	path := f.Name
	r, closer, err := decode.OpenIDX(f)
	if err != nil {
		return 0, 0, err
	}
	defer closer.Close()
	elems := r.Header().ItemElems()
	buf := make([]uint8, decodeBatch*elems)
	var hist normalize.Histogram
	for i := 0; i < len(assign); {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		n, err := r.ReadU8(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, err
		}
		if n == 0 {
			return 0, 0, fmt.Errorf("%s: ended after %d of %d images", path, i, len(assign))
		}
		for j := 0; j < n; j++ {
			if assign[i+j] == split.Train {
				hist.Add(buf[j*elems : (j+1)*elems])
			}
		}
		i += n
	}
	// Read to the end, so a bad gzip checksum or trailing bytes are caught
	// here too (the decode stage checks the same).
	if err := decode.ReadEnd(r); err != nil {
		return 0, 0, err
	}
	return hist.MeanStd()
}

// slicePool recycles pixel buffers between the graph's items, so memory
// stays at the graph's buffers rather than growing with garbage.
type slicePool[T any] struct{ p sync.Pool }

func (sp *slicePool[T]) get(n int) []T {
	if v, ok := sp.p.Get().(*[]T); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]T, n)
}

func (sp *slicePool[T]) put(s []T) {
	if cap(s) > 0 {
		sp.p.Put(&s)
	}
}

var (
	bytePool  slicePool[uint8]
	floatPool slicePool[float32]
)

// sha256Writer counts and hashes what passes through it to w.
type sha256Writer struct {
	w io.Writer
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (s *sha256Writer) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	return n, err
}

// shardWriter routes rows to their split's current shard and writes full
// shards concurrently; results go to index-aligned slots [split][shard].
type shardWriter struct {
	dir     string
	meta    shard.Meta
	plans   []*splitPlan
	cfg     *config.Config
	opts    *Options
	eg      *errgroup.Group
	ctx     context.Context
	cur     []shard.Rows
	next    []int // index of the shard being filled, per split
	results [][]manifest.Shard
	hist    [][]int
	// free holds shard buffers whose shard is written, for reuse: a split's
	// shards all have the same capacity, so buffers fit any split.
	free chan shard.Rows
}

func newShardWriter(ctx context.Context, dir string, meta shard.Meta, plans []*splitPlan, cfg *config.Config, opts *Options) *shardWriter {
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(opts.Workers)
	w := &shardWriter{dir: dir, meta: meta, plans: plans, cfg: cfg, opts: opts, eg: eg, ctx: ctx,
		free: make(chan shard.Rows, opts.Workers+len(plans)),
		cur:  make([]shard.Rows, len(plans)), next: make([]int, len(plans)), results: make([][]manifest.Shard, len(plans)), hist: make([][]int, len(plans))}
	for i, p := range plans {
		w.results[i] = make([]manifest.Shard, p.nShards)
		w.hist[i] = make([]int, len(meta.Classes))
	}
	return w
}

func (w *shardWriter) add(it item) error {
	if err := w.ctx.Err(); err != nil {
		return w.eg.Wait() // a shard write failed: report its error
	}
	elems := w.meta.Elems()
	for i := 0; i < it.rows.Len(); {
		s := it.split[i]
		j := i + 1
		for j < it.rows.Len() && it.split[j] == s {
			j++
		}
		if s != split.Drop {
			for k := i; k < j; k++ {
				w.hist[s][it.rows.Label[k]]++
			}
			run := it.rows.Slice(i, j, elems)
			for run.Len() > 0 {
				cur := &w.cur[s]
				if cur.Label == nil {
					*cur = w.newRows(w.plans[s].perShard, elems, w.meta.Float())
				}
				take := min(run.Len(), w.plans[s].perShard-cur.Len())
				appendRows(cur, run.Slice(0, take, elems))
				run = run.Slice(take, run.Len(), elems)
				if cur.Len() == w.plans[s].perShard {
					w.flush(s)
				}
			}
		}
		i = j
	}
	return nil
}

func (w *shardWriter) newRows(n, elems int, float bool) shard.Rows {
	select {
	case r := <-w.free:
		return r
	default:
	}
	r := shard.Rows{SourceIndex: make([]uint64, 0, n), Label: make([]uint8, 0, n), Copy: make([]uint16, 0, n)}
	if float {
		r.ImageF32 = make([]float32, 0, n*elems)
	} else {
		r.ImageU8 = make([]uint8, 0, n*elems)
	}
	return r
}

func appendRows(dst *shard.Rows, src shard.Rows) {
	dst.SourceIndex = append(dst.SourceIndex, src.SourceIndex...)
	dst.Label = append(dst.Label, src.Label...)
	dst.Copy = append(dst.Copy, src.Copy...)
	if dst.ImageF32 != nil {
		dst.ImageF32 = append(dst.ImageF32, src.ImageF32...)
	} else {
		dst.ImageU8 = append(dst.ImageU8, src.ImageU8...)
	}
}

// flush hands split s's current shard to a writer goroutine.
func (w *shardWriter) flush(s uint8) {
	rows := w.cur[s]
	w.cur[s] = shard.Rows{}
	idx := w.next[s]
	w.next[s]++
	p := w.plans[s]
	name := fmt.Sprintf("%s-%05d-of-%05d%s", split.Names[s], idx, p.nShards, shard.Ext(w.cfg.Shards.Format))
	meta := w.meta
	meta.Split = split.Names[s]
	w.eg.Go(func() error {
		res, err := w.writeShard(name, meta, rows)
		if err != nil {
			return err
		}
		rows.Reset()
		select { // recycle the buffer for a later shard
		case w.free <- rows:
		default:
		}
		w.results[s][idx] = res
		return nil
	})
}

func (w *shardWriter) writeShard(name string, meta shard.Meta, rows shard.Rows) (manifest.Shard, error) {
	path := filepath.Join(w.dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return manifest.Shard{}, fmt.Errorf("shard %s: %w", name, err)
	}
	defer f.Close()
	var sink io.Writer = f
	if w.opts.wrapShard != nil {
		sink = w.opts.wrapShard(f)
	}
	hw := &sha256Writer{w: sink, h: sha256.New()}
	bw := bufio.NewWriterSize(hw, 1<<20)
	write := shard.Write
	if w.cfg.Shards.Format == "parquet" {
		write = shard.WriteParquet
	}
	res, err := write(bw, meta, rows, shard.WithBatchRows(w.cfg.Shards.BatchRows), shard.WithCompression(w.cfg.Shards.Compression))
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

// finish flushes the partial last shard of every split and waits for all writes.
func (w *shardWriter) finish() error {
	for s := range w.cur {
		if w.cur[s].Len() > 0 {
			w.flush(uint8(s))
		}
	}
	if err := w.eg.Wait(); err != nil {
		return err
	}
	for s, p := range w.plans {
		if w.next[s] != p.nShards {
			return fmt.Errorf("split %s: wrote %d shards, planned %d", split.Names[s], w.next[s], p.nShards)
		}
	}
	return nil
}

// abort waits for in-flight writes after a failure (their files are removed
// with the temporary directory).
func (w *shardWriter) abort() { w.eg.Wait() }

func startProgress(g *pipeline.Graph, opts *Options, total int64) (stop func()) {
	if opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	report := func() {
		st := g.Stats()
		var rows int64
		if len(st) > 0 {
			rows = st[len(st)-1].Rows
		}
		opts.Progress(Progress{RowsDone: rows, RowsTotal: total, Stages: st})
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-done:
				report()
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

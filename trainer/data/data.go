// Package data streams training batches out of a dataset version's shards.
//
// It reads shards only through formats/dataset, the one reader of a
// version, so anything prep writes can be trained on and a shard that
// disagrees with its manifest is refused. It never needs a whole split in
// memory: rows are read shard by shard into a bounded shuffle window (by
// default large enough to hold all of MNIST's train split, which then gets a
// true permutation), and the next batch is assembled on another goroutine
// while the current one trains. uint8 shards are normalized on the fly with
// manifest.Normalize's table, giving bitwise the floats of a float32 shard.
//
// # Reading
//
// A pass without shuffling streams: each record batch's rows become batches
// as soon as they are decoded, so evaluation overlaps decoding with the
// forward passes and holds one record batch, not the split. A shuffled
// split that fits in the window is resident: its first epoch reads all its
// shards at once (one goroutine per shard, up to GOMAXPROCS, each into its
// own rows of the window) and later epochs permute the same rows again
// without reading, since the window would hold them anyway. Both give
// exactly the order Order describes; only a split larger than the window
// is read shard by shard every epoch.
//
// # Layout
//
// Shards store images HWC (the channels of a pixel side by side); the
// networks take CHW (one plane per channel), the input layout of a
// convolution ([C H W], PyTorch's too). The loader converts each image once,
// as it copies it into a batch, so Batch.X is always CHW and no model needs
// to know how shards are laid out. An MLP sees the same CHW values
// flattened. For one channel both layouts are the same bytes.
package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// Dataset is an opened dataset version.
type Dataset struct {
	Dir      string
	Manifest *manifest.Manifest
	ds       *dataset.Dataset
}

// Resolve turns a --shards argument into a version directory (see
// dataset.Resolve: a version directory, a dataset directory or an output
// root holding exactly one dataset).
func Resolve(path string) (string, error) {
	dir, err := dataset.Resolve(path)
	if err != nil {
		return "", fmt.Errorf("--shards %w", err)
	}
	return dir, nil
}

// Open resolves path and opens the version with formats/dataset, which
// checks every shard against the manifest (size and SHA-256 on its first
// read, schema metadata and row count on every read).
//
// A version on an object store (s3://…) streams through a local shard cache
// (opts: dataset.WithCache; default dataset.DefaultCacheDir), and each epoch
// fetches the next shard while the current one trains.
func Open(path string, opts ...dataset.Option) (*Dataset, error) {
	dir, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	ds, err := dataset.Open(dir, append([]dataset.Option{dataset.WithVerifyOnce()}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Dataset{Dir: dir, Manifest: ds.Manifest(), ds: ds}, nil
}

// DefaultCacheBytes bounds the shard cache of OpenCached when the trainer's
// flag does not.
const DefaultCacheBytes = dataset.DefaultCacheBytes

// OpenCached is Open with the shard cache of a version on an object store
// in dir (default: dataset.DefaultCacheDir) bounded to maxBytes. A local
// version is read in place.
func OpenCached(path, dir string, maxBytes int64) (*Dataset, error) {
	if !store.IsRemote(path) {
		return Open(path)
	}
	if dir == "" {
		dir = dataset.DefaultCacheDir()
	}
	c, err := dataset.NewCache(dir, maxBytes)
	if err != nil {
		return nil, err
	}
	return Open(path, dataset.WithCache(c))
}

// Elems is the number of values per example.
func (d *Dataset) Elems() int {
	im := d.Manifest.Image
	return im.Height * im.Width * im.Channels
}

// Rows returns the row count of a split (0 if absent).
func (d *Dataset) Rows(split vocab.Split) int {
	if sp := d.Manifest.Split(split); sp != nil {
		return sp.Rows
	}
	return 0
}

// Batch is a run of examples: X holds len(Y) images of Elems float32
// values each, in CHW order (see Layout in the package documentation). A
// loader with Options.RawU8 fills XU8 instead, with the stored bytes.
type Batch struct {
	X []float32
	// XU8 holds len(Y) images of Elems bytes each, exactly as stored (HWC,
	// not normalized); set only with Options.RawU8.
	XU8 []uint8
	Y   []uint8
}

// Len is the number of examples.
func (b *Batch) Len() int { return len(b.Y) }

// Options configure a Loader.
type Options struct {
	BatchSize int
	// Shuffle draws a new permutation every epoch from (Seed, epoch).
	Shuffle bool
	Seed    uint64
	// Window is the shuffle window in rows (default 1<<16): memory is bounded
	// by Window images; a split no larger than Window is fully permuted.
	Window int
	// DropLast drops a final partial batch.
	DropLast bool
	// RawU8 hands out the stored bytes of a uint8 version (Batch.XU8, HWC)
	// instead of normalized floats: for a model that reads pixels itself
	// (nn.Sequential.ForwardU8), which then neither pays for the lookup nor
	// reads four times the bytes. Refused for a float32 version.
	RawU8 bool
}

// defaultWindow is the shuffle window when Options.Window is 0.
const defaultWindow = 1 << 16

// Loader yields the batches of one split, epoch after epoch.
type Loader struct {
	ds    *Dataset
	split *manifest.Split
	opts  Options
	// norm normalizes uint8 pixels: the table prep's normalize stage
	// writes float32 shards with, so both kinds of shard train alike.
	norm manifest.Table
	// window holds the rows being shuffled; kept across epochs, and sized
	// once, so filling it never regrows (and recopies) hundreds of MB.
	window shard.Rows
	// resident is set once a resident split's window holds all its rows,
	// shard i's at rows [base[i], base[i]+split.Shards[i].Rows).
	resident bool
	base     []int
	// free holds the batches the producer fills, across epochs: a batch is
	// allocated once, at its full size, not regrown from empty by every
	// epoch (on MNIST's test split that was 17 MB of fresh memory, and its
	// page faults, in each 50 ms evaluation pass). Between epochs every
	// batch still in use is back in it.
	free chan *Batch
}

// inFlight is the number of batches an epoch cycles through: the one fn
// holds, the one being filled and two queued between them.
const inFlight = 4

// isResident reports whether the loader keeps the whole split in its
// window: a shuffled split no larger than the window (see Reading in the
// package documentation).
func (l *Loader) isResident() bool {
	return l.opts.Shuffle && l.split.Rows <= l.opts.Window && !noResident.Load()
}

// noResident turns residency off, so tests can compare the resident path
// with reading every epoch.
var noResident atomic.Bool

// windowRows returns the empty shuffle window, allocating it on first use
// for the largest number of rows it will hold. A pass in storage order has
// none: it copies rows from the record batches straight into its batches.
func (l *Loader) windowRows() shard.Rows {
	if l.resident {
		return l.window // all the split's rows, read once
	}
	if l.window.Label != nil {
		l.window.Reset()
		return l.window
	}
	n := min(l.split.Rows, l.opts.Window+maxBatchRows(l.split))
	elems := l.ds.Elems()
	w := shard.Rows{SourceIndex: make([]uint64, 0, n), Label: make([]uint8, 0, n), Copy: make([]uint16, 0, n)}
	if l.ds.Manifest.Image.DType == "uint8" {
		w.ImageU8 = make([]uint8, 0, n*elems)
	} else {
		w.ImageF32 = make([]float32, 0, n*elems)
	}
	return w
}

// maxBatchRows bounds the rows of one record batch of a split's shards: the
// window can overshoot its size by at most that much before it is flushed.
func maxBatchRows(sp *manifest.Split) int {
	m := 0
	for _, sh := range sp.Shards {
		m = max(m, sh.Rows)
	}
	return m
}

// Loader returns a loader for a split.
func (d *Dataset) Loader(split vocab.Split, opts Options) (*Loader, error) {
	sp := d.Manifest.Split(split)
	if sp == nil {
		return nil, fmt.Errorf("%s: no %s split", d.Dir, split)
	}
	if opts.BatchSize < 1 {
		return nil, fmt.Errorf("batch size must be ≥ 1, got %d", opts.BatchSize)
	}
	if opts.Window == 0 {
		opts.Window = defaultWindow
	}
	if opts.RawU8 && d.Manifest.Image.DType != "uint8" {
		return nil, fmt.Errorf("%s: raw pixels need a version stored as uint8, this one stores %s (build it with image dtype uint8, as configs/mnist-uint8.yaml does)", d.Dir, d.Manifest.Image.DType)
	}
	return &Loader{ds: d, split: sp, opts: opts, norm: d.Manifest.Normalize.Table()}, nil
}

// Batches returns the number of batches per epoch.
func (l *Loader) Batches() int {
	if l.opts.DropLast {
		return l.split.Rows / l.opts.BatchSize
	}
	return (l.split.Rows + l.opts.BatchSize - 1) / l.opts.BatchSize
}

// readHook, when set, is called as each pass over a split begins.
var readHook atomic.Pointer[func(dir, split string)]

// SetReadHook makes h see every pass over a split (the version directory
// and the split's name) until restore is called; tests count reads of a
// split through it (a sweep must read the test split once).
func SetReadHook(h func(dir, split string)) (restore func()) {
	old := readHook.Swap(&h)
	return func() { readHook.Store(old) }
}

// Epoch streams the batches of one epoch into fn, prefetching the next
// batch on another goroutine. The batch passed to fn is valid only during
// the call. Epoch stops at the first error from fn or from reading.
func (l *Loader) Epoch(ctx context.Context, epoch int, fn func(b *Batch) error) error {
	if h := readHook.Load(); h != nil {
		(*h)(l.ds.Dir, string(l.split.Name))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *Batch, inFlight-2)
	if l.free == nil {
		l.free = make(chan *Batch, inFlight)
	}
	free := l.free
	// Top up what an earlier epoch that stopped at an error dropped.
	rows := min(l.opts.BatchSize, l.split.Rows)
	for len(free) < inFlight {
		b := &Batch{Y: make([]uint8, 0, rows)}
		if l.opts.RawU8 {
			b.XU8 = make([]uint8, 0, rows*l.ds.Elems())
		} else {
			b.X = make([]float32, 0, rows*l.ds.Elems())
		}
		free <- b
	}
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		errc <- l.produce(ctx, epoch, free, batches)
	}()
	for b := range batches {
		if err := fn(b); err != nil {
			cancel()
			for range batches {
			}
			<-errc
			return err
		}
		free <- b
	}
	return <-errc
}

func (l *Loader) produce(ctx context.Context, epoch int, free <-chan *Batch, out chan<- *Batch) error {
	elems := l.ds.Elems()
	channels := l.ds.Manifest.Image.Channels
	order := make([]int, len(l.split.Shards))
	for i := range order {
		order[i] = i
	}
	var rng *rand.Rand
	if l.opts.Shuffle {
		rng = epochRand(l.opts.Seed, epoch)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	var window shard.Rows
	if rng != nil {
		window = l.windowRows()
		defer func() { l.window = window }() // reuse the buffers next epoch
	}
	var cur *Batch
	// emit appends rows perm[0], perm[1], … of rows to the batches; all of
	// them in order if perm is nil.
	emit := func(rows *shard.Rows, perm []int) error {
		n := rows.Len()
		if perm != nil {
			n = len(perm)
		}
		for i := range n {
			r := i
			if perm != nil {
				r = perm[i]
			}
			if cur == nil {
				select {
				case cur = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
				cur.X, cur.XU8, cur.Y = cur.X[:0], cur.XU8[:0], cur.Y[:0]
			}
			cur.Y = append(cur.Y, rows.Label[r])
			switch {
			case l.opts.RawU8:
				cur.XU8 = append(cur.XU8, rows.ImageU8[r*elems:(r+1)*elems]...)
			case channels > 1:
				at := len(cur.X)
				cur.X = slices.Grow(cur.X, elems)[:at+elems]
				if rows.ImageF32 != nil {
					hwcToCHW(cur.X[at:], rows.ImageF32[r*elems:(r+1)*elems], channels)
				} else {
					normalizeToCHW(cur.X[at:], rows.ImageU8[r*elems:(r+1)*elems], l.norm)
				}
			case rows.ImageF32 != nil:
				cur.X = append(cur.X, rows.ImageF32[r*elems:(r+1)*elems]...)
			default:
				at := len(cur.X)
				cur.X = slices.Grow(cur.X, elems)[:at+elems]
				kernels.LookupU8(cur.X[at:], rows.ImageU8[r*elems:(r+1)*elems], &l.norm[0])
			}
			if cur.Len() == l.opts.BatchSize {
				select {
				case out <- cur:
					cur = nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	}
	flushWindow := func() error {
		var perm []int
		if rng != nil {
			perm = shuffled(rng, window.Len())
		}
		err := emit(&window, perm)
		window.Reset()
		return err
	}
	if l.isResident() {
		if err := l.fillResident(ctx, &window); err != nil {
			return err
		}
		// The window holds the shards in manifest order; the epoch permutes
		// them as if read in its own shard order.
		at := make([]int, 0, window.Len())
		for _, si := range order {
			for r := range l.split.Shards[si].Rows {
				at = append(at, l.base[si]+r)
			}
		}
		perm := shuffled(rng, len(at))
		for i, v := range perm {
			perm[i] = at[v]
		}
		if err := emit(&window, perm); err != nil {
			return err
		}
		return l.emitLast(ctx, cur, out)
	}
	err := l.eachShard(ctx, order, func(_ int, r *dataset.ShardReader) error {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			if rng == nil {
				// In storage order: each record batch's rows go straight
				// into the batches, without a copy in the window (on MNIST
				// test a sixth of the pass's memory traffic).
				more, err := r.NextView(func(rows *shard.Rows) error { return emit(rows, nil) })
				if err != nil || !more {
					return err
				}
				continue
			}
			more, err := r.Next(&window)
			if err != nil || !more {
				return err
			}
			if window.Len() >= l.opts.Window {
				if err := flushWindow(); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return err
	}
	if window.Len() > 0 {
		if err := flushWindow(); err != nil {
			return err
		}
	}
	return l.emitLast(ctx, cur, out)
}

// emitLast sends the final partial batch, unless DropLast.
func (l *Loader) emitLast(ctx context.Context, cur *Batch, out chan<- *Batch) error {
	if cur != nil && cur.Len() > 0 && !l.opts.DropLast {
		select {
		case out <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// shuffled returns 0…n−1 permuted by rng.Shuffle.
func shuffled(rng *rand.Rand, n int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	return perm
}

// fillResident reads every shard of the split into the window, once per
// loader: shard i into rows [base[i], base[i]+rows) through a view of
// exactly that capacity, on up to GOMAXPROCS goroutines for a local
// version; from an object store one shard at a time, the next one fetched
// meanwhile (eachShard, as the other passes read them). A shard's reader refuses more
// rows than the manifest lists and checks the count and hashes at its end,
// so a filled window holds exactly the verified rows; after an error it is
// read again next epoch.
func (l *Loader) fillResident(ctx context.Context, window *shard.Rows) error {
	if l.resident {
		return nil
	}
	shards := l.split.Shards
	base := make([]int, len(shards))
	n := 0
	for i, sh := range shards {
		base[i] = n
		n += sh.Rows
	}
	elems := l.ds.Elems()
	w := window.Slice(0, n, elems) // within the capacity windowRows gave it
	// view is shard i's rows of w, empty, with room for exactly them.
	view := func(i int) *shard.Rows {
		lo, hi := base[i], base[i]+shards[i].Rows
		v := shard.Rows{SourceIndex: w.SourceIndex[lo:lo:hi], Label: w.Label[lo:lo:hi], Copy: w.Copy[lo:lo:hi]}
		if w.ImageU8 != nil {
			v.ImageU8 = w.ImageU8[lo*elems : lo*elems : hi*elems]
		} else {
			v.ImageF32 = w.ImageF32[lo*elems : lo*elems : hi*elems]
		}
		return &v
	}
	if l.ds.ds.Remote() {
		order := make([]int, len(shards))
		for i := range order {
			order[i] = i
		}
		err := l.eachShard(ctx, order, func(i int, r *dataset.ShardReader) error { return readAll(ctx, r, view(i)) })
		if err != nil {
			return err
		}
	} else {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(runtime.GOMAXPROCS(0))
		for i := range shards {
			g.Go(func() error {
				r, err := l.ds.ds.OpenShardContext(gctx, l.split.Name, i)
				if err != nil {
					return err
				}
				defer r.Close()
				return readAll(gctx, r, view(i))
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	w.SourcePath = nil // not part of a batch
	*window = w
	l.base, l.resident = base, true
	return nil
}

// readAll appends every remaining row of r to dst.
func readAll(ctx context.Context, r *dataset.ShardReader, dst *shard.Rows) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := r.Next(dst)
		if err != nil || !more {
			return err
		}
	}
}

// eachShard opens the split's shards in order and hands each, with its
// index, to fn, closing it after. On an object store the next shard is
// fetched while fn reads this one.
func (l *Loader) eachShard(ctx context.Context, order []int, fn func(i int, r *dataset.ShardReader) error) error {
	var next *dataset.Prefetched
	defer func() { next.Release() }()
	for k, si := range order {
		if k == 0 {
			next = l.ds.ds.Prefetch(ctx, l.split.Name, si)
		}
		cur := next
		next = nil
		if k+1 < len(order) {
			next = l.ds.ds.Prefetch(ctx, l.split.Name, order[k+1])
		}
		r, err := l.ds.ds.OpenShardContext(ctx, l.split.Name, si)
		cur.Release()
		if err != nil {
			return err
		}
		err = fn(si, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// hwcToCHW writes the HWC image src of c channels into dst as c planes.
func hwcToCHW(dst, src []float32, c int) {
	hw := len(src) / c
	for k := range c {
		plane := dst[k*hw : (k+1)*hw]
		for i := range plane {
			plane[i] = src[i*c+k]
		}
	}
}

// normalizeToCHW normalizes the HWC image src with one table per channel and
// writes it into dst as planes.
func normalizeToCHW(dst []float32, src []uint8, t manifest.Table) {
	c := len(t)
	hw := len(src) / c
	for k := range c {
		plane, tk := dst[k*hw:(k+1)*hw], &t[k]
		for i := range plane {
			plane[i] = tk[src[i*c+k]]
		}
	}
}

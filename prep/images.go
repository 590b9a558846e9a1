package prep

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"runtime"
	"sync"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/stages/decode"
	"github.com/shardsmith/shardsmith/stages/download"
	"github.com/shardsmith/shardsmith/stages/images"
	"github.com/shardsmith/shardsmith/stages/normalize"
	"github.com/shardsmith/shardsmith/stages/split"
)

// imageSplits names the splits an image tree or list source may have, in
// source order: source_index numbers train's files, then test's.
var imageSplits = [2]string{"train", "test"}

// imageSet is the tree and list sources of a configuration, listed and
// read once for their content digest.
//
// The version of such a dataset follows its decoded content (each row's
// class, relative path and pixels), so the content must be read before the
// version is known. That content pass decodes every file once and, in the
// same pass, counts the train split's pixels for the normalization
// statistics — which an IDX build reads the train images a separate time
// for — and keeps the decoded rows (spill, spillMem) for the build, so
// each file is decoded once. Only when skip_bad drops files, which changes
// the split assignment, are the statistics computed in a further pass.
type imageSet struct {
	cv       images.Converter
	classes  []string
	lists    [2]*images.Listing
	skipBad  bool
	content  [2]string // hex SHA-256 of each split's rows
	skipped  []manifest.Skipped
	mean     manifest.Values
	std      manifest.Values
	hasStats bool
	// spill holds the rows the content pass decoded (kept rows only, train
	// then test, Elems bytes each), so the build reads them back instead of
	// decoding every file a second time; nil when it could not be written
	// (the build then decodes again). An unlinked temporary file: disk,
	// not memory, so trees larger than RAM stay bounded.
	spill     *os.File
	spillName string   // where the system could not unlink it
	spillBase [2]int64 // first row of each split in spill
	// spillMem holds the decoded rows instead of spill when they total at
	// most maxMemSpill bytes (writing them to a file and reading them back
	// cost a build of MNIST's tree a sixth of its CPU time): per split, the
	// kept rows in batches of the build's batch size (memBatch rows, the
	// last one shorter), each batch a buffer of its own that the build
	// takes over, so that the rows are not copied on their way — the
	// content pass keeps the decode stage's buffers themselves when no file
	// was skipped. inMem says spillMem is the source; a batch is nil once
	// the build took it.
	spillMem [2][][]uint8
	memBatch int
	inMem    bool
	// archives are the opened archives of archive sources, per split (one
	// archive serving both splits is opened once), with what the manifest
	// records of them.
	archives [2]*openedArchive
}

// openedArchive is an archive source, fetched, verified and indexed.
type openedArchive struct {
	a      *images.Archive
	sha256 string
	bytes  int64
}

// close releases the listings' files, the spill and the archives.
func (set *imageSet) close() {
	set.dropSpill()
	for _, l := range set.lists {
		if l != nil {
			l.Close()
		}
	}
	for k, oa := range set.archives {
		if oa != nil && (k == 0 || oa != set.archives[0]) {
			oa.a.Close()
		}
	}
}

// openImages lists the tree and list sources of cfg and runs the content
// pass. On return cfg.Classes holds the resolved classes.
func openImages(ctx context.Context, cfg *config.Config, opts *Options) (_ *imageSet, err error) {
	set := &imageSet{cv: images.Converter{Height: cfg.Image.Height, Width: cfg.Image.Width, Channels: cfg.Image.Channels, Resize: cfg.Image.Resize}}
	defer func() {
		if err != nil {
			set.close()
		}
	}()
	var srcs []images.Source
	for k, s := range []*config.SplitSource{cfg.Sources.Train, cfg.Sources.Test} {
		if s == nil {
			continue
		}
		src := toSource(s)
		if s.Archive != "" {
			if k == 1 && set.archives[0] != nil && cfg.Sources.Train.Archive == s.Archive && cfg.Sources.Train.SHA256 == s.SHA256 {
				set.archives[1] = set.archives[0]
			} else if set.archives[k], err = openArchive(ctx, cfg, opts, imageSplits[k], s); err != nil {
				return nil, err
			}
			src.Archive = set.archives[k].a
		}
		srcs = append(srcs, src)
		set.skipBad = set.skipBad || s.SkipBad
	}
	classes, lists, err := images.List(cfg.Classes, srcs...)
	if err != nil {
		return nil, err
	}
	set.classes = classes
	cfg.Classes = classes
	if err := cfg.Validate(); err != nil { // e.g. split.labels beyond the classes
		return nil, err
	}
	set.lists[0] = lists[0]
	set.lists[1] = &images.Listing{}
	if len(lists) > 1 {
		set.lists[1] = lists[1]
	}
	if err := set.contentPass(ctx, cfg, opts); err != nil {
		return nil, err
	}
	return set, nil
}

func toSource(s *config.SplitSource) images.Source {
	return images.Source{Folder: s.ImageFolder, CSV: s.CSV, CIFAR: s.CIFAR, Root: s.Root}
}

// openArchive fetches a split's archive through the download cache (which
// checks its sha256, mirror after mirror) and indexes it.
func openArchive(ctx context.Context, cfg *config.Config, opts *Options, split string, s *config.SplitSource) (*openedArchive, error) {
	p, err := opts.Fetcher.Fetch(ctx, download.Source{Name: split + " archive " + s.Archive, SHA256: s.SHA256, URLs: cfg.URLs(s.ArchiveFile())})
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	a, err := images.OpenArchive(p, s.Archive, opts.Fetcher.CacheDir())
	if err != nil {
		return nil, err
	}
	return &openedArchive{a: a, sha256: s.SHA256, bytes: fi.Size()}, nil
}

// imageBatch is a run of files of one split.
type imageBatch struct {
	split, start, n int
	pix             []uint8
	bad             map[int]error // with skip_bad: the files that did not decode
}

// imageStages decodes the files of set in parallel, in order: a source
// cuts the listings into batches, workers decode them. strict makes a file
// that does not decode an error even with skip_bad.
func (set *imageSet) imageStages(g *pipeline.Graph, workers int, strict bool) <-chan imageBatch {
	elems, per := set.cv.Elems(), set.batchRows()
	batches := pipeline.Source(g, "list", 2, func(ctx context.Context, st *pipeline.Stats, emit func(imageBatch) error) error {
		for k, l := range set.lists {
			for i := 0; i < len(l.Entries); i += per {
				if err := emit(imageBatch{split: k, start: i, n: min(per, len(l.Entries)-i)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if set.inMem {
		return pipeline.Map(g, "take-decoded", 1, 2, batches, func(ctx context.Context, st *pipeline.Stats, b imageBatch) (imageBatch, error) {
			k := b.start / per
			if b.start%per != 0 || per != set.memBatch || k >= len(set.spillMem[b.split]) || len(set.spillMem[b.split][k]) != b.n*elems {
				return b, fmt.Errorf("the decoded images kept in memory do not fit the build's batches (split %d, rows %d+%d)", b.split, b.start, b.n)
			}
			b.pix, set.spillMem[b.split][k] = set.spillMem[b.split][k], nil // the graph recycles it
			st.AddRows(b.n)
			return b, nil
		})
	}
	if set.spill != nil {
		return pipeline.Map(g, "read-decoded", 1, 2, batches, func(ctx context.Context, st *pipeline.Stats, b imageBatch) (imageBatch, error) {
			b.pix = bytePool.get(b.n * elems)
			off := (set.spillBase[b.split] + int64(b.start)) * int64(elems)
			if _, err := set.spill.ReadAt(b.pix, off); err != nil {
				return b, fmt.Errorf("reading back the decoded images from %s: %w", set.spill.Name(), err)
			}
			st.AddRows(b.n)
			return b, nil
		})
	}
	return pipeline.Map(g, "decode", workers, 2, batches, func(ctx context.Context, st *pipeline.Stats, b imageBatch) (imageBatch, error) {
		l := set.lists[b.split]
		b.pix = bytePool.get(b.n * elems)
		r := readers.Get().(*images.Reader)
		r.Reset(l)
		defer func() { r.Close(); readers.Put(r) }()
		for j := 0; j < b.n; j++ {
			if err := ctx.Err(); err != nil {
				return b, err
			}
			i := b.start + j
			if err := r.Decode(&set.cv, i, b.pix[j*elems:(j+1)*elems]); err != nil {
				if strict || !set.skipBad {
					return b, fmt.Errorf("%s: %w", l.Path(i), err)
				}
				if b.bad == nil {
					b.bad = map[int]error{}
				}
				b.bad[j] = err
			}
		}
		st.AddRows(b.n)
		return b, nil
	})
}

// readers keep the decode workers' file buffers from batch to batch.
var readers = sync.Pool{New: func() any { return new(images.Reader) }}

// batchRows is the rows of a decode batch.
func (set *imageSet) batchRows() int { return decode.BatchItems(set.cv.Elems(), 256) }

// rowHasher hashes the content of one split's rows: per row the relative
// path (length-prefixed), the class id and the pixels.
type rowHasher struct{ h hash.Hash }

func newRowHasher() rowHasher { return rowHasher{sha256.New()} }

func (r rowHasher) add(e images.Entry, pix []uint8) {
	var n [binary.MaxVarintLen64]byte
	r.h.Write(n[:binary.PutUvarint(n[:], uint64(len(e.Rel)))])
	r.h.Write([]byte(e.Rel))
	r.h.Write([]byte{e.Class})
	r.h.Write(pix)
}

func (r rowHasher) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// contentPass decodes every file once: it hashes each split's rows, counts
// the train split's pixels and, with skip_bad, drops (and records) the
// files that do not decode.
func (set *imageSet) contentPass(ctx context.Context, cfg *config.Config, opts *Options) error {
	assign, err := set.trainAssign(cfg)
	if err != nil && !set.skipBad {
		return err
	}
	hashers := [2]rowHasher{newRowHasher(), newRowHasher()}
	hist := normalize.NewHistograms(set.cv.Channels)
	var kept [2][]images.Entry
	elems := set.cv.Elems()
	spill := set.newSpill(opts)
	g := pipeline.New(ctx)
	pipeline.Sink(g, "hash", set.imageStages(g, opts.Workers, false), func(ctx context.Context, st *pipeline.Stats, b imageBatch) error {
		// A batch without a bad file becomes a batch of the in-memory copy
		// as it is; from any other, the kept rows are copied.
		adopted := spill.adopt(b, elems)
		if !adopted {
			defer bytePool.put(b.pix)
		}
		l := set.lists[b.split]
		for j := 0; j < b.n; j++ {
			e := l.Entries[b.start+j]
			if err, bad := b.bad[j]; bad {
				set.skipped = append(set.skipped, manifest.Skipped{Split: imageSplits[b.split], Path: e.Rel, Reason: err.Error()})
				opts.logf("skipping %s: %v", l.Path(b.start+j), err)
				continue
			}
			pix := b.pix[j*elems : (j+1)*elems]
			hashers[b.split].add(e, pix)
			kept[b.split] = append(kept[b.split], e)
			if !adopted {
				spill.write(b.split, pix)
			}
			if b.split == 0 && assign != nil && assign[b.start+j] == split.Train {
				hist.Add(pix)
			}
		}
		st.AddRows(b.n)
		return nil
	})
	if err := g.Wait(); err != nil {
		if spill != nil {
			set.spill = spill.f
			set.dropSpill()
		}
		return err
	}
	set.keepSpill(spill, opts, int64(len(kept[0])))
	for k := range set.lists {
		set.content[k] = hashers[k].sum()
	}
	if len(set.skipped) == 0 {
		if cfg.Normalize.Mode != vocab.NormalizeFixed {
			set.mean, set.std, err = hist.MeanStd()
			set.hasStats = err == nil
		}
		return nil
	}
	if err := set.checkClassesKept(kept); err != nil {
		return err
	}
	for k := range set.lists {
		set.lists[k].Entries = kept[k]
	}
	return nil
}

// checkClassesKept fails when skip_bad left a class of the train split
// without any image: its folder held no decodable image.
func (set *imageSet) checkClassesKept(kept [2][]images.Entry) error {
	for k, l := range set.lists {
		had, has := map[uint8]bool{}, map[uint8]bool{}
		for _, e := range l.Entries {
			had[e.Class] = true
		}
		for _, e := range kept[k] {
			has[e.Class] = true
		}
		for c := range had {
			if !has[c] {
				return fmt.Errorf("%s: class %q holds no decodable image (every one of its files was skipped; see above)", l.Root, set.classes[c])
			}
		}
	}
	return nil
}

// labels returns the class ids of split k's files.
func (set *imageSet) labels(k int) []uint8 {
	out := make([]uint8, len(set.lists[k].Entries))
	for i, e := range set.lists[k].Entries {
		out[i] = e.Class
	}
	return out
}

// trainAssign is the split assignment of the train files.
func (set *imageSet) trainAssign(cfg *config.Config) ([]uint8, error) {
	return split.Assign(set.labels(0), splitOptions(cfg))
}

// trainStats returns the train split's statistics: from the content pass,
// or, when files were skipped, from a pass over the train files.
func (set *imageSet) trainStats(ctx context.Context, opts *Options, assign []uint8) (mean, std manifest.Values, err error) {
	if set.hasStats {
		return set.mean, set.std, nil
	}
	opts.logf("computing mean/std over the train split")
	hist := normalize.NewHistograms(set.cv.Channels)
	elems := set.cv.Elems()
	if set.inMem { // read in place: the build takes these batches over
		for k, pix := range set.spillMem[0] {
			for j := range len(pix) / elems {
				if assign[k*set.memBatch+j] == split.Train {
					hist.Add(pix[j*elems : (j+1)*elems])
				}
			}
		}
		return hist.MeanStd()
	}
	g := pipeline.New(ctx)
	pipeline.Sink(g, "stats", set.imageStages(g, opts.Workers, true), func(ctx context.Context, st *pipeline.Stats, b imageBatch) error {
		defer bytePool.put(b.pix)
		for j := 0; j < b.n && b.split == 0; j++ {
			if assign[b.start+j] == split.Train {
				hist.Add(b.pix[j*elems : (j+1)*elems])
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return hist.MeanStd()
}

// stage is the decode stage of the build graph: the files decoded in
// order, checked against the content pass's digest (a file changed in
// between fails the build rather than enter a version whose id promises
// other pixels), tagged with source index, label and split. Rows read back
// from spillMem are the very bytes the content pass hashed, so they are not
// hashed again; decoded again or read back from the spill file, they are.
func (set *imageSet) stage(g *pipeline.Graph, lay *layout, workers int) <-chan item {
	elems := set.cv.Elems()
	assigns := [2][]uint8{lay.trainAssign, lay.testAssign}
	hashers := [2]rowHasher{newRowHasher(), newRowHasher()}
	seen := [2]int{}
	base := [2]uint64{0, uint64(len(set.lists[0].Entries))}
	check := !set.inMem
	return pipeline.Map(g, "verify", 1, 2, set.imageStages(g, workers, true), func(ctx context.Context, st *pipeline.Stats, b imageBatch) (item, error) {
		l := set.lists[b.split]
		it := item{rows: shard.Rows{SourceIndex: make([]uint64, b.n), Label: make([]uint8, b.n), Copy: make([]uint16, b.n), ImageU8: b.pix, SourcePath: make([]string, b.n)},
			split: assigns[b.split][b.start : b.start+b.n]}
		for j := 0; j < b.n; j++ {
			e := l.Entries[b.start+j]
			if check {
				hashers[b.split].add(e, b.pix[j*elems:(j+1)*elems])
			}
			it.rows.SourceIndex[j] = base[b.split] + uint64(b.start+j)
			it.rows.Label[j] = lay.remap[e.Class]
			it.rows.SourcePath[j] = e.Rel
		}
		seen[b.split] += b.n
		if check && seen[b.split] == len(l.Entries) {
			if got := hashers[b.split].sum(); got != set.content[b.split] {
				return item{}, fmt.Errorf("%s: the images changed during the build (the files, or the temporary copy of their decoded rows): their content hashes to %s, but read before the build to %s", l.Root, got, set.content[b.split])
			}
		}
		st.AddRows(b.n)
		return it, nil
	})
}

// manifestSources describes each split's files for the manifest: the root,
// the digest of its decoded content and the number of files; for a split
// read from an archive, the root is ARCHIVE:MEMBER, sha256 and bytes are
// the archive's as fetched and content_sha256 the decoded content's.
func (set *imageSet) manifestSources() []manifest.Source {
	var out []manifest.Source
	for k, l := range set.lists {
		if l.Root == "" {
			continue
		}
		src := manifest.Source{Name: imageSplits[k], File: l.Root, SHA256: set.content[k], Files: len(l.Entries)}
		if oa := set.archives[k]; oa != nil { // as for IDX: the file as fetched, and the content
			src.SHA256, src.ContentSHA256, src.Bytes = oa.sha256, set.content[k], oa.bytes
		}
		out = append(out, src)
	}
	return out
}

// maxSpill bounds the decoded rows kept on disk between the content pass
// and the build (beyond it, the build decodes the files again); up to
// maxMemSpill bytes they are kept in memory instead.
var (
	maxSpill    int64 = 16 << 30 // variables for tests
	maxMemSpill int64 = 64 << 20
)

// spillWriter writes the content pass's rows to a temporary file, or
// keeps them in memory (f nil) in batches of per rows; the first error
// stops it (and the build decodes again).
type spillWriter struct {
	f   *os.File
	w   *bufio.Writer
	err error
	// In memory: the kept rows of each split in batches of per rows.
	mem        [2][][]uint8
	rows       [2]int // kept rows per split
	per, elems int
}

// newSpill starts a spill in memory when the rows fit maxMemSpill, else in
// the download cache's directory (large, and where prep already writes),
// unlinked at once where the system allows it; nil when the rows would not
// fit maxSpill or the file cannot be made.
func (set *imageSet) newSpill(opts *Options) *spillWriter {
	total := int64(len(set.lists[0].Entries)+len(set.lists[1].Entries)) * int64(set.cv.Elems())
	if total > maxSpill {
		return nil
	}
	if total <= maxMemSpill {
		return &spillWriter{per: set.batchRows(), elems: set.cv.Elems()}
	}
	dir := ""
	if opts.Fetcher != nil && os.MkdirAll(opts.Fetcher.CacheDir(), 0o755) == nil {
		dir = opts.Fetcher.CacheDir()
	}
	f, err := os.CreateTemp(dir, ".decoded-*")
	if err != nil {
		opts.logf("decoding the images twice: no temporary file for the decoded rows: %v", err)
		return nil
	}
	if runtime.GOOS == "windows" || os.Remove(f.Name()) != nil {
		set.spillName = f.Name()
	}
	return &spillWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}
}

// adopt keeps batch b's pixel buffer itself as the next batch of the
// in-memory copy, and reports whether it did: when the spill is in memory,
// every file of b decoded and the kept rows so far end on a batch
// boundary. The buffer is then the spill's (not to be recycled).
func (s *spillWriter) adopt(b imageBatch, elems int) bool {
	if s == nil || s.f != nil || len(b.bad) > 0 || s.rows[b.split]%s.per != 0 || b.n > s.per {
		return false
	}
	s.mem[b.split] = append(s.mem[b.split], b.pix[:b.n*elems])
	s.rows[b.split] += b.n
	return true
}

// write adds one kept row of split k.
func (s *spillWriter) write(k int, pix []uint8) {
	switch {
	case s == nil || s.err != nil:
	case s.f == nil:
		if s.rows[k]%s.per == 0 {
			s.mem[k] = append(s.mem[k], make([]uint8, 0, s.per*s.elems))
		}
		last := len(s.mem[k]) - 1
		s.mem[k][last] = append(s.mem[k][last], pix...)
		s.rows[k]++
	default:
		_, s.err = s.w.Write(pix)
	}
}

// keepSpill makes a complete spill the source of the build's pixels.
func (set *imageSet) keepSpill(s *spillWriter, opts *Options, trainRows int64) {
	if s == nil {
		return
	}
	if s.f == nil {
		set.spillMem, set.memBatch, set.inMem = s.mem, s.per, true
		return
	}
	if s.err == nil {
		s.err = s.w.Flush()
	}
	set.spill, set.spillBase = s.f, [2]int64{0, trainRows}
	if s.err != nil {
		opts.logf("decoding the images twice: writing the decoded rows to %s: %v", s.f.Name(), s.err)
		set.dropSpill()
	}
}

func (set *imageSet) dropSpill() {
	set.spillMem, set.inMem = [2][][]uint8{}, false
	if set.spill != nil {
		set.spill.Close()
		set.spill = nil
	}
	if set.spillName != "" {
		os.Remove(set.spillName)
		set.spillName = ""
	}
}

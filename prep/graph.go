package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/pipeline"
	"github.com/shardsmith/shardsmith/stages/augment"
	"github.com/shardsmith/shardsmith/stages/decode"
)

// decodeBatch is how many images the decode stage reads per item.
const decodeBatch = 1024

// item is what flows through the graph: a run of rows and the split of each.
type item struct {
	rows  shard.Rows
	split []uint8
}

// input is the decoded sources as the build sees them: the image shape,
// the labels of each source split (known before any pixel is read), the
// train statistics and the decode stage of the graph.
type input struct {
	height, width, channels int
	sourcePaths             bool // rows carry the source_path column
	trainLabels, testLabels []uint8
	stats                   func(ctx context.Context, assign []uint8) (mean, std manifest.Values, err error)
	stage                   func(g *pipeline.Graph, lay *layout) <-chan item
	close                   func()
}

func (in *input) elems() int { return in.height * in.width * in.channels }

// openInput opens the sources: the fetched IDX files at paths, or the
// listed image trees and lists of set.
func openInput(ctx context.Context, cfg *config.Config, paths map[string]string, fetched []manifest.Source, set *imageSet, opts *Options) (*input, error) {
	if set != nil {
		return &input{height: set.cv.Height, width: set.cv.Width, channels: set.cv.Channels, sourcePaths: true,
			trainLabels: set.labels(0), testLabels: set.labels(1),
			stats: func(ctx context.Context, assign []uint8) (manifest.Values, manifest.Values, error) {
				return set.trainStats(ctx, opts, assign)
			},
			stage: func(g *pipeline.Graph, lay *layout) <-chan item { return set.stage(g, lay, opts.Workers) },
			close: func() {}}, nil
	}
	classes := len(cfg.Classes)
	got := map[string]manifest.Source{}
	for _, s := range fetched {
		got[s.Name] = s
	}
	// Each file is checked as it is decoded against the digest it was
	// fetched by and the content the version was computed from.
	file := func(key string) decode.File {
		return decode.File{Path: paths[key], Name: fmt.Sprintf("%s (%s)", key, sourceFile(cfg, key)),
			SHA256: got[key].SHA256, ContentSHA256: got[key].ContentSHA256}
	}
	train, err := decode.Open(file("train_images"), file("train_labels"), classes)
	if err != nil {
		return nil, err
	}
	test, err := decode.Open(file("test_images"), file("test_labels"), classes)
	if err != nil {
		train.Close()
		return nil, err
	}
	if train.Height != test.Height || train.Width != test.Width || train.Channels != test.Channels {
		train.Close()
		test.Close()
		return nil, fmt.Errorf("train images are %dx%dx%d but test images are %dx%dx%d",
			train.Height, train.Width, train.Channels, test.Height, test.Width, test.Channels)
	}
	return &input{height: train.Height, width: train.Width, channels: train.Channels,
		trainLabels: train.Labels, testLabels: test.Labels,
		stats: func(ctx context.Context, assign []uint8) (manifest.Values, manifest.Values, error) {
			return cachedTrainStats(ctx, opts, got["train_images"].ContentSHA256, file("train_images"), assign, train.Channels)
		},
		stage: func(g *pipeline.Graph, lay *layout) <-chan item {
			return decodeStage(g, lay, []*decode.Pair{train, test})
		},
		close: func() { train.Close(); test.Close() }}, nil
}

// buildInto plans the layout and runs the stage graph
// decode → [augment] → route (normalizing float32 shards) → write → collect into dir, and
// returns the manifest (without sources) and the stage report.
func buildInto(ctx context.Context, dir string, cfg *config.Config, hin HashInput, in *input, opts *Options) (*manifest.Manifest, []pipeline.Snapshot, error) {
	elems := in.elems()
	rowBytes := int64(elems)
	if cfg.Normalize.Mode.Float() {
		rowBytes *= 4
	}
	lay, err := planLayout(cfg, in.trainLabels, in.testLabels, rowBytes)
	if err != nil {
		return nil, nil, err
	}
	classNames := cfg.OutputClasses()

	var exp *augment.Expander
	if cfg.Augment.Copies > 0 {
		aug, err := newAugmenter(cfg, in.width, in.height, in.channels)
		if err != nil {
			return nil, nil, err
		}
		exp = &augment.Expander{Aug: aug, Copies: cfg.Augment.Copies, Alloc: bytePool.get}
		for _, p := range lay.plans {
			exp.Splits[p.id] = p.augmented
		}
	}

	// Normalization statistics, one mean and std per channel: from the
	// train split's originals only.
	norm := manifest.Normalize{Mode: cfg.Normalize.Mode}
	if cfg.Normalize.Mode == vocab.NormalizeFixed {
		norm.Mean, norm.Std, err = cfg.FixedNormalize(in.channels)
	} else {
		norm.Mean, norm.Std, err = in.stats(ctx, lay.trainAssign)
	}
	if err != nil {
		return nil, nil, err
	}

	var part *partFilter
	total := lay.totalRows
	if opts.partition != nil {
		part = newPartFilter(opts.partition.p, lay, cfg, len(classNames))
		opts.partition.filter, total = part, part.rows
	}

	meta := shard.Meta{Dataset: cfg.Dataset, Version: hin.Version(), Height: in.height, Width: in.width, Channels: in.channels,
		Normalize: cfg.Normalize.Mode, Mean: norm.Mean, Std: norm.Std, Classes: classNames, SourcePaths: in.sourcePaths}
	format, err := newShardFormat(cfg.Shards.Format, cfg.Shards.Compression, cfg.Shards.BatchRows)
	if err != nil {
		return nil, nil, err
	}

	g := pipeline.New(ctx)
	stream := in.stage(g, lay)
	if part != nil {
		stream = part.stage(g, stream, elems)
	}
	if exp != nil {
		stream = pipeline.Map(g, "augment", opts.Workers, 2, stream, func(ctx context.Context, st *pipeline.Stats, it item) (item, error) {
			rows, splits, expanded := exp.Expand(it.rows, it.split)
			if !expanded {
				return it, nil
			}
			bytePool.put(it.rows.ImageU8)
			st.AddRows(rows.Len() - it.rows.Len())
			return item{rows: rows, split: splits}, nil
		})
	}
	// Float32 shards: route normalizes each pixel as it copies the rows
	// into their shard's buffer, so the float32 rows are written once.
	var table manifest.Table
	if cfg.Normalize.Mode.Float() {
		table = norm.Table()
	}
	shards := newShardStages(g, dir, meta, lay.plans, format, opts, part, table, stream)

	stopProgress := startProgress(g, opts, total)
	err = g.Wait()
	stopProgress()
	if err == nil {
		err = shards.check()
	}
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
		Image:     manifest.Image{Height: in.height, Width: in.width, Channels: in.channels, DType: "float32"},
		Normalize: norm,
		Classes:   classNames,
	}
	if !cfg.Normalize.Mode.Float() {
		m.Image.DType = "uint8"
	}
	for _, p := range lay.plans {
		if p.rows == 0 {
			continue
		}
		m.Splits = append(m.Splits, manifest.Split{Name: vocab.Splits[p.id], Rows: p.rows, Labels: shards.hist[p.id], Shards: shards.results[p.id]})
	}
	return m, g.Stats(), nil
}

// decodeStage streams the images of each pair in batches, train file first,
// numbering rows by source index across the files and tagging each with its
// split and (remapped) label.
func decodeStage(g *pipeline.Graph, lay *layout, pairs []*decode.Pair) <-chan item {
	assigns := [][]uint8{lay.trainAssign, lay.testAssign}
	return pipeline.Source(g, "decode", 2, func(ctx context.Context, st *pipeline.Stats, emit func(item) error) error {
		base := uint64(0)
		for k, p := range pairs {
			elems := p.Elems()
			batch := decode.BatchItems(elems, decodeBatch)
			for i := 0; i < p.Count(); {
				n := min(batch, p.Count()-i)
				it := item{rows: shard.Rows{SourceIndex: make([]uint64, 0, n), Label: make([]uint8, 0, n), Copy: make([]uint16, n), ImageU8: bytePool.get(n * elems)}}
				got, err := p.Read(it.rows.ImageU8)
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				if got != n {
					return fmt.Errorf("read %d of %d images at image %d", got, n, i)
				}
				for j := 0; j < n; j++ {
					it.rows.SourceIndex = append(it.rows.SourceIndex, base+uint64(i+j))
					it.rows.Label = append(it.rows.Label, lay.remap[p.Labels[i+j]])
				}
				it.split = assigns[k][i : i+n]
				st.AddRows(n)
				if err := emit(it); err != nil {
					return err
				}
				i += n
			}
			if err := p.ReadEnd(); err != nil {
				return err
			}
			base += uint64(p.Count())
		}
		return nil
	})
}

// newAugmenter builds the augment stage from the config; a bad op or
// parameter is a config error naming its line.
func newAugmenter(cfg *config.Config, width, height, channels int) (*augment.Augmenter, error) {
	specs := make([]augment.Spec, len(cfg.Augment.Ops))
	for i, op := range cfg.Augment.Ops {
		specs[i] = augment.Spec{Op: op.Op, Params: op.Params, Line: op.Line}
	}
	a, err := augment.New(cfg.Augment.Seed, width, height, specs, augment.WithChannels(channels))
	if err != nil {
		return nil, &config.Error{File: cfg.File(), Msg: err.Error()}
	}
	return a, nil
}

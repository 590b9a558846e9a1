package prep

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/stages/split"
)

// splitPlan is the shard layout of one split, known before any pixel is read.
type splitPlan struct {
	id        uint8
	rows      int // rows written, augmented copies included
	perShard  int
	nShards   int
	augmented bool
}

// bufRows is the capacity a shard buffer of this split needs: a full shard,
// or the whole split when it is smaller. Memory follows the data, so a huge
// shards.rows allocates nothing for rows that do not exist.
func (p *splitPlan) bufRows() int { return min(p.perShard, p.rows) }

// layout is everything decided from the labels and the config alone: the
// label each source label is written as, the split of every source image,
// and how each split is cut into shards.
type layout struct {
	remap       [256]uint8 // remap[l] is the label written for source label l
	trainAssign []uint8
	testAssign  []uint8
	plans       []*splitPlan
	totalRows   int64
}

// splitOptions translates the config's split section.
func splitOptions(cfg *config.Config) split.Options {
	so := split.Options{Seed: cfg.Split.Seed, Fraction: cfg.Split.ValFraction, Count: cfg.Split.ValCount, Stratify: cfg.Split.Stratify, PerClass: cfg.Split.PerClass}
	for _, l := range cfg.Split.Labels {
		so.Labels = append(so.Labels, uint8(l))
	}
	return so
}

// planLayout assigns splits and plans shards; rowBytes is the size of one
// written image (for shards.max_bytes). A split left empty is an error
// unless the config allows it (see checkEmpty).
func planLayout(cfg *config.Config, trainLabels, testLabels []uint8, rowBytes int64) (*layout, error) {
	lay := &layout{}
	for l := range lay.remap {
		lay.remap[l] = uint8(l)
	}
	if cfg.Split.Remap {
		for i, l := range cfg.Split.Labels {
			lay.remap[l] = uint8(i)
		}
	}
	so := splitOptions(cfg)
	var err error
	if lay.trainAssign, err = split.Assign(trainLabels, so); err != nil {
		return nil, err
	}
	lay.testAssign = split.AssignTest(testLabels, so)

	augmented := map[uint8]bool{}
	if cfg.Augment.Copies > 0 {
		for _, s := range cfg.Augment.Splits {
			id, _ := s.ID()
			augmented[id] = true
		}
	}
	perShard := cfg.Shards.Rows
	if cfg.Shards.MaxBytes > 0 {
		perShard = int(max(1, min(int64(perShard), cfg.Shards.MaxBytes/rowBytes)))
	}
	lay.plans = make([]*splitPlan, len(vocab.Splits))
	for id := range lay.plans {
		lay.plans[id] = &splitPlan{id: uint8(id), perShard: perShard, augmented: augmented[uint8(id)]}
	}
	for _, a := range [][]uint8{lay.trainAssign, lay.testAssign} {
		for _, s := range a {
			if s != split.Drop {
				lay.plans[s].rows++
			}
		}
	}
	if err := checkEmpty(cfg, lay, len(trainLabels), len(testLabels)); err != nil {
		return nil, err
	}
	for _, p := range lay.plans {
		if p.augmented {
			p.rows *= 1 + cfg.Augment.Copies
		}
		p.nShards = (p.rows + perShard - 1) / perShard
		lay.totalRows += int64(p.rows)
	}
	return lay, nil
}

// checkEmpty fails the build when a split holds no image, naming the split
// and where the images went, unless the split may be empty: it is listed in
// split.allow_empty, or it is val and no val was asked for. A trainer cannot
// use an empty train or test split, so finding out at prep time is cheaper
// than finding out at the end of a download and a training start.
func checkEmpty(cfg *config.Config, lay *layout, trainImages, testImages int) error {
	var empty []string
	for _, p := range lay.plans {
		name := vocab.Splits[p.id]
		if p.rows > 0 || slices.Contains(cfg.Split.AllowEmpty, name) {
			continue
		}
		if p.id == split.Val && cfg.Split.ValFraction == 0 && cfg.Split.ValCount == 0 {
			continue
		}
		empty = append(empty, name.String())
	}
	if len(empty) == 0 {
		return nil
	}
	count := func(a []uint8, s uint8) int {
		n := 0
		for _, v := range a {
			if v == s {
				n++
			}
		}
		return n
	}
	var why []string
	if l := cfg.Split.Labels; len(l) > 0 {
		why = append(why, fmt.Sprintf("split.labels %v", l))
	}
	if cfg.Split.PerClass > 0 {
		why = append(why, fmt.Sprintf("split.per_class %d", cfg.Split.PerClass))
	}
	if cfg.Split.ValFraction > 0 {
		why = append(why, fmt.Sprintf("split.val_fraction %v", cfg.Split.ValFraction))
	}
	cause := ""
	if len(why) > 0 {
		cause = " with " + strings.Join(why, ", ")
	}
	return &config.Error{File: cfg.File(), Msg: fmt.Sprintf(
		"split %s would be empty: the train file holds %d images (%d to train, %d to val, %d dropped) and the test file %d (%d to test, %d dropped)%s; "+
			"change the split settings or the sources, or list the split in split.allow_empty if an empty one is intended",
		strings.Join(empty, " and "), trainImages, count(lay.trainAssign, split.Train), count(lay.trainAssign, split.Val), count(lay.trainAssign, split.Drop),
		testImages, count(lay.testAssign, split.Test), count(lay.testAssign, split.Drop), cause)}
}

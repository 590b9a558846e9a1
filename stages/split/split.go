// Package split decides which split every source image belongs to.
//
// The decision is made from the labels alone, before any pixel is decoded or
// any augmented copy exists, and it is keyed by source index. So a source
// image and all of its augmented variants always land in the same split, and
// the assignment is the same whatever the worker count or arrival order.
package split

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Version enters the dataset hash; bump it whenever the same inputs would be
// assigned differently.
const Version = "split/1"

// Split ids, in the order splits are listed in a manifest: vocab's ids, so
// vocab.Splits[id] is a split's name and vocab.Split.ID its id.
const (
	Train = vocab.TrainID
	Val   = vocab.ValID
	Test  = vocab.TestID
	// Drop marks a source image that belongs to no split (e.g. filtered out).
	Drop uint8 = 255
)

// Options says how val is carved from train.
type Options struct {
	Seed uint64
	// Fraction of the train images that go to val (used when Count is 0).
	Fraction float64
	// Count of train images that go to val.
	Count int
	// Stratify keeps val's label proportions equal to train's (largest-remainder rounding).
	Stratify bool
	// Labels, when set, keeps only images with these labels; others are Drop.
	Labels []uint8
	// PerClass, when > 0, keeps at most this many train images per class
	// (chosen by Seed, after val is carved); the rest of train is Drop. This
	// makes a few-shot training set a versioned dataset of its own.
	PerClass int
}

// keeps reports whether label l passes the Labels filter.
func (o Options) keeps(l uint8) bool {
	return o.Labels == nil || slices.Contains(o.Labels, l)
}

// Assign decides the split of every train-file image: Drop for filtered
// labels, then Val carved from the rest (Carve), then Train limited to
// PerClass images per class.
func Assign(labels []uint8, o Options) ([]uint8, error) {
	var kept []int
	var sub []uint8
	for i, l := range labels {
		if o.keeps(l) {
			kept = append(kept, i)
			sub = append(sub, l)
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("split: no train image has one of the labels %v", o.Labels)
	}
	carved, err := Carve(sub, o)
	if err != nil {
		return nil, err
	}
	assign := make([]uint8, len(labels))
	for i := range assign {
		assign[i] = Drop
	}
	for j, i := range kept {
		assign[i] = carved[j]
	}
	if o.PerClass > 0 {
		byClass := map[uint8][]int{}
		for i, a := range assign {
			if a == Train {
				byClass[labels[i]] = append(byClass[labels[i]], i)
			}
		}
		classes := make([]uint8, 0, len(byClass))
		for c := range byClass {
			classes = append(classes, c)
		}
		slices.Sort(classes)
		rng := rand.New(rand.NewPCG(o.Seed, 0xfe45407))
		for _, c := range classes {
			idx := byClass[c]
			if len(idx) < o.PerClass {
				return nil, fmt.Errorf("split: per_class %d but class %d has only %d train images", o.PerClass, c, len(idx))
			}
			rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
			for _, i := range idx[o.PerClass:] {
				assign[i] = Drop
			}
		}
	}
	return assign, nil
}

// AssignTest puts every test-file image in Test, or Drop for filtered labels.
func AssignTest(labels []uint8, o Options) []uint8 {
	assign := make([]uint8, len(labels))
	for i, l := range labels {
		assign[i] = Test
		if !o.keeps(l) {
			assign[i] = Drop
		}
	}
	return assign
}

// ValSize returns how many of n train images go to val.
func (o Options) ValSize(n int) (int, error) {
	k := o.Count
	if k == 0 {
		k = int(math.Round(o.Fraction * float64(n)))
	}
	if k < 0 || k >= n && n > 0 {
		return 0, fmt.Errorf("split: val would take %d of the %d train images, leaving none for train", k, n)
	}
	return k, nil
}

// Carve assigns each train-file image (by its index in labels) to Train or Val.
func Carve(labels []uint8, o Options) ([]uint8, error) {
	n := len(labels)
	k, err := o.ValSize(n)
	if err != nil {
		return nil, err
	}
	assign := make([]uint8, n) // all Train
	if k == 0 {
		return assign, nil
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed0f5911))
	if !o.Stratify {
		for _, i := range rng.Perm(n)[:k] {
			assign[i] = Val
		}
		return assign, nil
	}
	// Group indices by label (ascending index within a class), shuffle each
	// class with the shared RNG in label order, then give each class its
	// quota: floor(k·share) plus one for the largest remainders.
	byClass := map[uint8][]int{}
	for i, l := range labels {
		byClass[l] = append(byClass[l], i)
	}
	classes := make([]uint8, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	type quota struct {
		class uint8
		take  int
		rem   float64
	}
	qs := make([]quota, len(classes))
	given := 0
	for i, c := range classes {
		exact := float64(k) * float64(len(byClass[c])) / float64(n)
		qs[i] = quota{c, int(exact), exact - math.Floor(exact)}
		given += qs[i].take
	}
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case qs[a].rem > qs[b].rem:
			return -1
		case qs[a].rem < qs[b].rem:
			return 1
		}
		return int(qs[a].class) - int(qs[b].class)
	})
	for _, i := range order[:k-given] {
		qs[i].take++
	}
	for _, q := range qs {
		idx := byClass[q.class]
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx[:q.take] {
			assign[i] = Val
		}
	}
	return assign, nil
}

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/cli"
	"github.com/shardsmith/shardsmith/trainer/data"
)

const orderUsage = `Usage: trainer order --shards DIR [--split train] [--seed S] [--epoch E] [--window N] [--no-shuffle]

Prints the order in which training reads the rows of a split in one epoch,
one row per line: the row's index in the split, counting through the shards
in manifest order. --seed and --window mean what they mean to training
(--seed, --shuffle-window), and --epoch counts from 0, so
  trainer order --shards DIR --seed 1 --epoch 0
is the order of the first epoch of trainer --shards DIR --seed 1. Other
readers (the Python package shardsmith) reproduce this order; the command is
there to compare with them.

Flags:
`

func cmdOrder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trainer order", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, orderUsage); fs.PrintDefaults() }
	shards := fs.String("shards", "", "dataset version (required)")
	split := new(vocab.Split)
	*split = vocab.Train
	fs.Var(split, "split", "`split` to order: train, val or test")
	seed := fs.Uint64("seed", 1, "the training seed")
	epoch := cli.Int(fs, "epoch", 0, 0, 1<<30, "epoch, counting from 0")
	window := cli.Int(fs, "window", 0, 0, maxWindow, "rows held for shuffling (0: 65536, as training)")
	noShuffle := fs.Bool("no-shuffle", false, "the unshuffled order (as eval reads a split)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *shards == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	ds, err := data.Open(*shards)
	if err != nil {
		return err
	}
	l, err := ds.Loader(*split, data.Options{BatchSize: 1, Shuffle: !*noShuffle, Seed: *seed, Window: *window})
	if err != nil {
		return err
	}
	order, err := l.Order(*epoch)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	var b []byte
	for _, i := range order {
		b = strconv.AppendInt(b[:0], int64(i), 10)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Flush()
}

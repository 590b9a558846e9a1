package main

import (
	"fmt"
	"io"
	"os"

	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/preview"
)

const previewHelp = `Usage: prep preview DIR [--split train] [-n 64] [-o grid.png] [--scale 3]

Writes a PNG grid of the first N source images of a split of the version in
DIR, one row per source: the original first, then its augmented variants, each
with its class name underneath. Look at it before training to see what the
augmentations do. DIR is a version directory, a dataset directory (its latest
version) or an output root holding one dataset. Every shard it reads is
checked against the manifest.
`

func cmdPreview(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("preview", previewHelp, stderr)
	splitName := new(vocab.Split)
	*splitName = vocab.Train
	fs.Var(splitName, "split", "`split` to sample: train, val or test")
	n := intFlag(fs, "n", 64, 1, maxPreviewRows, "number of source images (rows)")
	out := fs.String("o", "grid.png", "output PNG file")
	scale := intFlag(fs, "scale", 3, 1, maxPreviewScale, "upscaling factor")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("preview: -n must be ≥ 1")
	}
	if *out, err = store.MustLocal("-o", *out); err != nil {
		return err
	}
	dir, err := dataset.Resolve(pos[0])
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		return err
	}
	m := ds.Manifest()
	if ds.NumRows(*splitName) < 0 {
		return fmt.Errorf("preview: %s has no %s split", pos[0], *splitName)
	}
	if c := m.Image.Channels; c != 1 && c != 3 {
		return fmt.Errorf("preview: draws gray (1-channel) or RGB (3-channel) images; %s has %d channels", pos[0], c)
	}
	samples, err := previewSamples(ds, *splitName, *n)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := preview.Encode(f, samples, preview.Scale(*scale)); err != nil {
		f.Close()
		os.Remove(*out)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d source images of %s/%s\n", *out, countGroups(samples), m.ShortVersion(), *splitName)
	return nil
}

// previewSamples reads rows from the split's shards until n distinct sources
// (with all their copies, which are stored next to each other) are collected.
// The shard that holds the last of them is read to its end all the same, so
// that the reader checks its row count against the manifest: every shard a
// preview shows is checked whole.
func previewSamples(ds *dataset.Dataset, split vocab.Split, n int) ([]preview.Sample, error) {
	m := ds.Manifest()
	ch := m.Image.Channels
	elems := m.Image.Height * m.Image.Width * ch
	var out []preview.Sample
	groups := map[uint64]bool{}
	full := false
	var rows shard.Rows
	for k := range m.Split(split).Shards {
		if full {
			break
		}
		r, err := ds.OpenShard(split, k)
		if err != nil {
			return nil, err
		}
		for {
			rows.Reset()
			more, err := r.Next(&rows)
			if err != nil {
				r.Close()
				return nil, err
			}
			if !more {
				break
			}
			for i, si := range rows.SourceIndex {
				if full {
					break
				}
				if !groups[si] {
					if len(groups) == n {
						full = true
						break
					}
					groups[si] = true
				}
				px := make([]uint8, elems)
				if rows.ImageU8 != nil {
					copy(px, rows.ImageU8[i*elems:(i+1)*elems])
				} else {
					for j, v := range rows.ImageF32[i*elems : (i+1)*elems] {
						px[j] = m.Normalize.Denormalize(j%ch, v) // HWC: value j is channel j mod C
					}
				}
				c := int(rows.Copy[i])
				if c == 0 {
					c = preview.Original
				}
				out = append(out, preview.Sample{Pixels: px, Width: m.Image.Width, Height: m.Image.Height, Channels: ch,
					Label: m.Classes[rows.Label[i]], Group: int(si), Copy: c})
			}
		}
		r.Close()
	}
	return out, nil
}

func countGroups(s []preview.Sample) int {
	g := map[int]bool{}
	for _, x := range s {
		g[x.Group] = true
	}
	return len(g)
}

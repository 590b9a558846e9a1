package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/prep"
)

// lsRemote is prep ls on an object store: a version is listed once its
// manifest is there; a prefix a failed upload left without one is not.
func lsRemote(ctx context.Context, loc store.Location, stdout io.Writer) error {
	st, err := store.Open(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	datasets, err := st.List(ctx, "", true)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tVERSION\tCREATED\tROWS\tLATEST")
	for _, d := range datasets {
		name := strings.TrimSuffix(d.Key, "/")
		if !d.IsDir || strings.HasPrefix(name, ".") {
			continue
		}
		latest := ""
		if b, err := st.Get(ctx, path.Join(name, manifest.LatestName)); err == nil {
			latest = strings.TrimSpace(string(b))
		}
		versions, err := st.List(ctx, name+"/", true)
		if err != nil {
			return err
		}
		var ms []*manifest.Manifest
		for _, v := range versions {
			if !v.IsDir {
				continue
			}
			data, err := st.Get(ctx, v.Key+manifest.FileName)
			if err != nil {
				continue
			}
			if m, err := manifest.Parse(data); err == nil {
				ms = append(ms, m)
			}
		}
		listVersions(tw, ms, latest)
	}
	return tw.Flush()
}

const gcHelp = `Usage: prep gc [OUT] [--min-age 1h]

Removes what failed or interrupted runs left under the output root OUT
(default out; a directory or s3://BUCKET/PREFIX): on local disk the
temporary directories beside the versions and the staging areas of
partitioned builds (.partitions-VERSION) whose version is published or that
nothing has written to for --min-age; on an object store every version
prefix that has no manifest (never published) and has not been written to
for --min-age, so that a build still uploading is left alone. Published
versions are never touched. Readers ignore such leftovers anyway.
`

func cmdGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gc", gcHelp, stderr)
	minAge := fs.Duration("min-age", prep.StaleAfter, "leave unpublished versions written to more recently than this")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *minAge < 0 {
		fmt.Fprintf(stderr, "prep gc: --min-age %s: must be ≥ 0\n", *minAge)
		return errUsage
	}
	root := "out"
	if len(pos) == 1 {
		root = pos[0]
	}
	removed, err := prep.Collect(ctx, root, *minAge, func(format string, a ...any) {
		fmt.Fprintf(stdout, format+"\n", a...)
	})
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintf(stdout, "nothing to remove under %s\n", root)
	}
	return nil
}

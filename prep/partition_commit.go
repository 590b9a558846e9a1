package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
)

// receiptPattern matches receipt file names; the groups are I and N.
var receiptPattern = regexp.MustCompile(`^partition-(\d{5})-of-(\d{5})\.json$`)

// CommitError lists what keeps a partitioned build from being committed:
// each missing partition, bad receipt, and missing or damaged shard.
type CommitError struct {
	Dir      string
	Problems []string
}

func (e *CommitError) Error() string {
	return fmt.Sprintf("commit %s: nothing published: %s", e.Dir, strings.Join(e.Problems, "; "))
}

// Commit publishes the version cfg describes from the shards its
// partitions built (BuildPartition), once every partition's receipt is in
// the staging area and every shard verifies against it (size and
// SHA-256). It writes the manifest — the commit point — and points latest
// at the version the way Build does: on local disk in a temporary
// directory published by one rename, through internal/durable; on a store
// by uploading the manifest after verifying the shards in place, then
// latest. It then removes the staging area. partitions is N, or 0 to take
// it from the receipts (which must then all say the same N). A partition
// missing or (on local disk) still running, a receipt that does not agree
// with the others or with the assignment, and a shard missing or damaged
// are errors naming them all, and nothing is published. An already
// published version is up to date: its staging area, if any, is removed.
func Commit(ctx context.Context, cfg *config.Config, opts Options, partitions int) (*Result, error) {
	t0 := time.Now()
	if partitions < 0 || partitions > MaxPartitions {
		return nil, fmt.Errorf("partitions %d: want 1 to %d, or 0 to read it from the receipts", partitions, MaxPartitions)
	}
	t, err := resolve(ctx, cfg, &opts)
	if err != nil {
		return nil, err
	}
	defer t.close()
	unlock, err := t.dst.lock(ctx, opts.logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t.dst.cleanup(ctx, opts.logf)
	area := t.stagingArea()

	if m, ok := t.dst.current(ctx, t.short, t.version); ok {
		if err := t.dst.setLatest(ctx, t.short); err != nil {
			return nil, err
		}
		area.remove(ctx, opts.logf)
		return &Result{Manifest: m, Dir: t.final, UpToDate: true, Elapsed: time.Since(t0)}, nil
	}

	receipts, err := loadReceipts(ctx, area, t, partitions)
	if err != nil {
		return nil, err
	}
	lockRelease, err := area.lockAll(ctx)
	if err != nil {
		return nil, err
	}
	released := false
	release := func() {
		if !released {
			released = true
			lockRelease()
		}
	}
	defer release()
	if err := checkReceipts(area.where(), receipts); err != nil {
		return nil, err
	}
	c, err := area.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer c.discard()
	if probs := addAll(ctx, c, receipts); len(probs) > 0 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		probs = append(probs, "rerun those partitions with --force, then commit again")
		return nil, &CommitError{Dir: area.where(), Problems: probs}
	}
	m, err := assemble(receipts)
	if err != nil {
		return nil, &CommitError{Dir: area.where(), Problems: []string{err.Error()}}
	}
	if err := c.publish(ctx, m); err != nil {
		return nil, err
	}
	// A partition that starts now finds the version published.
	release()
	area.remove(ctx, opts.logf)
	return &Result{Manifest: m, Dir: t.final, Elapsed: time.Since(t0)}, nil
}

// loadReceipts reads the receipts in the staging area and returns those of
// the N partitions, in partition order: all N must be there and parse.
func loadReceipts(ctx context.Context, area stagingArea, t *target, n int) ([]*Receipt, error) {
	stage := area.where()
	names, err := area.receiptNames(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no partition of %s version %s has been built: %s holds no receipt; run `prep run CONFIG --partition I/N` for every I from 0 to N-1 first", t.cfg.Dataset, t.short, stage)
	}
	if err != nil {
		return nil, err
	}
	found := map[int][]int{} // N -> indexes
	for _, name := range names {
		g := receiptPattern.FindStringSubmatch(name)
		if g == nil {
			continue
		}
		i, _ := strconv.Atoi(g[1])
		c, _ := strconv.Atoi(g[2])
		found[c] = append(found[c], i)
	}
	if n == 0 {
		counts := make([]int, 0, len(found))
		for c := range found {
			counts = append(counts, c)
		}
		sort.Ints(counts)
		switch len(counts) {
		case 0:
			return nil, &CommitError{Dir: stage, Problems: []string{"no partition receipt (partition-I-of-N.json) is there: no partition run has finished; run `prep run CONFIG --partition I/N` for every I from 0 to N-1"}}
		case 1:
			n = counts[0]
		default:
			return nil, &CommitError{Dir: stage, Problems: []string{fmt.Sprintf("receipts of builds in %v partitions are there; say which with --partitions N", counts)}}
		}
	}
	var missing []string
	have := map[int]bool{}
	for _, i := range found[n] {
		have[i] = true
	}
	for i := 0; i < n; i++ {
		if !have[i] {
			missing = append(missing, Partition{i, n}.String())
		}
	}
	if len(missing) > 0 {
		return nil, &CommitError{Dir: stage, Problems: []string{fmt.Sprintf("%d of %d partitions have no receipt (not built, still running or failed): %s; run `prep run CONFIG --partition I/%d` for each",
			len(missing), n, strings.Join(missing, ", "), n)}}
	}
	var probs []string
	receipts := make([]*Receipt, n)
	for i := range receipts {
		p := Partition{i, n}
		r, err := loadReceipt(ctx, area, t.cfg.Dataset, t.version, p)
		if err != nil {
			probs = append(probs, err.Error())
			continue
		}
		receipts[i] = r
	}
	if len(probs) > 0 {
		return nil, &CommitError{Dir: stage, Problems: probs}
	}
	return receipts, nil
}

// checkReceipts checks that the receipts describe one version alike and
// that each lists exactly the shards the assignment gives its partition.
func checkReceipts(stage string, receipts []*Receipt) error {
	first := receipts[0]
	want, err := json.Marshal(first.Manifest)
	if err != nil {
		return err
	}
	nShards := make([]int, len(first.Splits))
	ids := make([]uint8, len(first.Splits))
	for k, sp := range first.Splits {
		id, ok := sp.Name.ID()
		if !ok || k > 0 && id <= ids[k-1] {
			return &CommitError{Dir: stage, Problems: []string{fmt.Sprintf("partition 0/%d: splits %v are not in train, val, test order", first.Partitions, first.Splits)}}
		}
		ids[k], nShards[k] = id, sp.Shards
	}
	assigned := assignShards(nShards, first.Partitions) // split k of the receipt's list is ref.split k
	var probs []string
	for i, r := range receipts {
		got, err := json.Marshal(r.Manifest)
		if err != nil {
			return err
		}
		who := fmt.Sprintf("partition %d/%d", r.Partition, r.Partitions)
		if string(got) != string(want) {
			probs = append(probs, fmt.Sprintf("%s describes the version otherwise than partition 0/%d (statistics, sources or config differ): %s", who, r.Partitions, firstDifference(want, got)))
			continue
		}
		if !slices.Equal(r.Splits, first.Splits) {
			probs = append(probs, fmt.Sprintf("%s has the splits %v, partition 0/%d has %v", who, r.Splits, r.Partitions, first.Splits))
			continue
		}
		var gotRefs, wantRefs []string
		for _, sh := range r.Shards {
			gotRefs = append(gotRefs, fmt.Sprintf("%s %d", sh.Split, sh.Index))
		}
		for _, ref := range assigned[i] {
			wantRefs = append(wantRefs, fmt.Sprintf("%s %d", first.Splits[ref.split].Name, ref.idx))
		}
		if !slices.Equal(gotRefs, wantRefs) {
			probs = append(probs, fmt.Sprintf("%s lists the shards %v, but the assignment gives it %v", who, gotRefs, wantRefs))
		}
	}
	if len(probs) > 0 {
		return &CommitError{Dir: stage, Problems: probs}
	}
	return nil
}

// firstDifference shows where two encodings first differ.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-40)
	return fmt.Sprintf("at byte %d: …%s… vs …%s…", i, a[lo:min(len(a), i+40)], b[lo:min(len(b), i+40)])
}

// assemble writes the version's manifest from the receipts: the shared
// part, and per split its rows, its shards in index order and the sum of
// their label histograms.
func assemble(receipts []*Receipt) (*manifest.Manifest, error) {
	first := receipts[0]
	m := *first.Manifest
	m.Created = time.Now().UTC().Format(time.RFC3339)
	m.Splits = nil
	for _, sp := range first.Splits {
		out := manifest.Split{Name: sp.Name, Rows: sp.Rows, Labels: make([]int, len(m.Classes)), Shards: make([]manifest.Shard, sp.Shards)}
		for _, r := range receipts {
			for _, sh := range r.Shards {
				if sh.Split != sp.Name {
					continue
				}
				if len(sh.Labels) != len(m.Classes) {
					return nil, fmt.Errorf("partition %d/%d: shard %s has a label histogram of %d entries for %d classes", r.Partition, r.Partitions, sh.Path, len(sh.Labels), len(m.Classes))
				}
				out.Shards[sh.Index] = sh.Shard
				for l, c := range sh.Labels {
					out.Labels[l] += c
				}
			}
		}
		m.Splits = append(m.Splits, out)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("the receipts do not make a valid manifest: %w", err)
	}
	return &m, nil
}

// linkOrCopy makes dst a hard link to src, or, where the file system has
// none, a synced copy.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil || errors.Is(err, os.ErrNotExist) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/durable"
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
// SHA-256). It writes the manifest and points latest at the version the
// way Build does — in a temporary directory, by one rename, through
// internal/durable — and removes the staging area. partitions is N, or 0
// to take it from the receipts (which must then all say the same N). A
// partition missing or still running, a receipt that does not agree with
// the others or with the assignment, and a shard missing or damaged are
// errors naming them all, and nothing is published. An already published
// version is up to date: its staging area, if any, is removed.
func Commit(ctx context.Context, cfg *config.Config, opts Options, partitions int) (*Result, error) {
	t0 := time.Now()
	if partitions < 0 || partitions > MaxPartitions {
		return nil, fmt.Errorf("partitions %d: want 1 to %d, or 0 to read it from the receipts", partitions, MaxPartitions)
	}
	if err := checkPartitionOut(cfg, opts); err != nil {
		return nil, err
	}
	t, err := resolve(ctx, cfg, &opts)
	if err != nil {
		return nil, err
	}
	defer t.close()
	unlock, err := lockDir(ctx, t.dsDir, opts.logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStale(t.dsDir, opts.logf)
	stage := t.staging()

	if m, ok := t.published(); ok {
		if err := setLatest(t.dsDir, t.short); err != nil {
			return nil, err
		}
		if _, err := os.Stat(stage); err == nil {
			if release, err := lockPartitions(stage); err == nil {
				opts.logf("version %s is published; removing its staging area %s", t.short, stage)
				os.RemoveAll(stage)
				release()
			}
		}
		return &Result{Manifest: m, Dir: t.final, UpToDate: true, Elapsed: time.Since(t0)}, nil
	}

	receipts, err := loadReceipts(stage, t, partitions)
	if err != nil {
		return nil, err
	}
	release, err := lockPartitions(stage)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := checkReceipts(stage, receipts); err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp(t.dsDir, ".tmp-"+t.short+"-")
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
	// Each shard is linked (or copied) into the temporary directory first
	// and verified there: what is published is what was verified.
	var probs []string
	for _, r := range receipts {
		for _, sh := range r.Shards {
			dst := filepath.Join(tmp, sh.Path)
			if err := linkOrCopy(filepath.Join(stage, sh.Path), dst); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					err = fmt.Errorf("shard %s is missing", sh.Path)
				}
				probs = append(probs, fmt.Sprintf("partition %d/%d: %v", r.Partition, r.Partitions, err))
				continue
			}
			if err := verifyShardFile(dst, sh.Shard); err != nil {
				probs = append(probs, fmt.Sprintf("partition %d/%d: %v", r.Partition, r.Partitions, strings.ReplaceAll(err.Error(), dst, sh.Path)))
			}
		}
	}
	if len(probs) > 0 {
		probs = append(probs, "rerun those partitions with --force, then commit again")
		return nil, &CommitError{Dir: stage, Problems: probs}
	}
	m, err := assemble(receipts)
	if err != nil {
		return nil, &CommitError{Dir: stage, Problems: []string{err.Error()}}
	}
	if err := writeManifest(tmp, m); err != nil {
		return nil, err
	}
	if err := publish(tmp, t.final, t.dsDir); err != nil {
		return nil, err
	}
	published = true
	if err := setLatest(t.dsDir, t.short); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(stage); err != nil {
		opts.logf("removing the staging area %s: %v", stage, err)
	}
	return &Result{Manifest: m, Dir: t.final, Elapsed: time.Since(t0)}, nil
}

// loadReceipts reads the receipts in the staging area and returns those of
// the N partitions, in partition order: all N must be there and parse.
func loadReceipts(stage string, t *target, n int) ([]*Receipt, error) {
	entries, err := os.ReadDir(stage)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no partition of %s version %s has been built: %s does not exist; run `prep run CONFIG --partition I/N` for every I from 0 to N-1 first", t.cfg.Dataset, t.short, stage)
	}
	if err != nil {
		return nil, err
	}
	found := map[int][]int{} // N -> indexes
	for _, e := range entries {
		g := receiptPattern.FindStringSubmatch(e.Name())
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
		r, err := loadReceipt(filepath.Join(stage, receiptName(p)), t.cfg.Dataset, t.version, p)
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

// lockPartitions takes the lock of every partition found in the staging
// area without waiting: a partition still running holds its lock, and the
// commit must not publish, or remove, what it is writing.
func lockPartitions(stage string) (release func(), err error) {
	locks, _ := filepath.Glob(filepath.Join(stage, ".partition-*.lock"))
	var held []*durable.Lock
	release = func() {
		for _, l := range held {
			l.Unlock()
		}
	}
	for _, path := range locks {
		l, err := durable.TryLock(path)
		if err != nil {
			release()
			if errors.Is(err, durable.ErrLocked) {
				name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), ".partition-"), ".lock")
				return nil, &CommitError{Dir: stage, Problems: []string{fmt.Sprintf("partition %s is still running (it holds %s); commit when it has finished", name, path)}}
			}
			return nil, err
		}
		held = append(held, l)
	}
	return release, nil
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

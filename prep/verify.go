package prep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
)

// Problem is one way a version directory differs from its manifest.
type Problem struct {
	Path string `json:"path"`
	What string `json:"what"`
}

// VerifyError lists every problem found by Verify.
type VerifyError struct {
	Dir      string
	Problems []Problem
}

func (e *VerifyError) Error() string {
	s := fmt.Sprintf("%s: %d problem(s):", e.Dir, len(e.Problems))
	for _, p := range e.Problems {
		s += fmt.Sprintf("\n  %s: %s", p.Path, p.What)
	}
	return s
}

// Verify re-hashes every shard of the version in dir against its manifest:
// file bytes (sha256), decoded rows and the hash of the uncompressed data.
// Missing, truncated, altered and unexpected files are all reported.
func Verify(dir string) (*manifest.Manifest, error) {
	m, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	var probs []Problem
	listed := map[string]bool{manifest.FileName: true}
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			listed[sh.Path] = true
			if what := verifyShard(filepath.Join(dir, sh.Path), sh); what != "" {
				probs = append(probs, Problem{sh.Path, what})
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			probs = append(probs, Problem{e.Name(), "not listed in the manifest"})
		}
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Path < probs[j].Path })
	if len(probs) > 0 {
		return m, &VerifyError{Dir: dir, Problems: probs}
	}
	return m, nil
}

func verifyShard(path string, sh manifest.Shard) string {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return err.Error()
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return err.Error()
	}
	if n != sh.Bytes {
		return fmt.Sprintf("size %d bytes, manifest says %d (truncated or replaced)", n, sh.Bytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sh.SHA256 {
		return fmt.Sprintf("sha256 %s, manifest says %s (contents changed)", got, sh.SHA256)
	}
	r, err := shard.OpenFile(path)
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	dh := shard.NewDataHasher()
	rows := 0
	for i := 0; i < r.NumBatches(); i++ {
		var b shard.Rows
		if err := r.ReadRows(i, &b); err != nil {
			return err.Error()
		}
		dh.Add(b)
		rows += b.Len()
	}
	if rows != sh.Rows {
		return fmt.Sprintf("%d rows, manifest says %d", rows, sh.Rows)
	}
	if got := dh.Sum(); got != sh.DataSHA256 {
		return fmt.Sprintf("data hash %s, manifest says %s", got, sh.DataSHA256)
	}
	return ""
}

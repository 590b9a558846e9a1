package prep

import (
	"context"
	"fmt"
	"os"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/dataset"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// Shard comparison outcomes of Reproduce.
const (
	Identical = "identical" // same file bytes
	SameData  = "same-data" // same uncompressed columns, different file bytes (another compressor or Arrow version)
	Different = "different" // different rows
	Missing   = "missing"   // in the manifest, not rebuilt
	Extra     = "extra"     // rebuilt, not in the manifest
)

// Comparison is the outcome for one shard.
type Comparison struct {
	Split  vocab.Split `json:"split"`
	Path   string      `json:"path"`
	Status string      `json:"status"`
}

// ReproduceReport says how a rebuild compares with the published version.
type ReproduceReport struct {
	Version        string       `json:"version"`
	RebuiltVersion string       `json:"rebuilt_version"`
	Shards         []Comparison `json:"shards"`
	// Identical: every shard byte-identical. SameData: every shard holds the
	// same data, possibly compressed differently.
	Identical bool `json:"identical"`
	SameData  bool `json:"same_data"`
}

// Reproduce rebuilds the version in dir from the configuration embedded in its
// manifest, into a temporary directory that is removed afterwards, and
// compares every shard.
func Reproduce(ctx context.Context, dir string, opts Options) (*ReproduceReport, error) {
	m, err := dataset.LoadManifest(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := config.FromJSON(m.Config, dir+"/"+manifest.FileName+" (config)")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "shardsmith-reproduce-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	opts.Out, opts.Force = tmp, true
	res, err := Build(ctx, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	return compare(m, res.Manifest), nil
}

func compare(orig, rebuilt *manifest.Manifest) *ReproduceReport {
	rep := &ReproduceReport{Version: orig.Version, RebuiltVersion: rebuilt.Version, Identical: true, SameData: true}
	got := map[string]manifest.Shard{}
	for _, sp := range rebuilt.Splits {
		for _, sh := range sp.Shards {
			got[sp.Name.String()+"/"+sh.Path] = sh
		}
	}
	for _, sp := range orig.Splits {
		for _, sh := range sp.Shards {
			key := sp.Name.String() + "/" + sh.Path
			r, ok := got[key]
			delete(got, key)
			c := Comparison{Split: sp.Name, Path: sh.Path}
			switch {
			case !ok:
				c.Status = Missing
			case r.SHA256 == sh.SHA256:
				c.Status = Identical
			case r.DataSHA256 == sh.DataSHA256:
				c.Status = SameData
			default:
				c.Status = Different
			}
			rep.Shards = append(rep.Shards, c)
		}
	}
	for _, sp := range rebuilt.Splits {
		for _, sh := range sp.Shards {
			if _, ok := got[sp.Name.String()+"/"+sh.Path]; ok {
				rep.Shards = append(rep.Shards, Comparison{Split: sp.Name, Path: sh.Path, Status: Extra})
			}
		}
	}
	for _, c := range rep.Shards {
		rep.Identical = rep.Identical && c.Status == Identical
		rep.SameData = rep.SameData && (c.Status == Identical || c.Status == SameData)
	}
	return rep
}

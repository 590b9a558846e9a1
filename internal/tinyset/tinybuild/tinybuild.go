// Package tinybuild is the test helper that writes a tinyset and builds it
// with prep, for tests of the packages that read dataset versions.
package tinybuild

import (
	"context"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/prep"
	"github.com/shardsmith/shardsmith/stages/download"
)

// Build writes a set for spec into a temporary directory of t and builds it
// with prep under out as dataset name, with extra YAML appended to its config
// (a download cache of its own, so tests never share one).
func Build(t testing.TB, out, name string, spec tinyset.Spec, extra string) *prep.Result {
	t.Helper()
	set, err := tinyset.Write(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(set.Config(name, extra)), name+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := prep.Build(context.Background(), cfg, prep.Options{Out: out, Fetcher: download.New(download.WithCacheDir(t.TempDir()))})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

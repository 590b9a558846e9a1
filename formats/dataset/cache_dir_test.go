package dataset_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shardsmith/shardsmith/formats/dataset"
)

// The default shard cache is shardsmith/shards under the user's cache
// directory, and under the system's temporary directory where the user has
// none.
func TestDefaultCacheDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cache directory comes from XDG_CACHE_HOME and HOME on Linux only")
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	if got, want := dataset.DefaultCacheDir(), filepath.Join(xdg, "shardsmith", "shards"); got != want {
		t.Errorf("with XDG_CACHE_HOME: %s, want %s", got, want)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if got, want := dataset.DefaultCacheDir(), filepath.Join(os.TempDir(), "shardsmith-shards"); got != want {
		t.Errorf("without a cache directory: %s, want %s", got, want)
	}
}

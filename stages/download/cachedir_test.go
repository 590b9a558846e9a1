package download

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Without WithCacheDir the cache is "shardsmith" under the user's cache
// directory; where there is none, CacheDir is empty and CachePath and Fetch
// say to use WithCacheDir, until WithCacheDir gives one.
func TestDefaultCacheDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the user cache directory comes from XDG_CACHE_HOME and HOME on Linux only")
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	f := New()
	if got, want := f.CacheDir(), filepath.Join(xdg, "shardsmith"); got != want {
		t.Errorf("CacheDir = %s, want %s", got, want)
	}
	sum := hexSum(nil)
	if p, err := f.CachePath(sum); err != nil || p != filepath.Join(xdg, "shardsmith", "sha256", sum) {
		t.Errorf("CachePath = %s, %v", p, err)
	}

	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	f = New()
	if got := f.CacheDir(); got != "" {
		t.Errorf("without a user cache directory CacheDir = %q, want empty", got)
	}
	const want = "no user cache directory (use WithCacheDir)"
	if _, err := f.CachePath(sum); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CachePath: %v, want %q", err, want)
	}
	_, err := f.Fetch(context.Background(), Source{Name: "x", SHA256: sum, URLs: []string{"file:///nonexistent"}})
	if err == nil || !strings.Contains(err.Error(), "download: x: "+want) {
		t.Errorf("Fetch: %v, want %q", err, want)
	}
	dir := t.TempDir()
	if got := New(WithCacheDir(dir)).CacheDir(); got != dir {
		t.Errorf("WithCacheDir: CacheDir = %q, want %s", got, dir)
	}
}

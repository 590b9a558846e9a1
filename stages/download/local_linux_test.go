//go:build linux

package download

import (
	"context"
	"os"
	"strings"
	"testing"
)

// A local file that fails to read (here /proc/self/mem, a regular file whose
// offset 0 is not mapped: EIO) fails its mirror with an error naming the file.
func TestFetchLocalReadErrorNamesTheFile(t *testing.T) {
	const src = "/proc/self/mem"
	if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
		t.Skip("no /proc/self/mem to fail a read:", err)
	}
	f, dir, _ := newTestFetcher(t)
	data := testData(16)
	_, err := f.Fetch(context.Background(), Source{Name: "mem", SHA256: hexSum(data), URLs: []string{src}})
	if err == nil || !strings.Contains(err.Error(), "mirror 1, "+src+": read "+src+": ") {
		t.Fatalf("err = %v, want a read error of %s", err, src)
	}
	if n := strings.Count(err.Error(), "read "+src); n != 1 {
		t.Errorf("err = %v: names the read of %s %d times, want once", err, src, n)
	}
	if final, part := entryPaths(dir, data); exists(t, final) || exists(t, part) {
		t.Error("cache entry left after a failed read")
	}
}

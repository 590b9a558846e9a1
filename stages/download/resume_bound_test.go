package download

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A resumed body that runs past the declared Size (a 206 of unknown size,
// sent chunked) is cut one byte after the Size, as a fresh one is: no more
// than that is written to the partial file or reported as progress.
func TestResumedBodyIsCutOneByteAfterTheSize(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefghij"), 10)
	var most int64
	f, dir, _ := newTestFetcher(t, WithRetries(0), WithProgress(func(name string, done, total int64) { most = max(most, done) }))
	_, part := entryPaths(dir, data)
	os.MkdirAll(filepath.Dir(part), 0o755)
	if err := os.WriteFile(part, data[:50], 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMirror(t, answer(206, map[string]string{"Content-Range": "bytes 50-99/*"}, bytes.Repeat(data, 10)))
	_, err := f.Fetch(context.Background(), Source{Name: "p", SHA256: hexSum(data), Size: 100, URLs: []string{m.URL + "/p"}})
	if want := "body runs past the expected 100 bytes (got at least 101)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Fetch: %v, want %q", err, want)
	}
	if most != 101 {
		t.Errorf("progress went up to %d bytes, want 101", most)
	}
}

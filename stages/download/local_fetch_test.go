package download

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFetchLocal(t *testing.T) {
	data := testData(testSize)
	srcDir := t.TempDir()
	good := filepath.Join(srcDir, "good.bin")
	bad := filepath.Join(srcDir, "bad.bin")
	os.WriteFile(good, data, 0o644)
	os.WriteFile(bad, data[:testSize-1], 0o644)
	fileURL := "file://" + filepath.ToSlash(good)
	if !strings.HasPrefix(filepath.ToSlash(good), "/") {
		fileURL = "file:///" + filepath.ToSlash(good)
	}

	cases := []struct {
		name    string
		urls    []string
		size    int64
		wantErr []string
	}{
		{name: "file URL", urls: []string{fileURL}},
		{name: "absolute path", urls: []string{good}},
		{name: "file URL with localhost", urls: []string{strings.Replace(fileURL, "file://", "file://localhost", 1)}},
		{name: "missing file then good", urls: []string{filepath.Join(srcDir, "missing"), good}},
		{name: "wrong bytes", urls: []string{bad}, wantErr: []string{bad, "sha256 mismatch: expected " + hexSum(data) + ", got " + hexSum(data[:testSize-1])}},
		{name: "wrong size", urls: []string{bad}, size: testSize, wantErr: []string{fmt.Sprintf("%s has %d bytes, want %d", bad, testSize-1, testSize)}},
		{name: "directory", urls: []string{srcDir}, wantErr: []string{srcDir + " is not a regular file"}},
		{name: "remote file URL", urls: []string{"file://otherhost/x"}, wantErr: []string{`names host "otherhost"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, dir, _ := newTestFetcher(t)
			got, err := f.Fetch(context.Background(), Source{Name: "local.bin", SHA256: hexSum(data), URLs: tc.urls, Size: tc.size})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				checkFetched(t, got, dir, data)
				return
			}
			if err == nil {
				t.Fatalf("Fetch succeeded, want error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not contain %q:\n%v", s, err)
				}
			}
			final, part := entryPaths(dir, data)
			if exists(t, final) || exists(t, part) {
				t.Errorf("cache entry left after a failed local copy")
			}
		})
	}
}

// fakeGo writes a stand-in for the go command that records its arguments
// and prints out, exiting with code.

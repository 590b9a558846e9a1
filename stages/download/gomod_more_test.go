package download

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A go command cancelled by the context (here a deadline) reports the
// context's error, not the killed command's.
func TestFetchGoModCancelled(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake go command")
	}
	goCmd := filepath.Join(t.TempDir(), "go")
	if err := os.WriteFile(goCmd, []byte("#!/bin/sh\nexec sleep 20\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, _, _ := newTestFetcher(t, WithGoCommand(goCmd))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.Fetch(ctx, Source{Name: "x.bin", SHA256: hexSum([]byte("x")), URLs: []string{"gomod://example.com/data@v1.2.3/x.bin"}})
	var fe *FetchError
	if !errors.As(err, &fe) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a FetchError for the deadline", err)
	}
	if len(fe.Mirrors) != 1 || fe.Mirrors[0].Err != context.DeadlineExceeded {
		t.Errorf("mirror errors %v, want the context's error alone", fe.Mirrors)
	}
}

// Without a scratch directory for `go mod download` (TMPDIR missing) the
// fetch ends with an error saying so.
func TestFetchGoModWithoutScratchDir(t *testing.T) {
	goCmd, _ := fakeGo(t, `{"Dir":"/nonexistent"}`, 0)
	f, _, _ := newTestFetcher(t, WithGoCommand(goCmd))
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	_, err := f.Fetch(context.Background(), Source{Name: "x.bin", SHA256: hexSum([]byte("x")), URLs: []string{"gomod://example.com/data@v1.2.3/x.bin", "gomod://example.com/data@v1.2.4/x.bin"}})
	if err == nil || !strings.Contains(err.Error(), "stopped after 1 of 2 mirrors: cache: create scratch directory for go mod download: ") {
		t.Fatalf("err = %v", err)
	}
}

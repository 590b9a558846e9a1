package prep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// age sets the modification time of dir and everything in it to d ago.
func age(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	when := time.Now().Add(-d)
	err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(path, when, when)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// prep gc removes a staging area of partitions that were never committed
// once nothing has written to it for --min-age, and not before; one a
// partition holds its lock in stays.
func TestCollectAbandonedStaging(t *testing.T) {
	cfg, out, stage := stagedSet(t, 3, 2)
	if removed, err := Collect(context.Background(), out, time.Hour, nil); err != nil || len(removed) != 0 {
		t.Fatalf("gc of a fresh staging area: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(stage); err != nil {
		t.Fatalf("a fresh staging area was removed: %v", err)
	}

	age(t, stage, 2*time.Hour)
	l, err := durable.TryLock(filepath.Join(stage, partitionLockName(Partition{0, 3})))
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := Collect(context.Background(), out, time.Hour, nil); err != nil || len(removed) != 0 {
		t.Fatalf("gc while a partition holds its lock: removed %v, %v", removed, err)
	}
	l.Unlock()
	age(t, stage, 2*time.Hour)

	var log []string
	removed, err := Collect(context.Background(), out, time.Hour, func(format string, a ...any) {
		log = append(log, fmt.Sprintf(format, a...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != stage {
		t.Fatalf("gc removed %v; want [%s]", removed, stage)
	}
	if !strings.Contains(strings.Join(log, "\n"), "never committed") {
		t.Errorf("gc's message does not say why: %q", log)
	}
	if _, err := os.Stat(stage); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the abandoned staging area is still there: %v", err)
	}
	// The partitions that were staged build again from scratch and commit.
	for i := 0; i < 3; i++ {
		if _, err := BuildPartition(context.Background(), cfg, testOptions(t, out), Partition{i, 3}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Commit(context.Background(), cfg, testOptions(t, out), 0); err != nil {
		t.Fatal(err)
	}
}

// A staging area a commit had to leave behind (a partition held its lock
// while it published) goes at the next gc, whatever its age: its version
// is published, so no partition run will use it again.
func TestCollectStagingOfPublishedVersion(t *testing.T) {
	cfg, out, stage := stagedSet(t, 2)
	res, err := Commit(context.Background(), cfg, testOptions(t, out), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stage); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the commit left its staging area: %v", err)
	}
	// What a commit leaves when a partition ran again while it published.
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, receiptName(Partition{1, 2})), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := Collect(context.Background(), out, time.Hour, nil)
	if err != nil || len(removed) != 1 || removed[0] != stage {
		t.Fatalf("gc removed %v, %v; want [%s]", removed, err, stage)
	}
	if _, err := os.Stat(stage); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the staging area of a published version is still there: %v", err)
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Errorf("the published version after gc: %v", err)
	}
}

package prep

import (
	"context"
	"errors"
	"testing"
)

// Partitions share a staging area, receipts and locks on a file system; an
// object-store output root is refused before anything is read or written,
// by the partition runs and by the commit alike.
func TestPartitionsRefuseAStoreOutput(t *testing.T) {
	cfg, _, _ := stagedSet(t, 3, 0, 1)
	opts := testOptions(t, "s3://bucket/prefix")
	if _, err := BuildPartition(context.Background(), cfg, opts, Partition{0, 3}); !errors.Is(err, errPartitionStore) {
		t.Fatalf("partition into a store: %v, want errPartitionStore", err)
	}
	if _, err := Commit(context.Background(), cfg, opts, 3); !errors.Is(err, errPartitionStore) {
		t.Fatalf("commit into a store: %v, want errPartitionStore", err)
	}
	opts.Out = "gs://bucket/prefix"
	if _, err := BuildPartition(context.Background(), cfg, opts, Partition{0, 3}); err == nil || errors.Is(err, errPartitionStore) {
		t.Fatalf("partition into an unsupported scheme: %v, want the location error", err)
	}
}

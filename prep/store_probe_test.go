package prep

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

// TestStoreProbesAtOnce opens one dataset prefix from several runs at once,
// as partitions started together do: every writability probe must pass
// (versitygw's posix backend refuses a put into a directory that another
// probe's delete is removing) and leave no object behind.
func TestStoreProbesAtOnce(t *testing.T) {
	srv := storetest.Start(t)
	loc, err := store.Parse(srv.URL("datasets"))
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 10; round++ {
		var g errgroup.Group
		for i := 0; i < 6; i++ {
			g.Go(func() error {
				d, err := openStoreDest(context.Background(), loc, fmt.Sprintf("set%d", round))
				if err != nil {
					return err
				}
				return d.st.Close()
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if got := objects(t, srv, "datasets/"); len(got) != 0 {
		t.Errorf("probes left %v", got)
	}
}

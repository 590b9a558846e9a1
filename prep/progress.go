package prep

import (
	"time"

	"github.com/shardsmith/shardsmith/pipeline"
)

// startProgress reports the graph's counters to opts.Progress a few times a
// second, and once more when stopped; the rows done are those of the last
// stage, which counts rows once their shard is on disk.
func startProgress(g *pipeline.Graph, opts *Options, total int64) (stop func()) {
	if opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	report := func() {
		st := g.Stats()
		var rows int64
		if len(st) > 0 {
			rows = st[len(st)-1].Rows
		}
		opts.Progress(Progress{RowsDone: rows, RowsTotal: total, Stages: st})
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-done:
				report()
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

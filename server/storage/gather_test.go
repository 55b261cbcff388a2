package storage

import (
	"context"
	"testing"
	"time"
)

func plainReq() *writeRequest { return &writeRequest{result: make(chan writeResult, 1)} }

// The gatherer waits for the writers of the previous batch, never for a
// lone writer, and never past its bound.
func TestGatherer(t *testing.T) {
	s := &Store{maxBatch: 16, requests: make(chan *writeRequest, 16), stop: make(chan struct{})}

	// A lone writer: its previous batch was itself, so nothing to wait for.
	g := gatherer{last: 1, lastTook: time.Hour}
	if got := g.gather(s, []*writeRequest{plainReq()}, false); len(got) != 1 || g.timer != nil {
		t.Fatalf("lone writer: batch of %d, timer %v; want 1 and no wait", len(got), g.timer)
	}

	// Three writers answered by the previous commit come back one by one.
	g = gatherer{last: 3, lastTook: time.Hour}
	go func() {
		s.requests <- plainReq()
		s.requests <- plainReq()
	}()
	if got := g.gather(s, []*writeRequest{plainReq()}, false); len(got) != 3 {
		t.Fatalf("gathered %d writes, want the previous batch's 3", len(got))
	}

	// Queued writes plus the previous batch's writers: the batch grows to both.
	g = gatherer{last: 2, lastTook: time.Hour}
	go func() {
		s.requests <- plainReq()
		s.requests <- plainReq()
	}()
	if got := g.gather(s, []*writeRequest{plainReq(), plainReq()}, true); len(got) != 4 {
		t.Fatalf("gathered %d writes, want 2 queued + 2 returning", len(got))
	}

	// A writer that does not come back: the batch goes after the bound.
	g = gatherer{last: 5, lastTook: time.Hour}
	if got := g.gather(s, []*writeRequest{plainReq()}, false); len(got) != 1 {
		t.Fatalf("batch of %d after the bound, want 1", len(got))
	}

	// After a bulk batch, and with a bulk request, nothing waits.
	g = gatherer{}
	g.done(8, true, time.Hour)
	if got := g.gather(s, []*writeRequest{plainReq()}, false); len(got) != 1 || g.timer != nil {
		t.Fatalf("after a bulk batch: batch of %d, timer %v; want 1 and no wait", len(got), g.timer)
	}
	g = gatherer{last: 4, lastTook: time.Hour}
	bulk := &writeRequest{fn: func(context.Context, *batchWriter) error { return nil }, result: make(chan writeResult, 1)}
	if got := g.gather(s, []*writeRequest{bulk}, false); len(got) != 1 || g.timer != nil {
		t.Fatalf("bulk request: batch of %d, timer %v; want 1 and no wait", len(got), g.timer)
	}
}

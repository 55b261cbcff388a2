package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRelaxedCommitsCheckpointInBackground: after relaxed batches (a
// secondary's applies) far below the writer's automatic checkpoint, the
// background checkpointer copies their pages into the database file
// without another write; Compact still works beside it, and a durable write
// after relaxed ones commits.
func TestRelaxedCommitsCheckpointInBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openSQLiteTest(t, path)
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	idx := uint64(1)
	for range 20 {
		var batch []WALEntry
		for range 50 {
			batch = append(batch, WALEntry{Index: idx, Epoch: 1, Key: fmt.Sprintf("k/%d", idx), Value: make([]byte, 200), CreatedAt: 1})
			idx++
		}
		if err := s.ApplyRemote(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10s after 1000 relaxed entries: nothing checkpointed", size())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatalf("compact beside the checkpointer: %v", err)
	}
	if _, err := s.Write(ctx, put("durable", "x")); err != nil {
		t.Fatalf("durable write after relaxed batches: %v", err)
	}
	if got := s.LastWAL(); got != idx {
		t.Fatalf("last WAL %d, want %d", got, idx)
	}
}

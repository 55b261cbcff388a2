package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// The writer connection checkpoints every walAutocheckpoint pages rather than
// SQLite's default 1000 (the connect hook sets it), and still syncs FULL.
func TestSQLiteWriterSettings(t *testing.T) {
	ctx := context.Background()
	e, err := openSQLite(ctx, filepath.Join(t.TempDir(), "c.db"), Options{Sync: SyncFull})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.close() })
	var pages, sync int
	if err := e.wconn.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := e.wconn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if pages != walAutocheckpoint || sync != 2 {
		t.Fatalf("wal_autocheckpoint=%d synchronous=%d, want %d and 2 (FULL)", pages, sync, walAutocheckpoint)
	}
}

// Compact and RewriteWAL use the writer connection outside the commit loop:
// they must wait for the batch in progress, never run inside it.
func TestSQLiteWriterSharedOutsideCommitLoop(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"), Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	errs := make(chan error, 8)
	for g := range 4 {
		go func() {
			for i := range 100 {
				if _, err := s.Write(ctx, Op{Key: fmt.Sprintf("k/%d/%d", g, i), Value: []byte("v")}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for range 10 {
			if err := s.Compact(ctx); err != nil {
				errs <- err
				return
			}
			if _, err := s.RewriteWAL(ctx, func(context.Context, string, []byte) ([]byte, bool, error) { return []byte("w"), true, nil }); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

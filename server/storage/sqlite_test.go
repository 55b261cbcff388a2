package storage

import (
	"context"
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

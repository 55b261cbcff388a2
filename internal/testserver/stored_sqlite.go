package testserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3" // the server's own SQLite driver
)

// sqliteLocalValue reads one key of the local table of a stopped server's
// database file, read-only.
func sqliteLocalValue(t testing.TB, path, key string) ([]byte, bool) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var value []byte
	err = db.QueryRow(`SELECT value FROM local WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("local value %s: %v", key, err)
	}
	return value, true
}

// copySQLite copies a stopped server's database file (and its -wal) into a
// new folder and returns the copy's path.
func copySQLite(t testing.TB, path string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), filepath.Base(path))
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(path+suffix, to+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("copy database: %v", err)
		}
	}
	return to
}

func copyFile(from, to string) error {
	in, err := os.Open(from) //nolint:gosec // a test server's database
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // in the test's folder
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return out.Close()
}

// lockSQLite takes SQLite's write lock on a database from this process, so
// the server's writes wait (busy) until the returned function runs.
func lockSQLite(t testing.TB, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	// Not a context with a deadline: database/sql rolls the transaction
	// back when its context ends.
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		_ = db.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	return func() {
		_ = tx.Rollback()
		_ = db.Close()
	}
}

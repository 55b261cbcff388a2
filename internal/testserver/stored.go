package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tests that look at what a server keeps at rest (no secret in plain
// text, a copy of the data opened by another server) read it here, from
// either engine, without going through the server.

// StoredBlob is one piece of what a server stores: a file, or one value
// of one row.
type StoredBlob struct {
	Where string // file path, or "table row n column c"
	Bytes []byte
}

// StoredBytes returns every byte s keeps at rest; stop s first. SQLite:
// the database file and its -wal and -shm files (freed pages included).
// PostgreSQL: every column of every row of every table in s's database,
// as the server sent them in binary form (BYTEA as it is, decompressed),
// then the database's relation files after a CHECKPOINT, which also hold
// row versions an UPDATE or DELETE left behind until VACUUM. The shared
// pg_wal of the test binary's server is not read: other tests' databases
// write to it too.
func (s *Server) StoredBytes(t testing.TB) []StoredBlob {
	t.Helper()
	if s.Postgres == nil {
		return sqliteFiles(t, s.DB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.Postgres.URL)
	if err != nil {
		t.Fatalf("stored bytes: connect: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }() // before cancel: defers run last first
	blobs, err := pgRows(ctx, conn)
	if err != nil {
		t.Fatalf("stored bytes: %v", err)
	}
	files, err := pgFiles(ctx, conn)
	if err != nil {
		t.Fatalf("stored bytes: relation files: %v", err)
	}
	return append(blobs, files...)
}

func sqliteFiles(t testing.TB, db string) []StoredBlob {
	t.Helper()
	var out []StoredBlob
	for _, suffix := range []string{"", "-wal", "-shm"} {
		raw, err := os.ReadFile(db + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, StoredBlob{Where: db + suffix, Bytes: raw})
	}
	return out
}

// pgRows reads every value of every table of the current database's schema.
func pgRows(ctx context.Context, conn *pgx.Conn) ([]StoredBlob, error) {
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []StoredBlob
	for _, table := range tables {
		rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize(), pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		for n := 0; rows.Next(); n++ {
			for c, v := range rows.RawValues() {
				out = append(out, StoredBlob{Where: fmt.Sprintf("%s row %d column %d", table, n, c), Bytes: append([]byte(nil), v...)})
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
	}
	return out, nil
}

// pgFiles reads the current database's files in the test binary's server
// (base/<oid>/), after a CHECKPOINT has written every dirty page.
func pgFiles(ctx context.Context, conn *pgx.Conn) ([]StoredBlob, error) {
	pgServer.mu.Lock()
	pg := pgServer.pg
	pgServer.mu.Unlock()
	if pg == nil {
		return nil, errors.New("no PostgreSQL server of this test binary")
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var oid uint32
	if err := conn.QueryRow(ctx, `SELECT oid FROM pg_database WHERE datname = current_database()`).Scan(&oid); err != nil {
		return nil, fmt.Errorf("oid of the current database: %w", err)
	}
	dir := filepath.Join(pg.dir, "data", "base", fmt.Sprint(oid))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []StoredBlob
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		raw, err := readBounded(path, 256<<20)
		if err != nil {
			return nil, err
		}
		out = append(out, StoredBlob{Where: path, Bytes: raw})
	}
	return out, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // a file of the test's own PostgreSQL server
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	raw, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return raw, nil
}

// LocalValue reads one key of s's local (unreplicated) keyspace straight
// from its storage, e.g. the DR state, which is stored unsealed; stop s
// first. ok is false when the key is absent.
func (s *Server) LocalValue(t testing.TB, key string) (value []byte, ok bool) {
	t.Helper()
	if s.Postgres == nil {
		return sqliteLocalValue(t, s.DB, key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.Postgres.URL)
	if err != nil {
		t.Fatalf("local value: connect: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }() // before cancel: defers run last first
	table := pgx.Identifier{s.Postgres.TablePrefix + "local"}.Sanitize()
	err = conn.QueryRow(ctx, "SELECT value FROM "+table+" WHERE key = $1", []byte(key)).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("local value %s: %v", key, err)
	}
	return value, true
}

// CopyStorage makes a copy of a stopped server's data and returns the
// Options that start another server on the copy: the SQLite files copied
// into a new folder, or a new PostgreSQL database made from s's as a
// template (same table prefix).
func (s *Server) CopyStorage(t testing.TB) Options {
	t.Helper()
	if s.Postgres == nil {
		return Options{DB: copySQLite(t, s.DB)}
	}
	cp := *s.Postgres
	cp.URL = copyPostgresDatabase(t, s.Postgres.URL)
	return Options{Postgres: &cp}
}

// LockWrites blocks every write transaction of a running server until
// unlock is called (unlock is also run when the test ends), while reads go
// on: SQLite's write lock on the file, or on PostgreSQL an EXCLUSIVE lock
// on the WAL table, which every replicated write appends to.
func (s *Server) LockWrites(t testing.TB) (unlock func()) {
	t.Helper()
	var u func()
	if s.Postgres == nil {
		u = lockSQLite(t, s.DB)
	} else {
		u = lockPostgresWAL(t, s.Postgres.URL, s.Postgres.TablePrefix+"wal")
	}
	done := false
	unlock = func() {
		if !done {
			done = true
			u()
		}
	}
	t.Cleanup(unlock)
	return unlock
}

func lockPostgresWAL(t testing.TB, url, table string) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("lock writes: connect: %v", err)
	}
	// pgx uses ctx for the BEGIN only: the transaction lives until unlock.
	tx, err := conn.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{table}.Sanitize()+" IN EXCLUSIVE MODE")
	}
	if err != nil {
		_ = conn.Close(ctx)
		t.Fatalf("lock writes: %v", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tx.Rollback(ctx)
		_ = conn.Close(ctx)
	}
}

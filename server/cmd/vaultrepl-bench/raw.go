package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// rawResult is one raw SQLite measurement.
type rawResult struct {
	Sync      string  `json:"sync"`
	RowsPerS  float64 `json:"rows_per_s"`
	Rows      int     `json:"rows"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

// syncModes are the storage modes every write section compares, in the
// spelling of the server's -sync flag.
func syncModes() []string { return []string{"full", "normal"} }

// rawSection measures the floor the server is compared against: sequential
// single-row transactions on a bare SQLite file, one fsync (FULL) per row.
// Group commit exists to beat this number with concurrent clients.
func rawSection() section {
	return section{
		id:   "raw",
		name: "raw SQLite single-row transactions",
		run: func(ctx context.Context, o options, r *report) (int, error) {
			for _, mode := range syncModes() {
				res, err := measureRaw(ctx, mode, o.duration)
				if err != nil {
					return 0, fmt.Errorf("sync %s: %w", mode, err)
				}
				r.RawSQLite = append(r.RawSQLite, res)
			}
			return 0, nil
		},
		table: func(w io.Writer, r *report) {
			_, _ = fmt.Fprintln(w, "sync\trows/s\trows\t")
			for _, res := range r.RawSQLite {
				_, _ = fmt.Fprintf(w, "%s\t%.0f\t%d\t\n", res.Sync, res.RowsPerS, res.Rows)
			}
		},
	}
}

// rawDSN is the writer DSN storage.Open uses (WAL, the sync mode, immediate
// transactions), so the raw rate is what the same file settings cost without
// the server. Keep it in step with server/storage/store.go.
func rawDSN(path string, mode storage.SyncMode) string {
	return fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=10000&_txlock=immediate&_foreign_keys=off", path, mode)
}

// measureRaw runs BEGIN IMMEDIATE; INSERT; COMMIT in a loop on a fresh file
// until d has passed or ctx ends.
func measureRaw(ctx context.Context, mode string, d time.Duration) (res rawResult, err error) {
	sm, err := storage.ParseSyncMode(mode)
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "vaultrepl-bench-raw-")
	if err != nil {
		return res, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rmErr)
		}
	}()
	db, err := sql.Open("sqlite3", rawDSN(filepath.Join(dir, "raw.db"), sm))
	if err != nil {
		return res, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cErr := db.Close(); cErr != nil && err == nil {
			err = fmt.Errorf("close: %w", cErr)
		}
	}()
	// One connection, like the store's writer: the PRAGMAs in the DSN apply
	// per connection, and a single writer is what is being measured.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench (k TEXT PRIMARY KEY, v BLOB)`); err != nil {
		return res, fmt.Errorf("create table: %w", err)
	}
	// Prepared once, so the loop measures the transaction, not SQL parsing.
	ins, err := db.PrepareContext(ctx, `INSERT INTO bench(k, v) VALUES(?, ?)`)
	if err != nil {
		return res, fmt.Errorf("prepare: %w", err)
	}
	defer func() { _ = ins.Close() }()

	value := kvBody() // what a KV v1 PUT of the load stores
	rows := 0
	start := time.Now()
	deadline := start.Add(d)
	// The loop checks the deadline between transactions instead of passing a
	// deadline context to them: cancelling mid-commit would measure a
	// rollback, not a commit. ctx (an interrupt) still aborts.
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := rawInsert(ctx, db, ins, "k"+strconv.Itoa(rows), value); err != nil {
			return res, err
		}
		rows++
	}
	elapsed := time.Since(start)
	return rawResult{
		Sync:      mode,
		RowsPerS:  float64(rows) / elapsed.Seconds(),
		Rows:      rows,
		ElapsedMS: ms(elapsed),
	}, nil
}

// rawInsert is one durable single-row transaction. BeginTx issues BEGIN
// IMMEDIATE because of _txlock=immediate in the DSN.
func rawInsert(ctx context.Context, db *sql.DB, ins *sql.Stmt, key string, value []byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, key, value); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

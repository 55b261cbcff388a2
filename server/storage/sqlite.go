package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/mattn/go-sqlite3"
)

// walAutocheckpoint is how many WAL pages a commit lets accumulate before
// it checkpoints them into the database file (SQLite's default is 1000).
// The hot pages of a write (merkle buckets, the kv_bucket index, the tails of
// kv and wal) are rewritten by nearly every commit, so a longer interval
// copies each of them once per checkpoint instead of eight times, and fewer
// commits wait for a checkpoint's fsync of the database file (DESIGN-NOTES,
// Performance, has the figures). It changes nothing about durability: with synchronous=FULL every
// commit fsyncs its frames in the -wal file before it returns, and a
// checkpoint only copies frames that are already durable. The price: the
// -wal file grows to about 8000 x 4 KiB = 32 MiB before it is reused, a
// crash recovery reads that much at the next open, and a read that misses
// the page cache looks the page up in a larger wal-index.
const walAutocheckpoint = 8000

// writerDriver is "sqlite3" with the writer connection's settings that the
// DSN cannot carry; a hook, so a connection database/sql reopens gets them too.
const writerDriver = "sqlite3_vaultrepl_writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", walAutocheckpoint), nil)
		return err
	}})
}

// sqliteEngine keeps a cluster in one SQLite file: one writer connection
// (SQLite has one writer anyway) and a pool of read-only connections.
type sqliteEngine struct {
	writer *sql.DB
	// wconn pins the writer's one connection. Batches run BEGIN/COMMIT on
	// it rather than through sql.Tx: a Tx watches its context with a
	// goroutine, and every query inside it (the read of a key's old value)
	// starts another one; on the connection, with a context that cannot be
	// cancelled, neither happens.
	wconn *sql.Conn
	// wmu gives wconn to one user at a time, from BEGIN to COMMIT or
	// ROLLBACK (what the pool of one connection did for sql.Tx): besides
	// the commit loop, Store.inTx (scrub), Compact and load use it.
	wmu     sync.Mutex
	readers *sql.DB
	sync    SyncMode
	stmts   [numStmts]*sql.Stmt // prepared once on wconn
	// relaxedNow says wconn runs synchronous=NORMAL for relaxed batches
	// (syncFor); guarded by wmu.
	relaxedNow bool
	// path and ckpt: the background checkpointer, started by the first
	// relaxed commit (checkpointer.go); guarded by wmu.
	path string
	ckpt *checkpointer
	// Point reads, prepared once: database/sql keeps them per reader
	// connection, so a read does not parse its SQL again.
	getKV, getLocal, walSinceStmt *sql.Stmt
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, bucket INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_bucket ON kv(bucket);
CREATE TABLE IF NOT EXISTS local (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wal (
	idx        INTEGER PRIMARY KEY,
	epoch      INTEGER NOT NULL,
	op         INTEGER NOT NULL,
	key        TEXT NOT NULL,
	value      BLOB,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS merkle (bucket INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`

// The statements every replicated write runs, prepared once.
const (
	stmtSelect = iota
	stmtUpsert
	stmtAppend
	stmtMerkle
	stmtMeta
	stmtSavepoint
	stmtRelease
	stmtRollbackTo
	numStmts
)

var stmtText = [numStmts]string{
	stmtSelect: `SELECT value FROM kv WHERE key = ?`,
	stmtUpsert: `INSERT INTO kv(key, value, bucket) VALUES(?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
	stmtAppend: `INSERT INTO wal(idx, epoch, op, key, value, created_at) VALUES(?, ?, ?, ?, ?, ?)`,
	stmtMerkle: `INSERT INTO merkle(bucket, hash) VALUES(?, ?) ON CONFLICT(bucket) DO UPDATE SET hash = excluded.hash`,
	stmtMeta:   `INSERT INTO meta(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`,
	// One name for every savepoint: each is released before the next.
	stmtSavepoint:  `SAVEPOINT w`,
	stmtRelease:    `RELEASE w`,
	stmtRollbackTo: `ROLLBACK TO w`,
}

// openSQLite opens or creates the database at path.
func openSQLite(ctx context.Context, path string, opts Options) (*sqliteEngine, error) {
	if err := prepareFile(path, opts.AllowInsecurePermissions); err != nil {
		return nil, err
	}
	// Batches BEGIN IMMEDIATE themselves (see begin).
	writerDSN := fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=10000&_foreign_keys=off", path, opts.Sync)
	writer, err := sql.Open(writerDriver, writerDSN)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if _, err := writer.ExecContext(ctx, sqliteSchema); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	if !opts.AllowInsecurePermissions {
		if err := tightenSidecars(path); err != nil {
			_ = writer.Close()
			return nil, err
		}
	}
	readers, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?mode=ro&_busy_timeout=10000&_query_only=1", path))
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open storage readers %s: %w", path, err)
	}
	readers.SetMaxOpenConns(8)
	readers.SetMaxIdleConns(8)
	e := &sqliteEngine{writer: writer, readers: readers, sync: opts.Sync, path: path}
	if e.wconn, err = writer.Conn(ctx); err != nil {
		_ = e.close()
		return nil, fmt.Errorf("open storage writer %s: %w", path, err)
	}
	if err := e.prepare(ctx); err != nil {
		_ = e.close()
		return nil, err
	}
	return e, nil
}

func (e *sqliteEngine) prepare(ctx context.Context) error {
	var err error
	for i, text := range stmtText {
		if e.stmts[i], err = e.wconn.PrepareContext(ctx, text); err != nil {
			return fmt.Errorf("prepare %q: %w", text, err)
		}
	}
	if e.getKV, err = e.readers.PrepareContext(ctx, `SELECT value FROM kv WHERE key = ?`); err == nil {
		e.getLocal, err = e.readers.PrepareContext(ctx, `SELECT value FROM local WHERE key = ?`)
	}
	if err == nil {
		e.walSinceStmt, err = e.readers.PrepareContext(ctx, `SELECT idx, epoch, op, key, value, created_at FROM wal WHERE idx > ? ORDER BY idx LIMIT ?`)
	}
	if err != nil {
		return fmt.Errorf("prepare reads: %w", err)
	}
	return nil
}

func (e *sqliteEngine) close() error {
	var errs []error
	for _, st := range append(e.stmts[:], e.getKV, e.getLocal, e.walSinceStmt) {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if e.ckpt != nil {
		errs = append(errs, e.ckpt.close())
	}
	if e.wconn != nil {
		errs = append(errs, e.wconn.Close())
	}
	errs = append(errs, e.readers.Close(), e.writer.Close())
	return errors.Join(errs...)
}

func (e *sqliteEngine) begin(ctx context.Context, relaxed bool) (engineTx, error) {
	e.wmu.Lock()
	t := &sqliteTx{e: e, relaxed: relaxed}
	if err := e.syncFor(ctx, relaxed); err != nil {
		e.wmu.Unlock()
		return nil, err
	}
	// IMMEDIATE takes the write lock at BEGIN, so a batch never fails
	// half-way on a lock upgrade.
	if _, err := e.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		e.wmu.Unlock()
		return nil, err
	}
	return t, nil
}

// syncFor sets the writer's sync mode for the next commit: NORMAL for a
// relaxed batch (one fsync fewer; the next FULL commit makes it durable),
// the configured mode otherwise. The mode stays until a batch needs the
// other one, so a secondary applying a stream of relaxed batches pays no
// PRAGMA per batch; a durable batch never starts under NORMAL (a failed
// switch back fails the batch). Callers hold wmu.
func (e *sqliteEngine) syncFor(ctx context.Context, relaxed bool) error {
	relaxed = relaxed && e.sync == SyncFull
	if relaxed == e.relaxedNow {
		return nil
	}
	mode := "FULL"
	if relaxed {
		mode = "NORMAL"
	}
	if _, err := e.wconn.ExecContext(ctx, "PRAGMA synchronous="+mode); err != nil {
		if relaxed {
			return nil // FULL is still safe, only slower
		}
		return fmt.Errorf("restore synchronous=FULL: %w", err)
	}
	e.relaxedNow = relaxed
	return nil
}

func (e *sqliteEngine) metaValue(ctx context.Context, name string) (uint64, bool, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	var v int64
	err := e.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", name, err)
	}
	return uint64(v), true, nil
}

func (e *sqliteEngine) eachBucket(ctx context.Context, fn func(int, []byte) error) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	rows, err := e.wconn.QueryContext(ctx, `SELECT bucket, hash FROM merkle`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var bucket int
		var hash []byte
		if err := rows.Scan(&bucket, &hash); err != nil {
			return err
		}
		if err := fn(bucket, hash); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (e *sqliteEngine) get(ctx context.Context, local bool, key string) ([]byte, error) {
	stmt := e.getKV
	if local {
		stmt = e.getLocal
	}
	var v []byte
	err := stmt.QueryRowContext(ctx, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	return v, nil
}

func (e *sqliteEngine) firstKey(ctx context.Context, local bool, from, end string) (string, bool, error) {
	table := "kv"
	if local {
		table = "local"
	}
	var key string
	var err error
	if end == "" {
		err = e.readers.QueryRowContext(ctx, `SELECT key FROM `+table+` WHERE key >= ? ORDER BY key LIMIT 1`, from).Scan(&key)
	} else {
		err = e.readers.QueryRowContext(ctx, `SELECT key FROM `+table+` WHERE key >= ? AND key < ? ORDER BY key LIMIT 1`, from, end).Scan(&key)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return key, err == nil, err
}

func (e *sqliteEngine) walSince(ctx context.Context, after uint64, limit int) ([]WALEntry, error) {
	rows, err := e.walSinceStmt.QueryContext(ctx, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []WALEntry
	for rows.Next() {
		var ent WALEntry
		var idx, epoch int64
		var op int
		if err := rows.Scan(&idx, &epoch, &op, &ent.Key, &ent.Value, &ent.CreatedAt); err != nil {
			return nil, err
		}
		ent.Index, ent.Epoch, ent.Delete = uint64(idx), uint64(epoch), op == walDelete
		out = append(out, ent)
	}
	return out, rows.Err()
}

// walSizes uses length(), which SQLite answers without loading a value.
func (e *sqliteEngine) walSizes(ctx context.Context, after uint64, limit int) ([]int64, error) {
	rows, err := e.readers.QueryContext(ctx, `SELECT length(key) + ifnull(length(value), 0) FROM wal WHERE idx > ? ORDER BY idx LIMIT ?`, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []int64
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return nil, err
		}
		out = append(out, size)
	}
	return out, rows.Err()
}

func (e *sqliteEngine) walEpochAt(ctx context.Context, index uint64) (uint64, bool, error) {
	var epoch int64
	err := e.readers.QueryRowContext(ctx, `SELECT epoch FROM wal WHERE idx = ?`, int64(index)).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return uint64(epoch), true, nil
}

func (e *sqliteEngine) newestWAL(ctx context.Context) (uint64, uint64, bool, error) {
	var idx, epoch int64
	err := e.readers.QueryRowContext(ctx, `SELECT idx, epoch FROM wal ORDER BY idx DESC LIMIT 1`).Scan(&idx, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("read newest WAL entry: %w", err)
	}
	return uint64(idx), uint64(epoch), true, nil
}

func (e *sqliteEngine) oldestWAL(ctx context.Context) (uint64, error) {
	var idx sql.NullInt64
	err := e.readers.QueryRowContext(ctx, `SELECT MIN(idx) FROM wal`).Scan(&idx)
	return uint64(idx.Int64), err
}

func (e *sqliteEngine) walIndexBefore(ctx context.Context, unixNano int64) (uint64, error) {
	var idx sql.NullInt64
	err := e.readers.QueryRowContext(ctx, `SELECT MAX(idx) FROM wal WHERE created_at < ?`, unixNano).Scan(&idx)
	return uint64(idx.Int64), err
}

func (e *sqliteEngine) bucketEntries(ctx context.Context, buckets []int) (map[int][]KV, error) {
	out := make(map[int][]KV, len(buckets))
	tx, err := e.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `SELECT key, value FROM kv WHERE bucket = ? ORDER BY key`)
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		rows, err := stmt.QueryContext(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("bucket %d: %w", b, err)
		}
		entries := []KV{}
		for rows.Next() {
			var kv KV
			if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("bucket %d: %w", b, err)
			}
			entries = append(entries, kv)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("bucket %d: %w", b, err)
		}
		out[b] = entries
	}
	return out, nil
}

// sqliteTx is one batch's transaction on the writer connection (wconn).
type sqliteTx struct {
	e       *sqliteEngine
	relaxed bool
	done    bool // committed or rolled back: wmu is released
}

// end releases the writer connection, once.
func (t *sqliteTx) end(context.Context) {
	if t.done {
		return
	}
	t.done = true
	t.e.wmu.Unlock()
}

// stmt is the writer's prepared statement i (prepared on wconn, where the
// transaction runs).
func (t *sqliteTx) stmt(i int) *sql.Stmt {
	return t.e.stmts[i]
}

func (t *sqliteTx) getKV(ctx context.Context, key string) ([]byte, bool, error) {
	var old []byte
	err := t.stmt(stmtSelect).QueryRowContext(ctx, key).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	return old, err == nil, err
}

func (t *sqliteTx) putKV(ctx context.Context, key string, value []byte, bucket int) error {
	_, err := t.stmt(stmtUpsert).ExecContext(ctx, key, nonNil(value), bucket)
	return err
}

func (t *sqliteTx) deleteKV(ctx context.Context, key string) error {
	_, err := t.e.wconn.ExecContext(ctx, `DELETE FROM kv WHERE key = ?`, key)
	return err
}

func (t *sqliteTx) putLocal(ctx context.Context, key string, value []byte) error {
	_, err := t.e.wconn.ExecContext(ctx, `INSERT INTO local(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, nonNil(value))
	return err
}

func (t *sqliteTx) deleteLocal(ctx context.Context, key string) error {
	_, err := t.e.wconn.ExecContext(ctx, `DELETE FROM local WHERE key = ?`, key)
	return err
}

func (t *sqliteTx) appendWAL(ctx context.Context, e WALEntry) error {
	code := walPut
	var value any = nonNil(e.Value)
	if e.Delete {
		code, value = walDelete, nil
	}
	_, err := t.stmt(stmtAppend).ExecContext(ctx, e.Index, e.Epoch, code, e.Key, value, e.CreatedAt)
	return err
}

func (t *sqliteTx) setBucket(ctx context.Context, bucket int, hash []byte) error {
	_, err := t.stmt(stmtMerkle).ExecContext(ctx, bucket, hash)
	return err
}

func (t *sqliteTx) setMeta(ctx context.Context, name string, value uint64) error {
	_, err := t.stmt(stmtMeta).ExecContext(ctx, name, int64(value))
	return err
}

func (t *sqliteTx) savepoint(ctx context.Context) error {
	_, err := t.stmt(stmtSavepoint).ExecContext(ctx)
	return err
}

func (t *sqliteTx) release(ctx context.Context) error {
	_, err := t.stmt(stmtRelease).ExecContext(ctx)
	return err
}

func (t *sqliteTx) rollbackTo(ctx context.Context) error {
	_, err := t.stmt(stmtRollbackTo).ExecContext(ctx)
	return err
}

func (t *sqliteTx) wipe(ctx context.Context) error {
	for _, stmt := range []string{`DELETE FROM kv`, `DELETE FROM wal`, `DELETE FROM merkle`} {
		if _, err := t.e.wconn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTx) clearBucket(ctx context.Context, bucket int) error {
	_, err := t.e.wconn.ExecContext(ctx, `DELETE FROM kv WHERE bucket = ?`, bucket)
	return err
}

func (t *sqliteTx) dropWAL(ctx context.Context) error {
	_, err := t.e.wconn.ExecContext(ctx, `DELETE FROM wal`)
	return err
}

func (t *sqliteTx) trimWAL(ctx context.Context, upTo uint64) (int64, error) {
	res, err := t.e.wconn.ExecContext(ctx, `DELETE FROM wal WHERE idx <= ?`, int64(upTo))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (t *sqliteTx) scanKV(ctx context.Context, fn func(string, []byte)) error {
	rows, err := t.e.wconn.QueryContext(ctx, `SELECT key, value FROM kv`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var key string
		var value []byte
		if err := rows.Scan(&key, &value); err != nil {
			return err
		}
		fn(key, value)
	}
	return rows.Err()
}

func (t *sqliteTx) commit(ctx context.Context) error {
	if t.done {
		return errors.New("commit: transaction already ended")
	}
	defer t.end(ctx)
	if _, err := t.e.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		// A COMMIT that failed may leave the transaction open (SQLite
		// rolls some failures back itself; then this ROLLBACK is a no-op).
		_, _ = t.e.wconn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if t.relaxed {
		t.e.relaxedCommit()
	}
	return nil
}

// relaxedCommit hands the checkpoint work to the background checkpointer,
// starting it on the first relaxed commit (only secondaries have them).
// Callers hold wmu.
func (e *sqliteEngine) relaxedCommit() {
	if e.ckpt == nil {
		c, err := startCheckpointer(e.path, e.sync)
		if err != nil {
			return // the writer's automatic checkpoint does the work
		}
		e.ckpt = c
	}
	e.ckpt.relaxedCommit()
}

func (t *sqliteTx) rollback(ctx context.Context) error {
	if t.done {
		return errors.New("rollback: transaction already ended")
	}
	defer t.end(ctx)
	_, err := t.e.wconn.ExecContext(ctx, "ROLLBACK")
	return err
}

func (e *sqliteEngine) keysAfter(ctx context.Context, local bool, after string, limit int) ([]string, error) {
	table := "kv"
	if local {
		table = "local"
	}
	rows, err := e.readers.QueryContext(ctx, `SELECT key FROM `+table+` WHERE key > ? ORDER BY key LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// compact: VACUUM drops free pages (which keep the bytes of overwritten
// rows) and a TRUNCATE checkpoint empties the -wal file (whose stale frames
// keep old page images).
func (e *sqliteEngine) compact(ctx context.Context) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if err := e.syncFor(ctx, false); err != nil {
		return err
	}
	if e.ckpt != nil {
		// Its checkpoint would make the TRUNCATE one below fail busy.
		e.ckpt.mu.Lock()
		defer e.ckpt.mu.Unlock()
	}
	if _, err := e.wconn.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	if _, err := e.wconn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (t *sqliteTx) setWALValue(ctx context.Context, index uint64, value []byte) error {
	_, err := t.e.wconn.ExecContext(ctx, `UPDATE wal SET value = ? WHERE idx = ?`, value, int64(index))
	return err
}

// flush has nothing to send: SQLite runs each statement when it is issued.
// (Queuing a batch's rows into multi-row statements, as PostgreSQL does,
// cost SQLite more CPU per write than one prepared statement per row:
// BenchmarkCommitBatch16, NORMAL, 4 interleaved rounds, 22.7-28.1 vs
// 28.9-33.5 cpu-us/write.)
func (t *sqliteTx) flush(context.Context) error { return nil }

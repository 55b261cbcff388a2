package storage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresConfig names a PostgreSQL database and the tables a cluster uses
// in it. Every node of an HA cluster points at the same database and prefix.
type PostgresConfig struct {
	// ConnURL is a libpq connection URL or keyword/value string.
	ConnURL string
	// TablePrefix is put in front of every table name ("" or, e.g.,
	// "vault_"): letters, digits and underscores.
	TablePrefix string
	// MaxConns bounds the pool; 0 means 10.
	MaxConns int32
	// HA makes every write transaction check the HA lock's fencing token
	// (see SetFence): until this node becomes active, writes fail with
	// ErrFenced.
	HA bool
	// IdleTxTimeout ends a session that sits inside a transaction this
	// long (a node paused mid-commit, holding the lock row FOR SHARE);
	// keep it below the lock TTL. 0 means 5s.
	IdleTxTimeout time.Duration
}

// ErrFenced is returned by a write whose transaction found that this node
// no longer holds the HA lock: another node became active, so nothing this
// node writes may commit.
var ErrFenced = errors.New("storage: this node no longer holds the HA lock")

var tablePrefixRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,39}$`)

// pgSchemaVersion is the version this build creates; migrations from older
// versions go in pgMigrations.
const pgSchemaVersion = 1

// pgMigrations[v-1] takes the schema from version v-1 to v. {p} is the
// table prefix. Keys are BYTEA: they compare byte by byte whatever the
// database's collation, which List's range scans rely on.
var pgMigrations = []string{
	`CREATE TABLE {p}kv (key BYTEA PRIMARY KEY, value BYTEA NOT NULL, bucket INTEGER NOT NULL);
CREATE INDEX {p}kv_bucket ON {p}kv(bucket);
CREATE TABLE {p}local (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE {p}wal (
	idx        BIGINT PRIMARY KEY,
	epoch      BIGINT NOT NULL,
	op         SMALLINT NOT NULL,
	key        BYTEA NOT NULL,
	value      BYTEA,
	created_at BIGINT NOT NULL
);
CREATE TABLE {p}merkle (bucket INTEGER PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE {p}meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE {p}ha_lock (
	name         TEXT PRIMARY KEY,
	holder       TEXT NOT NULL,
	token        BIGINT NOT NULL,
	expires_at   TIMESTAMPTZ NOT NULL,
	acquired_at  TIMESTAMPTZ NOT NULL,
	api_addr     TEXT NOT NULL,
	cluster_addr TEXT NOT NULL
);
CREATE TABLE {p}ha_nodes (
	id           TEXT PRIMARY KEY,
	hostname     TEXT NOT NULL,
	api_addr     TEXT NOT NULL,
	cluster_addr TEXT NOT NULL,
	last_seen    TIMESTAMPTZ NOT NULL
);`,
}

// pgEngine keeps a cluster in PostgreSQL through pgx's native protocol:
// every statement is prepared once per connection (pgx's statement cache),
// so a write costs one round trip per statement and no parse.
type pgEngine struct {
	pool *pgxpool.Pool
	p    string // table prefix
	sync SyncMode
	ha   bool
	// fence is the HA lock token every write transaction must still find
	// in the lock row before it commits; 0 while this node is not active.
	fence atomic.Int64
	sql   pgSQL
}

// pgSQL is every statement with the prefix filled in, built once.
type pgSQL struct {
	getKV, getKVs, getLocal, upsertKV, deleteKV, putLocal, deleteLocal string
	appendWAL, setBucket, setMeta, metaValue, buckets                  string
	firstKey, firstKeyEnd, firstLocal, firstLocalEnd                   string
	walSince, walSizes, walEpochAt, oldestWAL, walIndexBefore          string
	newestWAL                                                          string
	bucketEntries, clearBucket, dropWAL, trimWAL, scanKV, fence        string
	wipe                                                               []string
}

func newPgSQL(p string) pgSQL {
	r := strings.NewReplacer("{p}", p)
	q := func(s string) string { return r.Replace(s) }
	return pgSQL{
		getKV:          q(`SELECT value FROM {p}kv WHERE key = $1`),
		getKVs:         q(`SELECT key, value FROM {p}kv WHERE key = ANY($1)`),
		getLocal:       q(`SELECT value FROM {p}local WHERE key = $1`),
		upsertKV:       q(`INSERT INTO {p}kv(key, value, bucket) SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::int[]) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
		deleteKV:       q(`DELETE FROM {p}kv WHERE key = $1`),
		putLocal:       q(`INSERT INTO {p}local(key, value) VALUES($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
		deleteLocal:    q(`DELETE FROM {p}local WHERE key = $1`),
		appendWAL:      q(`INSERT INTO {p}wal(idx, epoch, op, key, value, created_at) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::bytea[], $5::bytea[], $6::bigint[])`),
		setBucket:      q(`INSERT INTO {p}merkle(bucket, hash) VALUES($1, $2) ON CONFLICT(bucket) DO UPDATE SET hash = excluded.hash`),
		setMeta:        q(`INSERT INTO {p}meta(name, value) VALUES($1, $2) ON CONFLICT(name) DO UPDATE SET value = excluded.value`),
		metaValue:      q(`SELECT value FROM {p}meta WHERE name = $1`),
		buckets:        q(`SELECT bucket, hash FROM {p}merkle`),
		firstKey:       q(`SELECT key FROM {p}kv WHERE key >= $1 ORDER BY key LIMIT 1`),
		firstKeyEnd:    q(`SELECT key FROM {p}kv WHERE key >= $1 AND key < $2 ORDER BY key LIMIT 1`),
		firstLocal:     q(`SELECT key FROM {p}local WHERE key >= $1 ORDER BY key LIMIT 1`),
		firstLocalEnd:  q(`SELECT key FROM {p}local WHERE key >= $1 AND key < $2 ORDER BY key LIMIT 1`),
		walSince:       q(`SELECT idx, epoch, op, key, value, created_at FROM {p}wal WHERE idx > $1 ORDER BY idx LIMIT $2`),
		walSizes:       q(`SELECT octet_length(key) + coalesce(octet_length(value), 0) FROM {p}wal WHERE idx > $1 ORDER BY idx LIMIT $2`),
		walEpochAt:     q(`SELECT epoch FROM {p}wal WHERE idx = $1`),
		oldestWAL:      q(`SELECT coalesce(min(idx), 0) FROM {p}wal`),
		newestWAL:      q(`SELECT idx, epoch FROM {p}wal ORDER BY idx DESC LIMIT 1`),
		walIndexBefore: q(`SELECT coalesce(max(idx), 0) FROM {p}wal WHERE created_at < $1`),
		bucketEntries:  q(`SELECT bucket, key, value FROM {p}kv WHERE bucket = ANY($1) ORDER BY bucket, key`),
		clearBucket:    q(`DELETE FROM {p}kv WHERE bucket = $1`),
		dropWAL:        q(`DELETE FROM {p}wal`),
		trimWAL:        q(`DELETE FROM {p}wal WHERE idx <= $1`),
		scanKV:         q(`SELECT key, value FROM {p}kv`),
		// FOR SHARE keeps the row locked until this transaction ends, so
		// a takeover (which updates the row) waits for this commit rather
		// than overtaking it.
		fence: q(`SELECT 1 FROM {p}ha_lock WHERE name = 'active' AND token = $1 FOR SHARE`),
		wipe:  []string{q(`DELETE FROM {p}kv`), q(`DELETE FROM {p}wal`), q(`DELETE FROM {p}merkle`)},
	}
}

// OpenPostgres opens the cluster stored in a PostgreSQL database, creating
// or migrating its tables first.
func OpenPostgres(ctx context.Context, cfg PostgresConfig, opts Options) (*Store, error) {
	db, err := openPgEngine(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	return start(ctx, db, opts.withDefaults())
}

func openPgEngine(ctx context.Context, cfg PostgresConfig, opts Options) (*pgEngine, error) {
	if cfg.TablePrefix != "" && !tablePrefixRE.MatchString(cfg.TablePrefix) {
		return nil, fmt.Errorf("postgresql table_prefix %q: use letters, digits and underscores (at most 40), not starting with a digit", cfg.TablePrefix)
	}
	pc, err := pgxpool.ParseConfig(cfg.ConnURL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("postgresql connection_url cannot be parsed")
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns <= 0 {
		pc.MaxConns = 10
	}
	// A node paused inside a write transaction (SIGSTOP) must not hold
	// the HA lock row forever: the server ends such a session.
	idle := cfg.IdleTxTimeout
	if idle <= 0 {
		idle = 5 * time.Second
	}
	pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(idle.Milliseconds(), 10)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to postgresql: %w", err)
	}
	e := &pgEngine{pool: pool, p: strings.ToLower(cfg.TablePrefix), sync: opts.Sync, ha: cfg.HA, sql: newPgSQL(strings.ToLower(cfg.TablePrefix))}
	if err := e.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return e, nil
}

// migrate brings the schema to pgSchemaVersion under an advisory lock, so
// nodes starting together do not race to create the tables.
func (e *pgEngine) migrate(ctx context.Context) error {
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgresql schema: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "vaultrepl-schema-"+e.p); err != nil {
		return fmt.Errorf("postgresql schema lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+e.p+`schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("postgresql schema_version table: %w", err)
	}
	var version int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+e.p+`schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("postgresql schema version: %w", err)
	}
	if version > pgSchemaVersion {
		return fmt.Errorf("postgresql schema version %d is newer than this server knows (%d): upgrade the server", version, pgSchemaVersion)
	}
	for v := version; v < pgSchemaVersion; v++ {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(pgMigrations[v], "{p}", e.p)); err != nil {
			return fmt.Errorf("postgresql schema migration to version %d: %w", v+1, err)
		}
	}
	if version < pgSchemaVersion {
		if _, err := tx.Exec(ctx, `DELETE FROM `+e.p+`schema_version`); err != nil {
			return fmt.Errorf("postgresql schema version: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+e.p+`schema_version(version) VALUES($1)`, pgSchemaVersion); err != nil {
			return fmt.Errorf("postgresql schema version: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgresql schema: %w", err)
	}
	return nil
}

func (e *pgEngine) close() error {
	e.pool.Close()
	return nil
}

func (e *pgEngine) begin(ctx context.Context, relaxed bool) (engineTx, error) {
	fence := e.fence.Load()
	if e.ha && fence == 0 {
		return nil, ErrFenced
	}
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// BEGIN waits in the queue: it travels with the batch's first read
	// (the previous values), and COMMIT with its last writes.
	t := &pgTx{e: e, conn: conn, fence: fence}
	t.pending.Queue(`BEGIN`)
	if relaxed || e.sync == SyncNormal {
		// The commit does not wait for the WAL flush: a crash of the
		// database may lose it, never half of it.
		t.pending.Queue(`SET LOCAL synchronous_commit = off`)
	}
	return t, nil
}

func (e *pgEngine) metaValue(ctx context.Context, name string) (uint64, bool, error) {
	var v int64
	err := e.pool.QueryRow(ctx, e.sql.metaValue, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", name, err)
	}
	return uint64(v), true, nil
}

func (e *pgEngine) eachBucket(ctx context.Context, fn func(int, []byte) error) error {
	rows, err := e.pool.Query(ctx, e.sql.buckets)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var bucket int32
		var hash []byte
		if err := rows.Scan(&bucket, &hash); err != nil {
			return err
		}
		if err := fn(int(bucket), hash); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (e *pgEngine) get(ctx context.Context, local bool, key string) ([]byte, error) {
	q := e.sql.getKV
	if local {
		q = e.sql.getLocal
	}
	var v []byte
	err := e.pool.QueryRow(ctx, q, []byte(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	return nonNil(v), nil
}

func (e *pgEngine) firstKey(ctx context.Context, local bool, from, end string) (string, bool, error) {
	var key []byte
	var err error
	switch {
	case local && end == "":
		err = e.pool.QueryRow(ctx, e.sql.firstLocal, []byte(from)).Scan(&key)
	case local:
		err = e.pool.QueryRow(ctx, e.sql.firstLocalEnd, []byte(from), []byte(end)).Scan(&key)
	case end == "":
		err = e.pool.QueryRow(ctx, e.sql.firstKey, []byte(from)).Scan(&key)
	default:
		err = e.pool.QueryRow(ctx, e.sql.firstKeyEnd, []byte(from), []byte(end)).Scan(&key)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return string(key), err == nil, err
}

func (e *pgEngine) walSince(ctx context.Context, after uint64, limit int) ([]WALEntry, error) {
	rows, err := e.pool.Query(ctx, e.sql.walSince, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WALEntry
	for rows.Next() {
		var ent WALEntry
		var idx, epoch int64
		var op int16
		var key []byte
		if err := rows.Scan(&idx, &epoch, &op, &key, &ent.Value, &ent.CreatedAt); err != nil {
			return nil, err
		}
		ent.Index, ent.Epoch, ent.Delete, ent.Key = uint64(idx), uint64(epoch), op == walDelete, string(key)
		if !ent.Delete {
			ent.Value = nonNil(ent.Value)
		}
		out = append(out, ent)
	}
	return out, rows.Err()
}

// walSizes uses octet_length, which PostgreSQL answers from a value's
// header without detoasting it.
func (e *pgEngine) walSizes(ctx context.Context, after uint64, limit int) ([]int64, error) {
	rows, err := e.pool.Query(ctx, e.sql.walSizes, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
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

func (e *pgEngine) walEpochAt(ctx context.Context, index uint64) (uint64, bool, error) {
	var epoch int64
	err := e.pool.QueryRow(ctx, e.sql.walEpochAt, int64(index)).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return uint64(epoch), true, nil
}

func (e *pgEngine) newestWAL(ctx context.Context) (uint64, uint64, bool, error) {
	var idx, epoch int64
	err := e.pool.QueryRow(ctx, e.sql.newestWAL).Scan(&idx, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("read newest WAL entry: %w", err)
	}
	return uint64(idx), uint64(epoch), true, nil //nolint:gosec // indexes are never negative
}

func (e *pgEngine) oldestWAL(ctx context.Context) (uint64, error) {
	var idx int64
	err := e.pool.QueryRow(ctx, e.sql.oldestWAL).Scan(&idx)
	return uint64(idx), err
}

func (e *pgEngine) walIndexBefore(ctx context.Context, unixNano int64) (uint64, error) {
	var idx int64
	err := e.pool.QueryRow(ctx, e.sql.walIndexBefore, unixNano).Scan(&idx)
	return uint64(idx), err
}

func (e *pgEngine) bucketEntries(ctx context.Context, buckets []int) (map[int][]KV, error) {
	out := make(map[int][]KV, len(buckets))
	ids := make([]int32, len(buckets))
	for i, b := range buckets {
		ids[i] = int32(b) //nolint:gosec // buckets are checked to be below NumBuckets
		out[b] = []KV{}
	}
	rows, err := e.pool.Query(ctx, e.sql.bucketEntries, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var b int32
		var key, value []byte
		if err := rows.Scan(&b, &key, &value); err != nil {
			return nil, err
		}
		out[int(b)] = append(out[int(b)], KV{Key: string(key), Value: nonNil(value)})
	}
	return out, rows.Err()
}

// pgTx is one batch's transaction on a pooled connection. Writes are
// queued and sent together with the next read (or the commit) in one
// pipelined round trip: a write's upsert and WAL row travel with the next
// write's read of its previous value, so a batch costs about one round trip
// per write instead of three, plus one for the commit.
type pgTx struct {
	e       *pgEngine
	conn    *pgxpool.Conn // released when the transaction ends
	sent    bool          // BEGIN went out: ending needs a ROLLBACK or COMMIT
	ended   bool
	fence   int64
	pending pgx.Batch
	rows    pendingRows // upserts and WAL rows not yet in pending (rows.go)
}

// exec queues a statement whose only result is success or failure.
func (t *pgTx) exec(_ context.Context, q string, args ...any) error {
	t.queueRows()
	t.pending.Queue(q, args...)
	return nil
}

// queueRows turns the pending upserts and WAL rows into one statement per
// table at the end of the queue.
func (t *pgTx) queueRows() {
	if t.rows.empty() {
		return
	}
	if kv := t.rows.lastPerKey(); len(kv) > 0 {
		keys, values, buckets := make([][]byte, len(kv)), make([][]byte, len(kv)), make([]int32, len(kv))
		for i, r := range kv {
			keys[i], values[i], buckets[i] = []byte(r.key), nonNil(r.value), int32(r.bucket) //nolint:gosec // bucket < NumBuckets
		}
		t.pending.Queue(t.e.sql.upsertKV, keys, values, buckets)
	}
	if n := len(t.rows.wal); n > 0 {
		idx, epochs, ops, keys, values, created := make([]int64, n), make([]int64, n), make([]int16, n), make([][]byte, n), make([][]byte, n), make([]int64, n)
		for i, e := range t.rows.wal {
			idx[i], epochs[i], ops[i], keys[i], created[i] = int64(e.Index), int64(e.Epoch), walPut, []byte(e.Key), e.CreatedAt //nolint:gosec // indexes stay far below 2^63
			if e.Delete {
				ops[i] = walDelete
			} else {
				values[i] = nonNil(e.Value)
			}
		}
		t.pending.Queue(t.e.sql.appendWAL, idx, epochs, ops, keys, values, created)
	}
	t.rows.reset()
}

// send sends the queued statements followed by q (when not "") in one
// round trip; read, when q is set, consumes q's results. The first failing
// statement's error is returned instead.
func (t *pgTx) send(ctx context.Context, q string, args []any, read func(pgx.BatchResults) error) error {
	if t.ended {
		return errors.New("postgresql transaction already ended")
	}
	t.queueRows()
	queued := t.pending.Len()
	if q != "" {
		t.pending.Queue(q, args...)
	}
	if t.pending.Len() == 0 {
		return nil
	}
	// The batch's queue is read while the results come in: hand it over
	// whole and start a new one.
	b := t.pending
	t.pending = pgx.Batch{}
	t.sent = true
	br := t.conn.SendBatch(ctx, &b)
	var err error
	for range queued {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if err == nil && q != "" {
		err = read(br)
	}
	return errors.Join(err, br.Close())
}

// sendWith is send for a q that returns one row, scanned into scan.
func (t *pgTx) sendWith(ctx context.Context, q string, args []any, scan ...any) error {
	return t.send(ctx, q, args, func(br pgx.BatchResults) error { return br.QueryRow().Scan(scan...) })
}

// end rolls back what was sent unless committed, and gives the connection
// back to the pool (which drops one left inside a transaction).
func (t *pgTx) end(ctx context.Context, rollback bool) error {
	if t.ended {
		return errors.New("postgresql transaction already ended")
	}
	t.ended = true
	t.pending = pgx.Batch{}
	t.rows.reset()
	var err error
	if rollback && t.sent {
		_, err = t.conn.Exec(ctx, `ROLLBACK`)
	}
	t.conn.Release()
	return err
}

// committed checks COMMIT's tag: on a transaction that an earlier error
// aborted, PostgreSQL answers COMMIT with ROLLBACK, not with an error.
func committed(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("postgresql rolled the transaction back (%s)", tag.String())
	}
	return err
}

// flush sends the queued statements.
func (t *pgTx) flush(ctx context.Context) error { return t.sendWith(ctx, "", nil) }

// execNow flushes and runs q at once (savepoints: their errors must belong
// to the request that issued them).
func (t *pgTx) execNow(ctx context.Context, q string) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	_, err := t.conn.Exec(ctx, q)
	return err
}

func (t *pgTx) getKV(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := t.sendWith(ctx, t.e.sql.getKV, []any{[]byte(key)}, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return nonNil(v), err == nil, err
}

// getKVs reads a batch's previous values in one round trip, which also
// carries whatever is queued (at the start of a batch, its BEGIN).
func (t *pgTx) getKVs(ctx context.Context, keys []string) (map[string][]byte, error) {
	args := make([][]byte, len(keys))
	for i, k := range keys {
		args[i] = []byte(k)
	}
	out := make(map[string][]byte, len(keys))
	err := t.send(ctx, t.e.sql.getKVs, []any{args}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, value []byte
			if err := rows.Scan(&key, &value); err != nil {
				return err
			}
			out[string(key)] = nonNil(value)
		}
		return rows.Err()
	})
	return out, err
}

func (t *pgTx) putKV(_ context.Context, key string, value []byte, bucket int) error {
	t.rows.kv = append(t.rows.kv, kvRow{key: key, value: value, bucket: bucket})
	return nil
}

func (t *pgTx) deleteKV(ctx context.Context, key string) error {
	return t.exec(ctx, t.e.sql.deleteKV, []byte(key))
}

func (t *pgTx) putLocal(ctx context.Context, key string, value []byte) error {
	return t.exec(ctx, t.e.sql.putLocal, []byte(key), nonNil(value))
}

func (t *pgTx) deleteLocal(ctx context.Context, key string) error {
	return t.exec(ctx, t.e.sql.deleteLocal, []byte(key))
}

func (t *pgTx) appendWAL(_ context.Context, e WALEntry) error {
	t.rows.wal = append(t.rows.wal, e)
	return nil
}

func (t *pgTx) setBucket(ctx context.Context, bucket int, hash []byte) error {
	return t.exec(ctx, t.e.sql.setBucket, int32(bucket), hash) //nolint:gosec // bucket < NumBuckets
}

func (t *pgTx) setMeta(ctx context.Context, name string, value uint64) error {
	return t.exec(ctx, t.e.sql.setMeta, name, int64(value)) //nolint:gosec // positions stay far below 2^63
}

func (t *pgTx) savepoint(ctx context.Context) error { return t.execNow(ctx, `SAVEPOINT w`) }
func (t *pgTx) release(ctx context.Context) error   { return t.execNow(ctx, `RELEASE SAVEPOINT w`) }

// rollbackTo drops what is queued: it is undone anyway.
func (t *pgTx) rollbackTo(ctx context.Context) error {
	t.pending = pgx.Batch{}
	t.rows.reset()
	_, err := t.conn.Exec(ctx, `ROLLBACK TO SAVEPOINT w`)
	return err
}

func (t *pgTx) wipe(ctx context.Context) error {
	for _, q := range t.e.sql.wipe {
		if err := t.exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) clearBucket(ctx context.Context, bucket int) error {
	return t.exec(ctx, t.e.sql.clearBucket, int32(bucket)) //nolint:gosec // bucket < NumBuckets
}

func (t *pgTx) dropWAL(ctx context.Context) error { return t.exec(ctx, t.e.sql.dropWAL) }

func (t *pgTx) trimWAL(ctx context.Context, upTo uint64) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	tag, err := t.conn.Exec(ctx, t.e.sql.trimWAL, int64(upTo)) //nolint:gosec // indexes stay far below 2^63
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t *pgTx) scanKV(ctx context.Context, fn func(string, []byte)) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	rows, err := t.conn.Query(ctx, t.e.sql.scanKV)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key, value []byte
		if err := rows.Scan(&key, &value); err != nil {
			return err
		}
		fn(string(key), nonNil(value))
	}
	return rows.Err()
}

// commit checks the fencing token (when this node runs under an HA lock)
// in the same transaction, then commits: a node that lost the lock fails
// here and nothing of the batch is written.
//
// Without HA, COMMIT travels with the last queued writes: one round trip.
// With HA it waits for the fence's answer.
func (t *pgTx) commit(ctx context.Context) error {
	if !t.e.ha {
		err := t.send(ctx, `COMMIT`, nil, func(br pgx.BatchResults) error { return committed(br.Exec()) })
		return errors.Join(err, t.end(ctx, err != nil))
	}
	var one int
	err := t.sendWith(ctx, t.e.sql.fence, []any{t.fence}, &one)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = t.end(ctx, true)
		return ErrFenced
	}
	if err != nil {
		_ = t.end(ctx, true)
		return fmt.Errorf("check HA lock: %w", err)
	}
	err = committed(t.conn.Exec(ctx, `COMMIT`))
	return errors.Join(err, t.end(ctx, err != nil))
}

func (t *pgTx) rollback(ctx context.Context) error {
	return t.end(ctx, true)
}

func (e *pgEngine) keysAfter(ctx context.Context, local bool, after string, limit int) ([]string, error) {
	table := e.p + "kv"
	if local {
		table = e.p + "local"
	}
	rows, err := e.pool.Query(ctx, `SELECT key FROM `+table+` WHERE key > $1 ORDER BY key LIMIT $2`, []byte(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, string(k))
	}
	return out, rows.Err()
}

// compact: VACUUM FULL rewrites the tables, so dead tuples holding the
// bytes of overwritten rows are gone from the data files (PostgreSQL's own
// WAL archive, if any, is the operator's to rotate).
func (e *pgEngine) compact(ctx context.Context) error {
	for _, t := range []string{"kv", "local", "wal"} {
		if _, err := e.pool.Exec(ctx, `VACUUM FULL `+e.p+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

func (t *pgTx) setWALValue(ctx context.Context, index uint64, value []byte) error {
	return t.exec(ctx, `UPDATE `+t.e.p+`wal SET value = $1 WHERE idx = $2`, value, int64(index))
}

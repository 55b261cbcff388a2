// Package storage keeps one cluster's data in a single SQLite file: the
// replicated keyspace (with its write-ahead log and merkle index, all changed
// in the same transaction) and the local keyspace that never leaves the
// cluster. It knows nothing of HTTP, seals or replication roles.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// ErrNotFound is returned by Get and LocalGet for a key that does not exist.
var ErrNotFound = errors.New("key not found")

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("storage is closed")

// SyncMode selects SQLite's synchronous setting.
type SyncMode int

const (
	// SyncFull makes every acknowledged commit survive power loss.
	SyncFull SyncMode = iota
	// SyncNormal may lose the last commits on power loss (never on a process
	// crash) in exchange for fewer fsyncs.
	SyncNormal
)

// ParseSyncMode reads "full" or "normal".
func ParseSyncMode(s string) (SyncMode, error) {
	switch strings.ToLower(s) {
	case "", "full":
		return SyncFull, nil
	case "normal":
		return SyncNormal, nil
	}
	return 0, fmt.Errorf("unknown synchronous mode %q: use full or normal", s)
}

func (m SyncMode) String() string {
	if m == SyncNormal {
		return "NORMAL"
	}
	return "FULL"
}

// Options configure a Store.
type Options struct {
	Sync SyncMode
	// MaxBatch bounds how many concurrent writes share one commit; 0 means 256.
	MaxBatch int
	Logger   *slog.Logger
	// Now stamps WAL entries; nil means time.Now.
	Now func() time.Time
	// AllowInsecurePermissions opens a database (or -wal/-shm) that group
	// or others may read or write; by default Open refuses it. A new
	// database is created 0600 either way.
	AllowInsecurePermissions bool
}

// Op is one change. Local ops touch the local keyspace (never replicated);
// the others touch the replicated keyspace and each gets a WAL entry.
type Op struct {
	Local  bool
	Delete bool
	Key    string
	Value  []byte
}

// Position is where the replicated keyspace stands.
type Position struct {
	Epoch      uint64 // stamped on new local writes
	LastWAL    uint64 // newest WAL index
	LastEpoch  uint64 // epoch of the newest WAL entry: (LastEpoch, LastWAL) names a point in history
	MerkleRoot string
}

// Store is one cluster's SQLite database. All writes go through one
// connection owned by the commit loop, which groups concurrent writes into
// shared transactions so that durability costs one fsync per batch rather
// than one per request.
type Store struct {
	writer  *sql.DB
	readers *sql.DB
	log     *slog.Logger
	now     func() time.Time

	maxBatch int
	sync     SyncMode
	stmts    [numStmts]*sql.Stmt // prepared once on the writer connection
	// Point reads, prepared once: database/sql keeps them per reader
	// connection, so a read does not parse its SQL again.
	getKV, getLocal, walSince *sql.Stmt
	requests                  chan *writeRequest
	stop                      chan struct{}
	done                      chan struct{}

	closeOnce sync.Once
	closeMu   sync.RWMutex // held for reading while submitting, for writing by Close
	closed    bool

	watchList // caches' change counters (watch.go)

	mu        sync.Mutex // guards the fields below, changed only after a commit
	epoch     uint64     // stamped on new local writes
	last      uint64     // newest WAL index
	lastEpoch uint64     // epoch of the newest WAL entry
	merkle    *merkleIndex
	notify    chan struct{} // closed when the position moves
	recent    recentWAL     // newest committed entries (walring.go)
}

type writeRequest struct {
	ops []Op
	// fn, when set, runs instead of ops (replication's bulk changes).
	fn func(ctx context.Context, w *batchWriter) error
	// relaxed requests may commit with synchronous=NORMAL: what they write
	// can be fetched again from elsewhere if a power loss takes it.
	relaxed bool
	result  chan writeResult
}

type writeResult struct {
	index uint64
	err   error
}

const schema = `
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

// WAL op codes as stored in the wal table.
const (
	walPut    = 1
	walDelete = 2
)

// Open opens or creates the database at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open storage: empty database path")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := prepareFile(path, opts.AllowInsecurePermissions); err != nil {
		return nil, err
	}
	// _txlock=immediate takes the write lock at BEGIN, so a batch never fails
	// half-way on a lock upgrade.
	writerDSN := fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=10000&_txlock=immediate&_foreign_keys=off", path, opts.Sync)
	writer, err := sql.Open("sqlite3", writerDSN)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if _, err := writer.ExecContext(ctx, schema); err != nil {
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

	s := &Store{
		writer:   writer,
		readers:  readers,
		log:      opts.Logger,
		now:      opts.Now,
		maxBatch: opts.MaxBatch,
		sync:     opts.Sync,
		requests: make(chan *writeRequest, opts.MaxBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i, text := range stmtText {
		if s.stmts[i], err = writer.PrepareContext(ctx, text); err != nil {
			_ = writer.Close()
			_ = readers.Close()
			return nil, fmt.Errorf("prepare %q: %w", text, err)
		}
	}
	if s.getKV, err = readers.PrepareContext(ctx, `SELECT value FROM kv WHERE key = ?`); err == nil {
		s.getLocal, err = readers.PrepareContext(ctx, `SELECT value FROM local WHERE key = ?`)
	}
	if err == nil {
		s.walSince, err = readers.PrepareContext(ctx, `SELECT idx, epoch, op, key, value, created_at FROM wal WHERE idx > ? ORDER BY idx LIMIT ?`)
	}
	if err != nil {
		_ = writer.Close()
		_ = readers.Close()
		return nil, fmt.Errorf("prepare reads: %w", err)
	}
	if err := s.load(ctx); err != nil {
		_ = writer.Close()
		_ = readers.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// load reads the durable position and merkle buckets into memory.
func (s *Store) load(ctx context.Context) error {
	var err error
	if s.epoch, err = s.metaValue(ctx, "epoch"); err != nil {
		return err
	}
	if s.last, err = s.metaValue(ctx, "last_wal"); err != nil {
		return err
	}
	if s.lastEpoch, err = s.metaValue(ctx, "last_epoch"); err != nil {
		return err
	}
	s.notify = make(chan struct{})
	s.merkle = newMerkleIndex()
	rows, err := s.writer.QueryContext(ctx, `SELECT bucket, hash FROM merkle`)
	if err != nil {
		return fmt.Errorf("load merkle index: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var bucket int
		var hash []byte
		if err := rows.Scan(&bucket, &hash); err != nil {
			return fmt.Errorf("load merkle index: %w", err)
		}
		if err := s.merkle.setBucket(bucket, hash); err != nil {
			return fmt.Errorf("load merkle index: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load merkle index: %w", err)
	}
	return nil
}

func (s *Store) metaValue(ctx context.Context, name string) (uint64, error) {
	var v int64
	err := s.writer.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return uint64(v), nil
}

// Close finishes the writes already submitted, refuses new ones and closes
// the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		close(s.stop)
		<-s.done
		errs := []error{s.getKV.Close(), s.getLocal.Close(), s.walSince.Close(), s.readers.Close()}
		for _, st := range s.stmts {
			errs = append(errs, st.Close())
		}
		err = errors.Join(append(errs, s.writer.Close())...)
	})
	return err
}

// Write commits ops atomically and returns the WAL index of the newest
// replicated entry once the commit is durable. Concurrent calls share commits.
// A write whose context ends after it was queued may still commit.
func (s *Store) Write(ctx context.Context, ops ...Op) (uint64, error) {
	for _, op := range ops {
		if op.Key == "" {
			return 0, errors.New("write: empty key")
		}
	}
	return s.submit(ctx, &writeRequest{ops: ops, result: make(chan writeResult, 1)})
}

// submit queues a request for the commit loop and waits for its outcome.
func (s *Store) submit(ctx context.Context, req *writeRequest) (uint64, error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case s.requests <- req:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return 0, fmt.Errorf("queue write: %w", ctx.Err())
	}
	select {
	case r := <-req.result:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for commit: %w", ctx.Err())
	}
}

// commitLoop owns the writer connection. It takes whatever writes are waiting
// (up to maxBatch) and commits them together.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*writeRequest, 0, s.maxBatch)
	for {
		select {
		case req := <-s.requests:
			batch = append(batch[:0], req)
		case <-s.stop:
			// Close holds closeMu, so nothing new arrives: commit what is queued.
			for {
				select {
				case req := <-s.requests:
					s.commit([]*writeRequest{req})
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < s.maxBatch {
			select {
			case req := <-s.requests:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

// commit runs one transaction for the batch. Each request gets a savepoint so
// that one failing request does not fail the others.
func (s *Store) commit(batch []*writeRequest) {
	results := make([]writeResult, len(batch))
	ctx := context.Background()
	fail := func(err error) {
		for _, req := range batch {
			req.result <- writeResult{err: err}
		}
	}
	if s.sync == SyncFull && allRelaxed(batch) {
		// One fsync fewer per batch; the next FULL commit makes it durable.
		if _, err := s.writer.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err == nil {
			defer func() { _, _ = s.writer.ExecContext(ctx, "PRAGMA synchronous=FULL") }()
		}
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin commit of %d writes: %w", len(batch), err))
		return
	}
	s.mu.Lock()
	epoch, last, lastEpoch := s.epoch, s.last, s.lastEpoch
	s.mu.Unlock()
	w := &batchWriter{tx: tx, merkle: s.merkle, changed: map[int][]byte{}, epoch: epoch, next: last + 1, lastEpoch: lastEpoch, stamp: s.now().UnixNano(),
		stored: [3]uint64{last, epoch, lastEpoch}}
	for i, st := range s.stmts {
		w.stmts[i] = tx.StmtContext(ctx, st) // the writer has one connection: no re-prepare
	}
	for i, req := range batch {
		idx, err := w.apply(ctx, req)
		if err != nil && req.fn == nil {
			// Plain writes run without a savepoint (they fail only when
			// SQLite does), so none of the batch may commit.
			_ = tx.Rollback()
			fail(err)
			return
		}
		results[i] = writeResult{index: idx, err: err}
	}
	if err := w.finish(ctx); err != nil {
		_ = tx.Rollback()
		fail(err)
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit %d writes: %w", len(batch), err))
		return
	}
	s.bumpWatches(batch)
	s.mu.Lock()
	advanced := w.next-1 != s.last
	if w.reset || hasFn(batch) {
		s.recent.clear() // bulk changes may rewrite or drop WAL entries
	} else {
		s.recent.add(w.appended)
	}
	s.last = w.next - 1
	s.epoch = w.epoch
	s.lastEpoch = w.lastEpoch
	if w.reset {
		s.merkle.buckets = [NumBuckets][hashSize]byte{}
	}
	for bucket, hash := range w.changed {
		s.merkle.buckets[bucket] = [hashSize]byte(hash)
	}
	s.merkle.dirty = true
	current := s.last
	notify := s.notify
	if advanced || w.reset {
		s.notify = make(chan struct{})
	}
	s.mu.Unlock()
	if advanced || w.reset {
		close(notify)
	}
	for i, req := range batch {
		if results[i].err == nil && results[i].index == 0 {
			results[i].index = current
		}
		req.result <- results[i]
	}
}

// The statements every replicated write runs, prepared once per batch.
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

func hasFn(batch []*writeRequest) bool {
	for _, r := range batch {
		if r.fn != nil {
			return true
		}
	}
	return false
}

func allRelaxed(batch []*writeRequest) bool {
	for _, r := range batch {
		if !r.relaxed {
			return false
		}
	}
	return true
}

// batchWriter accumulates one transaction's WAL entries and merkle changes.
type batchWriter struct {
	stmts     [numStmts]*sql.Stmt // prepared on tx when the batch begins
	tx        *sql.Tx
	merkle    *merkleIndex
	changed   map[int][]byte // bucket -> hash as of this transaction
	reset     bool           // every bucket was emptied (a wipe) before changed applies
	epoch     uint64         // epoch stamped on new local writes
	next      uint64         // WAL index the next replicated op gets
	lastEpoch uint64         // epoch of the newest WAL entry
	stamp     int64
	saves     int
	appended  []WALEntry // this transaction's entries, for Store.recent
	// stored is what the meta rows held when the batch began (last_wal,
	// epoch, last_epoch): finish writes only the rows that changed.
	stored [3]uint64
}

func (w *batchWriter) bucketHash(bucket int) []byte {
	if h, ok := w.changed[bucket]; ok {
		return h
	}
	if w.reset {
		return make([]byte, hashSize)
	}
	h := w.merkle.buckets[bucket]
	return h[:]
}

// apply runs one request and returns the WAL index of its last replicated op
// (0 when it had none). Requests with a function run inside a savepoint: a
// failed one leaves the transaction and the batch's in-memory state as they
// were before it. Plain writes skip that cost; they fail only when SQLite
// does, and then the caller abandons the whole batch.
func (w *batchWriter) apply(ctx context.Context, req *writeRequest) (uint64, error) {
	if req.fn == nil {
		return w.applyOps(ctx, req.ops)
	}
	w.saves++
	if _, err := w.stmts[stmtSavepoint].ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	saved := *w
	saved.changed = maps.Clone(w.changed)
	fail := func(err error) (uint64, error) {
		_, _ = w.stmts[stmtRollbackTo].ExecContext(ctx)
		_, _ = w.stmts[stmtRelease].ExecContext(ctx)
		saves := w.saves
		*w = saved
		w.saves = saves
		return 0, err
	}
	if err := req.fn(ctx, w); err != nil {
		return fail(err)
	}
	lastIdx, err := w.applyOps(ctx, req.ops)
	if err != nil {
		return fail(err)
	}
	if _, err := w.stmts[stmtRelease].ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("release savepoint: %w", err)
	}
	return lastIdx, nil
}

// applyOps applies ops in order and returns the WAL index of the last
// replicated one (0 when there was none).
func (w *batchWriter) applyOps(ctx context.Context, ops []Op) (uint64, error) {
	var lastIdx uint64
	for _, op := range ops {
		idx, err := w.applyOp(ctx, op)
		if err != nil {
			return 0, err
		}
		if idx != 0 {
			lastIdx = idx
		}
	}
	return lastIdx, nil
}

func (w *batchWriter) applyOp(ctx context.Context, op Op) (uint64, error) {
	if op.Local {
		var err error
		if op.Delete {
			_, err = w.tx.ExecContext(ctx, `DELETE FROM local WHERE key = ?`, op.Key)
		} else {
			_, err = w.tx.ExecContext(ctx, `INSERT INTO local(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, op.Key, nonNil(op.Value))
		}
		if err != nil {
			return 0, fmt.Errorf("write local key: %w", err)
		}
		return 0, nil
	}
	changed, err := w.setKey(ctx, op.Key, op.Value, op.Delete)
	if err != nil || !changed {
		return 0, err // deleting what is not there changes nothing to replicate
	}
	idx := w.next
	if err := w.appendWAL(ctx, WALEntry{Index: idx, Epoch: w.epoch, Delete: op.Delete, Key: op.Key, Value: op.Value, CreatedAt: w.stamp}); err != nil {
		return 0, err
	}
	return idx, nil
}

// setKey changes one replicated key and its merkle bucket. It reports false
// for a delete of a key that does not exist.
func (w *batchWriter) setKey(ctx context.Context, key string, value []byte, del bool) (bool, error) {
	var old []byte
	err := w.stmts[stmtSelect].QueryRowContext(ctx, key).Scan(&old)
	existed := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("read previous value: %w", err)
	}
	if del && !existed {
		return false, nil
	}
	bucket := bucketOf(key)
	hash := append([]byte(nil), w.bucketHash(bucket)...)
	if existed {
		xorInto(hash, entryHash(key, old))
	}
	if del {
		_, err = w.tx.ExecContext(ctx, `DELETE FROM kv WHERE key = ?`, key)
	} else {
		xorInto(hash, entryHash(key, value))
		_, err = w.stmts[stmtUpsert].ExecContext(ctx, key, nonNil(value), bucket)
	}
	if err != nil {
		return false, fmt.Errorf("write key: %w", err)
	}
	w.changed[bucket] = hash
	return true, nil
}

// appendWAL records one entry and moves the batch's position past it.
func (w *batchWriter) appendWAL(ctx context.Context, e WALEntry) error {
	code := walPut
	var value any = nonNil(e.Value)
	if e.Delete {
		code, value = walDelete, nil
	}
	if _, err := w.stmts[stmtAppend].ExecContext(ctx, e.Index, e.Epoch, code, e.Key, value, e.CreatedAt); err != nil {
		return fmt.Errorf("append WAL entry %d: %w", e.Index, err)
	}
	w.next = e.Index + 1
	w.lastEpoch = e.Epoch
	e.Value = keepValue(e.Value)
	w.appended = append(w.appended, e)
	return nil
}

// finish persists the merkle buckets and position changed by the batch.
func (w *batchWriter) finish(ctx context.Context) error {
	for bucket, hash := range w.changed {
		if _, err := w.stmts[stmtMerkle].ExecContext(ctx, bucket, hash); err != nil {
			return fmt.Errorf("update merkle bucket %d: %w", bucket, err)
		}
	}
	for i, v := range [3]uint64{w.next - 1, w.epoch, w.lastEpoch} {
		if v == w.stored[i] {
			continue // the row already holds it (most batches move last_wal only)
		}
		name := [3]string{"last_wal", "epoch", "last_epoch"}[i]
		if _, err := w.stmts[stmtMeta].ExecContext(ctx, name, int64(v)); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Get reads a replicated key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	return s.get(ctx, s.getKV, key)
}

// LocalGet reads a local key.
func (s *Store) LocalGet(ctx context.Context, key string) ([]byte, error) {
	return s.get(ctx, s.getLocal, key)
}

func (s *Store) get(ctx context.Context, stmt *sql.Stmt, key string) ([]byte, error) {
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

// List returns the immediate children of prefix in the replicated keyspace,
// relative to prefix and sorted; a child that has children of its own ends
// with "/" (Vault's LIST semantics).
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	return s.list(ctx, "kv", prefix)
}

// LocalList is List over the local keyspace.
func (s *Store) LocalList(ctx context.Context, prefix string) ([]string, error) {
	return s.list(ctx, "local", prefix)
}

// list walks the children in key order and skips over each folder's
// contents with a fresh range query, so a folder with many keys costs one
// row, not all of them.
func (s *Store) list(ctx context.Context, table, prefix string) ([]string, error) {
	var out []string
	from := prefix
	end := prefixEnd(prefix)
	for {
		var key string
		var err error
		if end == "" {
			err = s.readers.QueryRowContext(ctx, `SELECT key FROM `+table+` WHERE key >= ? ORDER BY key LIMIT 1`, from).Scan(&key)
		} else {
			err = s.readers.QueryRowContext(ctx, `SELECT key FROM `+table+` WHERE key >= ? AND key < ? ORDER BY key LIMIT 1`, from, end).Scan(&key)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
		rest := key[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			folder := rest[:i+1]
			out = append(out, folder)
			from = prefixEnd(prefix + folder)
			if from == "" {
				return out, nil
			}
			continue
		}
		out = append(out, rest)
		from = key + "\x00"
	}
}

// prefixEnd is the smallest string greater than every string with the prefix,
// or "" when there is none.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// Position returns the epoch, newest WAL index and merkle root.
func (s *Store) Position() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Position{Epoch: s.epoch, LastWAL: s.last, LastEpoch: s.lastEpoch, MerkleRoot: s.merkle.root()}
}

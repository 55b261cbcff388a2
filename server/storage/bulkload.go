package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// bulkTx is what an engine's transaction may offer for a merkle sync's
// bulk copy: emptying many buckets and inserting many rows per statement.
// Engines without it get one statement per bucket and per row.
type bulkTx interface {
	clearBuckets(ctx context.Context, buckets []int) error
	// putKVs upserts kvs (their buckets computed by the caller).
	putKVs(ctx context.Context, kvs []KV, buckets []int) error
}

// bulkRows is how many rows one multi-row INSERT carries: per row, the
// statement costs one bind per column instead of a whole Exec through
// database/sql and cgo, which was most of a bootstrap's insert time.
const bulkRows = 128

// clearBuckets deletes the rows of every given bucket in one statement.
func (t *sqliteTx) clearBuckets(ctx context.Context, buckets []int) error {
	for len(buckets) > 0 {
		n := min(len(buckets), 512)
		args := make([]any, n)
		for i, b := range buckets[:n] {
			args[i] = b
		}
		q := `DELETE FROM kv WHERE bucket IN (?` + strings.Repeat(`,?`, n-1) + `)`
		if _, err := t.e.wconn.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		buckets = buckets[n:]
	}
	return nil
}

// putKVs upserts kvs bulkRows at a time with one prepared statement.
func (t *sqliteTx) putKVs(ctx context.Context, kvs []KV, buckets []int) error {
	if len(kvs) >= bulkRows {
		stmt, err := t.e.wconn.PrepareContext(ctx, multiUpsert(bulkRows))
		if err != nil {
			return err
		}
		defer func() { _ = stmt.Close() }()
		args := make([]any, 3*bulkRows)
		for len(kvs) >= bulkRows {
			if err := execRows(ctx, stmt, args, kvs[:bulkRows], buckets[:bulkRows]); err != nil {
				return err
			}
			kvs, buckets = kvs[bulkRows:], buckets[bulkRows:]
		}
	}
	if len(kvs) == 0 {
		return nil
	}
	_, err := t.e.wconn.ExecContext(ctx, multiUpsert(len(kvs)), rowArgs(make([]any, 3*len(kvs)), kvs, buckets)...)
	return err
}

func execRows(ctx context.Context, stmt *sql.Stmt, args []any, kvs []KV, buckets []int) error {
	_, err := stmt.ExecContext(ctx, rowArgs(args, kvs, buckets)...)
	return err
}

func rowArgs(args []any, kvs []KV, buckets []int) []any {
	for i, kv := range kvs {
		args[3*i], args[3*i+1], args[3*i+2] = kv.Key, nonNil(kv.Value), buckets[i]
	}
	return args
}

// multiUpsert is stmtUpsert for n rows.
func multiUpsert(n int) string {
	return `INSERT INTO kv(key, value, bucket) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, n-1) +
		` ON CONFLICT(key) DO UPDATE SET value = excluded.value`
}

// replaceInTx empties the buckets and fills them with kvs, keyBuckets[i]
// being the bucket of kvs[i], in bulk where the engine can.
func replaceInTx(ctx context.Context, tx engineTx, buckets []int, kvs []KV, keyBuckets []int) error {
	if rt, ok := tx.(rangeTx); ok {
		// After a key-range copy that did not finish, deleting by bucket
		// needs the index back first.
		if err := rt.ensureBucketIndex(ctx); err != nil {
			return fmt.Errorf("build bucket index: %w", err)
		}
	}
	if bt, ok := tx.(bulkTx); ok {
		if err := bt.clearBuckets(ctx, buckets); err != nil {
			return fmt.Errorf("clear buckets: %w", err)
		}
		if err := bt.putKVs(ctx, kvs, keyBuckets); err != nil {
			return fmt.Errorf("fill buckets: %w", err)
		}
		return nil
	}
	for _, b := range buckets {
		if err := tx.clearBucket(ctx, b); err != nil {
			return fmt.Errorf("clear bucket %d: %w", b, err)
		}
	}
	for i, kv := range kvs {
		if err := tx.putKV(ctx, kv.Key, kv.Value, keyBuckets[i]); err != nil {
			return fmt.Errorf("fill buckets: %w", err)
		}
	}
	return nil
}

// A merkle sync that finds most buckets differing (a new secondary) copies
// the keyspace by key range instead of by bucket: the primary reads its
// table in key order rather than through the bucket index, one lookup per
// key, and the secondary inserts in key order. Engines offer it through
// rangeReader and rangeTx; without them replication copies by bucket.

// rangeReader reads replicated rows in key order.
type rangeReader interface {
	// kvsAfter calls fn for each replicated row after key, in key order,
	// until fn returns false or the rows end (then it reports done).
	kvsAfter(ctx context.Context, after string, fn func(key string, value []byte) bool) (done bool, err error)
}

// rangeTx replaces a key range inside a writing transaction.
type rangeTx interface {
	bulkTx
	// eachKVInRange calls fn for every row with after < key <= last (no
	// upper bound when last is "").
	eachKVInRange(ctx context.Context, after, last string, fn func(key string, value []byte)) error
	deleteRange(ctx context.Context, after, last string) error
	// dropBucketIndex and ensureBucketIndex take away and put back the
	// index that bucket reads use (see ReplaceRange).
	dropBucketIndex(ctx context.Context) error
	ensureBucketIndex(ctx context.Context) error
}

// CanCopyRanges reports whether this store can serve and apply a merkle
// sync by key range (KVsAfter, ReplaceRange).
func (s *Store) CanCopyRanges() bool {
	_, ok := s.db.(rangeReader)
	return ok
}

// KVsAfter returns the replicated rows after key in key order, those keep
// refuses left out, until their keys and values reach maxBytes (at least one
// row is returned while any remain). done reports that the keyspace ended.
func (s *Store) KVsAfter(ctx context.Context, after string, maxBytes int64, keep func(key string) bool) (kvs []KV, done bool, err error) {
	rr, ok := s.db.(rangeReader)
	if !ok {
		return nil, false, errors.New("read key range: this storage engine copies by bucket only")
	}
	var size int64
	done, err = rr.kvsAfter(ctx, after, func(key string, value []byte) bool {
		if keep != nil && !keep(key) {
			return true
		}
		kvs = append(kvs, KV{Key: key, Value: value})
		size += int64(len(key) + len(value))
		return size < maxBytes
	})
	if err != nil {
		return nil, false, fmt.Errorf("read key range after %q: %w", after, err)
	}
	return kvs, done, nil
}

// ReplaceRange makes the keys after `after` up to the last of kvs (to the
// end of the keyspace when final) exactly kvs, which are in key order, and
// moves the merkle buckets with them. Like ReplaceBuckets it does not move
// the position or wait for an fsync.
func (s *Store) ReplaceRange(ctx context.Context, after string, kvs []KV, final bool) error {
	if !final && len(kvs) == 0 {
		return errors.New("replace key range: an empty range must be the last")
	}
	last := ""
	if !final {
		last = kvs[len(kvs)-1].Key
	}
	for i, kv := range kvs {
		if kv.Key <= after || (i > 0 && kv.Key <= kvs[i-1].Key) {
			return fmt.Errorf("replace key range after %q: key %q out of order", after, kv.Key)
		}
	}
	_, err := s.submit(ctx, &writeRequest{relaxed: true, result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		rt, ok := w.tx.(rangeTx)
		if !ok {
			return errors.New("this storage engine copies by bucket only")
		}
		// A copy of many ranges inserts without the bucket index, which
		// the last range builds again in one sorted pass: inserting into it
		// row by row, in bucket order that key order scatters, took two
		// thirds of the copy. Until then bucket reads scan the table, and
		// an interrupted copy is repaired by EnsureBucketIndex (the sync's
		// error path, ReplaceBuckets) or by the schema at the next open.
		if after == "" && !final {
			if err := rt.dropBucketIndex(ctx); err != nil {
				return fmt.Errorf("drop bucket index: %w", err)
			}
		}
		hashes := map[int][]byte{}
		flip := func(key string, value []byte) {
			b := bucketOf(key)
			h, ok := hashes[b]
			if !ok {
				h = slices.Clone(w.bucketHash(b))
				hashes[b] = h
			}
			xorInto(h, entryHash(key, value))
		}
		if err := rt.eachKVInRange(ctx, after, last, flip); err != nil {
			return fmt.Errorf("read old range: %w", err)
		}
		if err := rt.deleteRange(ctx, after, last); err != nil {
			return fmt.Errorf("clear range: %w", err)
		}
		buckets := make([]int, len(kvs))
		for i, kv := range kvs {
			buckets[i] = bucketOf(kv.Key)
			flip(kv.Key, kv.Value)
		}
		if err := rt.putKVs(ctx, kvs, buckets); err != nil {
			return fmt.Errorf("fill range: %w", err)
		}
		maps.Copy(w.changed, hashes)
		if final {
			if err := rt.ensureBucketIndex(ctx); err != nil {
				return fmt.Errorf("build bucket index: %w", err)
			}
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("merkle sync: %w", err)
	}
	return nil
}

// EnsureBucketIndex puts back the bucket index a key-range copy that did
// not finish left out (nothing when it is there or the engine has none to
// take away).
func (s *Store) EnsureBucketIndex(ctx context.Context) error {
	if !s.CanCopyRanges() {
		return nil
	}
	_, err := s.submit(ctx, &writeRequest{relaxed: true, result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		if rt, ok := w.tx.(rangeTx); ok {
			return rt.ensureBucketIndex(ctx)
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("build bucket index: %w", err)
	}
	return nil
}

func (t *sqliteTx) dropBucketIndex(ctx context.Context) error {
	_, err := t.e.wconn.ExecContext(ctx, `DROP INDEX IF EXISTS kv_bucket`)
	return err
}

func (t *sqliteTx) ensureBucketIndex(ctx context.Context) error {
	_, err := t.e.wconn.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS kv_bucket ON kv(bucket)`)
	return err
}

func (e *sqliteEngine) kvsAfter(ctx context.Context, after string, fn func(key string, value []byte) bool) (bool, error) {
	rows, err := e.readers.QueryContext(ctx, `SELECT key, value FROM kv WHERE key > ? ORDER BY key`, after)
	if err != nil {
		return false, err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var key string
		var value []byte
		if err := rows.Scan(&key, &value); err != nil {
			return false, err
		}
		if !fn(key, value) {
			return !rows.Next() && rows.Err() == nil, rows.Err()
		}
	}
	return true, rows.Err()
}

func (t *sqliteTx) eachKVInRange(ctx context.Context, after, last string, fn func(key string, value []byte)) error {
	q, args := rangeWhere(`SELECT key, value FROM kv`, after, last)
	rows, err := t.e.wconn.QueryContext(ctx, q, args...)
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

func (t *sqliteTx) deleteRange(ctx context.Context, after, last string) error {
	q, args := rangeWhere(`DELETE FROM kv`, after, last)
	_, err := t.e.wconn.ExecContext(ctx, q, args...)
	return err
}

func rangeWhere(stmt, after, last string) (string, []any) {
	if last == "" {
		return stmt + ` WHERE key > ?`, []any{after}
	}
	return stmt + ` WHERE key > ? AND key <= ?`, []any{after, last}
}

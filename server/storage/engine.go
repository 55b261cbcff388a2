package storage

import "context"

// engine is the SQL a Store needs from a database: one writing transaction
// at a time (owned by the commit loop) and concurrent reads. Everything
// above it (group commit, WAL numbering, merkle hashing, the in-memory
// position) is shared by every engine, so SQLite and PostgreSQL hold the
// same rows and a key's change, its WAL row and its merkle bucket always
// commit in one transaction on both.
type engine interface {
	// begin starts the transaction of one batch. relaxed asks for a commit
	// that need not wait for durable storage (see writeRequest.relaxed).
	begin(ctx context.Context, relaxed bool) (engineTx, error)

	// metaValue reads a position counter; found is false (and the value
	// 0) when it was never written.
	metaValue(ctx context.Context, name string) (value uint64, found bool, err error)
	// eachBucket calls fn for every stored merkle bucket hash.
	eachBucket(ctx context.Context, fn func(bucket int, hash []byte) error) error

	// get reads a replicated (or, with local, a local) key: ErrNotFound when
	// it does not exist.
	get(ctx context.Context, local bool, key string) ([]byte, error)
	// firstKey is the smallest key >= from (and < end unless end is ""),
	// false when there is none.
	firstKey(ctx context.Context, local bool, from, end string) (string, bool, error)

	walSince(ctx context.Context, after uint64, limit int) ([]WALEntry, error)
	// walSizes returns the key+value sizes of up to limit entries after
	// index, oldest first, without loading the values.
	walSizes(ctx context.Context, after uint64, limit int) ([]int64, error)
	walEpochAt(ctx context.Context, index uint64) (uint64, bool, error)
	oldestWAL(ctx context.Context) (uint64, error)
	// newestWAL is the index and epoch of the newest WAL entry, false when
	// the WAL is empty.
	newestWAL(ctx context.Context) (index, epoch uint64, found bool, err error)
	walIndexBefore(ctx context.Context, unixNano int64) (uint64, error)
	bucketEntries(ctx context.Context, buckets []int) (map[int][]KV, error)

	// keysAfter lists up to limit keys of one keyspace after the given key,
	// in order (the barrier's resumable walk of an old database).
	keysAfter(ctx context.Context, local bool, after string, limit int) ([]string, error)
	// compact drops the bytes of overwritten rows that the database file
	// may still hold (free pages, stale log frames, dead tuples).
	compact(ctx context.Context) error

	close() error
}

// engineTx is one writing transaction. A failed call leaves the transaction
// usable only after rollbackTo (PostgreSQL aborts the transaction on any
// error) or rollback.
type engineTx interface {
	// getKV reads a replicated key inside the transaction.
	getKV(ctx context.Context, key string) ([]byte, bool, error)
	putKV(ctx context.Context, key string, value []byte, bucket int) error
	deleteKV(ctx context.Context, key string) error
	putLocal(ctx context.Context, key string, value []byte) error
	deleteLocal(ctx context.Context, key string) error
	appendWAL(ctx context.Context, e WALEntry) error
	setBucket(ctx context.Context, bucket int, hash []byte) error
	setMeta(ctx context.Context, name string, value uint64) error
	// setWALValue replaces the value a WAL entry keeps as history.
	setWALValue(ctx context.Context, index uint64, value []byte) error

	// flush sends whatever the transaction queued (rows.go), so that a
	// failure shows here, in the request that queued it.
	flush(ctx context.Context) error

	// savepoint, release and rollbackTo manage the one savepoint a
	// function request runs in.
	savepoint(ctx context.Context) error
	release(ctx context.Context) error
	rollbackTo(ctx context.Context) error

	// wipe deletes every replicated key, WAL entry and merkle bucket.
	wipe(ctx context.Context) error
	clearBucket(ctx context.Context, bucket int) error
	// dropWAL deletes every WAL entry.
	dropWAL(ctx context.Context) error
	trimWAL(ctx context.Context, upTo uint64) (int64, error)
	// scanKV calls fn for every replicated key and value.
	scanKV(ctx context.Context, fn func(key string, value []byte)) error

	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// WAL op codes as stored in the wal table.
const (
	walPut    = 1
	walDelete = 2
)

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds what replication needs from storage: reading the WAL,
// applying a primary's entries, and the merkle diff and sync. Storage knows
// no roles; the replication package decides who calls what.

// WALEntry is one replicated change.
type WALEntry struct {
	Index     uint64 `json:"i"`
	Epoch     uint64 `json:"e"`
	Delete    bool   `json:"d,omitempty"`
	Key       string `json:"k"`
	Value     []byte `json:"v,omitempty"`
	CreatedAt int64  `json:"t"` // Unix nanoseconds of the primary's commit
}

// KV is one replicated key and value.
type KV struct {
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

// Notify returns a channel that is closed the next time the position moves.
func (s *Store) Notify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

// WALSince returns up to limit entries after index, oldest first.
func (s *Store) WALSince(ctx context.Context, after uint64, limit int) ([]WALEntry, error) {
	out, err := s.db.walSince(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read WAL after %d: %w", after, err)
	}
	return out, nil
}

// WALSinceBytes returns the entries after index, oldest first, up to
// maxEntries and while their keys and values add up to at most maxBytes;
// the first entry is returned whatever its size. The sizes are read first
// (without loading a value), so an entry that does not fit is never loaded.
func (s *Store) WALSinceBytes(ctx context.Context, after uint64, maxEntries int, maxBytes int64) ([]WALEntry, error) {
	if entries, ok := s.recentSince(after, maxEntries, maxBytes); ok {
		return entries, nil
	}
	sizes, err := s.db.walSizes(ctx, after, maxEntries)
	if err != nil {
		return nil, fmt.Errorf("read WAL sizes after %d: %w", after, err)
	}
	n, total := 0, int64(0)
	for _, size := range sizes {
		if n > 0 && total+size > maxBytes {
			break
		}
		n, total = n+1, total+size
	}
	if n == 0 {
		return nil, nil
	}
	return s.WALSince(ctx, after, n)
}

// WALEpochAt returns the epoch of the entry at index, and false when the WAL
// no longer (or never) held it.
func (s *Store) WALEpochAt(ctx context.Context, index uint64) (uint64, bool, error) {
	epoch, ok, err := s.db.walEpochAt(ctx, index)
	if err != nil {
		return 0, false, fmt.Errorf("read WAL entry %d: %w", index, err)
	}
	return epoch, ok, nil
}

// OldestWAL is the smallest index still in the WAL (0 when it is empty).
func (s *Store) OldestWAL(ctx context.Context) (uint64, error) {
	idx, err := s.db.oldestWAL(ctx)
	if err != nil {
		return 0, fmt.Errorf("read oldest WAL entry: %w", err)
	}
	return idx, nil
}

// ApplyRemote applies a primary's entries in order in one transaction,
// keeping their indexes and epochs, so the position moves with the data.
// Entries at or below the current position are skipped (a resent batch).
//
// It commits without waiting for an fsync: the entries and the position
// move together, so a power loss can only take the secondary back to an
// earlier consistent position, from which it fetches them again.
func (s *Store) ApplyRemote(ctx context.Context, entries []WALEntry) error {
	_, err := s.submit(ctx, &writeRequest{relaxed: true, walOnly: true, result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		for _, e := range entries {
			if e.Index < w.next {
				continue
			}
			// An entry without a key holds the place of a change this
			// secondary does not receive (a performance secondary's
			// filtered view): the index sequence stays whole.
			if e.Key == "" {
				if err := w.appendWAL(ctx, e); err != nil {
					return err
				}
				continue
			}
			if _, err := w.setKey(ctx, e.Key, e.Value, e.Delete); err != nil {
				return fmt.Errorf("apply WAL entry %d: %w", e.Index, err)
			}
			if err := w.appendWAL(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("apply WAL batch of %d entries: %w", len(entries), err)
	}
	return nil
}

// Wipe deletes the whole replicated keyspace and WAL, and applies ops (local
// changes that must happen together with the wipe) in the same transaction.
func (s *Store) Wipe(ctx context.Context, ops ...Op) error {
	_, err := s.submit(ctx, &writeRequest{ops: ops, result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		if err := w.tx.wipe(ctx); err != nil {
			return fmt.Errorf("wipe replicated data: %w", err)
		}
		w.reset = true
		clear(w.changed)
		w.next, w.lastEpoch = 1, 0
		return nil
	}})
	if err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	return nil
}

// SetEpoch makes new local writes carry epoch (a promotion or a new primary
// starts one) and applies ops in the same transaction.
func (s *Store) SetEpoch(ctx context.Context, epoch uint64, ops ...Op) error {
	_, err := s.submit(ctx, &writeRequest{ops: ops, result: make(chan writeResult, 1), fn: func(_ context.Context, w *batchWriter) error {
		w.epoch = epoch
		return nil
	}})
	if err != nil {
		return fmt.Errorf("set epoch: %w", err)
	}
	return nil
}

// BucketHashes returns a copy of every merkle bucket hash.
func (s *Store) BucketHashes() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, NumBuckets)
	for i := range s.merkle.buckets {
		out[i] = slices.Clone(s.merkle.buckets[i][:])
	}
	return out
}

// BucketEntries returns the keys and values of the given buckets, in one
// read of the engine.
func (s *Store) BucketEntries(ctx context.Context, buckets []int) (map[int][]KV, error) {
	for _, b := range buckets {
		if b < 0 || b >= NumBuckets {
			return nil, fmt.Errorf("read buckets: no bucket %d", b)
		}
	}
	out, err := s.db.bucketEntries(ctx, buckets)
	if err != nil {
		return nil, fmt.Errorf("read buckets: %w", err)
	}
	return out, nil
}

// ReplaceBuckets makes the given buckets hold exactly the given entries
// (a merkle sync from the primary). It does not move the position, and like
// ApplyRemote it does not wait for an fsync: a lost bucket is found again by
// the next diff.
func (s *Store) ReplaceBuckets(ctx context.Context, contents map[int][]KV) error {
	_, err := s.submit(ctx, &writeRequest{relaxed: true, result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		type bucketKV struct {
			kv     KV
			bucket int
		}
		var all []bucketKV
		buckets := make([]int, 0, len(contents))
		for b, entries := range contents {
			if b < 0 || b >= NumBuckets {
				return fmt.Errorf("replace buckets: no bucket %d", b)
			}
			buckets = append(buckets, b)
			hash := make([]byte, hashSize)
			for _, kv := range entries {
				if bucketOf(kv.Key) != b {
					return fmt.Errorf("replace bucket %d: key belongs to bucket %d", b, bucketOf(kv.Key))
				}
				xorInto(hash, entryHash(kv.Key, kv.Value))
				all = append(all, bucketKV{kv, b})
			}
			w.changed[b] = hash
		}
		// Inserting in key order walks the table's B-tree once instead of
		// jumping around it: buckets scatter keys across the whole range.
		slices.SortFunc(all, func(x, y bucketKV) int { return strings.Compare(x.kv.Key, y.kv.Key) })
		kvs, keyBuckets := make([]KV, len(all)), make([]int, len(all))
		for i, e := range all {
			kvs[i], keyBuckets[i] = e.kv, e.bucket
		}
		slices.Sort(buckets)
		return replaceInTx(ctx, w.tx, buckets, kvs, keyBuckets)
	}})
	if err != nil {
		return fmt.Errorf("merkle sync: %w", err)
	}
	return nil
}

// ResetPosition sets the position after a merkle sync to the primary's
// (index, epoch) at the sync's start and drops the local WAL, which no
// longer describes how the data got here.
func (s *Store) ResetPosition(ctx context.Context, index, epoch uint64) error {
	_, err := s.submit(ctx, &writeRequest{result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		if err := w.tx.dropWAL(ctx); err != nil {
			return fmt.Errorf("drop WAL: %w", err)
		}
		w.next, w.lastEpoch = index+1, epoch
		return nil
	}})
	if err != nil {
		return fmt.Errorf("reset position: %w", err)
	}
	return nil
}

// TrimWAL deletes entries at or below upTo and returns how many went.
func (s *Store) TrimWAL(ctx context.Context, upTo uint64) (int64, error) {
	var n int64
	_, err := s.submit(ctx, &writeRequest{result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		var err error
		if n, err = w.tx.trimWAL(ctx, upTo); err != nil {
			return fmt.Errorf("trim WAL: %w", err)
		}
		return nil
	}})
	return n, err
}

// WALIndexBefore is the newest index committed before t (0 if none), for
// age-based retention.
func (s *Store) WALIndexBefore(ctx context.Context, t time.Time) (uint64, error) {
	idx, err := s.db.walIndexBefore(ctx, t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("find WAL entries older than %s: %w", t, err)
	}
	return idx, nil
}

// Reindex rebuilds every merkle bucket from the stored data and returns how
// many buckets were wrong.
func (s *Store) Reindex(ctx context.Context) (int, error) {
	fixed := 0
	_, err := s.submit(ctx, &writeRequest{result: make(chan writeResult, 1), fn: func(ctx context.Context, w *batchWriter) error {
		fresh := make([][]byte, NumBuckets)
		for i := range fresh {
			fresh[i] = make([]byte, hashSize)
		}
		err := w.tx.scanKV(ctx, func(key string, value []byte) {
			xorInto(fresh[bucketOf(key)], entryHash(key, value))
		})
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		for b := range fresh {
			if string(fresh[b]) != string(w.bucketHash(b)) {
				fixed++
				w.changed[b] = fresh[b]
			}
		}
		return nil
	}})
	return fixed, err
}

package storage

import (
	"context"
	"errors"
	"fmt"
)

// This file holds what the barrier's in-place encryption of an old
// database needs beyond ordinary writes: rewriting the values the WAL kept
// as history, and compacting the database so that no free page, -wal frame
// or dead tuple still holds the plain bytes.

// RewriteWAL offers every WAL entry that has a value to fn and stores what
// fn returns when it reports a change. Indexes, epochs and the merkle index
// are untouched: the WAL is history, the keyspace is not changed.
func (s *Store) RewriteWAL(ctx context.Context, fn func(ctx context.Context, key string, value []byte) ([]byte, bool, error)) (int, error) {
	const page = 256
	after, changed := uint64(0), 0
	for {
		entries, err := s.db.walSince(ctx, after, page)
		if err != nil {
			return changed, fmt.Errorf("read WAL for rewrite: %w", err)
		}
		type row struct {
			idx   uint64
			value []byte
		}
		var updates []row
		for _, e := range entries {
			after = e.Index
			if e.Delete || e.Value == nil {
				continue
			}
			next, ok, err := fn(ctx, e.Key, e.Value)
			if err != nil {
				return changed, err
			}
			if ok {
				updates = append(updates, row{e.Index, next})
			}
		}
		if len(updates) > 0 {
			err := s.inTx(ctx, func(tx engineTx) error {
				for _, u := range updates {
					if err := tx.setWALValue(ctx, u.idx, u.value); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return changed, fmt.Errorf("rewrite WAL values: %w", err)
			}
			changed += len(updates)
		}
		if len(entries) < page {
			return changed, nil
		}
	}
}

// inTx runs fn in one engine transaction outside the commit loop (the
// engine serialises writers; SQLite has one writer connection).
func (s *Store) inTx(ctx context.Context, fn func(engineTx) error) error {
	tx, err := s.db.begin(ctx, false)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.rollback(ctx))
	}
	return tx.commit(ctx)
}

// Compact rebuilds the database's storage so that the bytes of overwritten
// rows are gone from the files (see engine.compact).
func (s *Store) Compact(ctx context.Context) error {
	if err := s.db.compact(ctx); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

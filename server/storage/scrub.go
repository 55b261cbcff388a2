package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// This file holds what the barrier's in-place encryption of an old
// database needs beyond ordinary writes: rewriting the values the WAL kept
// as history, and compacting the file so that no free page or -wal frame
// still holds the plain bytes.

// RewriteWAL offers every WAL entry that has a value to fn and stores what
// fn returns when it reports a change. Indexes, epochs and the merkle index
// are untouched: the WAL is history, the keyspace is not changed.
func (s *Store) RewriteWAL(ctx context.Context, fn func(ctx context.Context, key string, value []byte) ([]byte, bool, error)) (int, error) {
	const page = 256
	after, changed := int64(0), 0
	for {
		rows, err := s.readers.QueryContext(ctx, `SELECT idx, key, value FROM wal WHERE idx > ? AND value IS NOT NULL ORDER BY idx LIMIT ?`, after, page)
		if err != nil {
			return changed, fmt.Errorf("read WAL for rewrite: %w", err)
		}
		type row struct {
			idx   int64
			value []byte
		}
		var updates []row
		n := 0
		for rows.Next() {
			var idx int64
			var key string
			var value []byte
			if err := rows.Scan(&idx, &key, &value); err != nil {
				_ = rows.Close()
				return changed, fmt.Errorf("read WAL for rewrite: %w", err)
			}
			n++
			after = idx
			next, ok, err := fn(ctx, key, value)
			if err != nil {
				_ = rows.Close()
				return changed, err
			}
			if ok {
				updates = append(updates, row{idx, next})
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return changed, fmt.Errorf("read WAL for rewrite: %w", err)
		}
		if len(updates) > 0 {
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				for _, u := range updates {
					if _, err := tx.ExecContext(ctx, `UPDATE wal SET value = ? WHERE idx = ?`, u.value, u.idx); err != nil {
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
		if n < page {
			return changed, nil
		}
	}
}

func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Compact rebuilds the database file (VACUUM drops free pages, which keep
// the bytes of overwritten rows) and truncates the -wal file (whose stale
// frames keep old page images).
func (s *Store) Compact(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

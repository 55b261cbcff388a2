package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Data is what the domain packages (tokens, policies, KV, mounts, DR
// operation tokens) need of a cluster's keyspaces. *Store satisfies it with
// the stored bytes as they are; the barrier satisfies it with encryption
// in front, which is what a running server hands them.
type Data interface {
	Get(ctx context.Context, key string) ([]byte, error)
	LocalGet(ctx context.Context, key string) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
	LocalList(ctx context.Context, prefix string) ([]string, error)
	Write(ctx context.Context, ops ...Op) (uint64, error)
}

var _ Data = (*Store)(nil)

// KeysAfter returns up to limit keys of one keyspace (local or replicated)
// that sort after the given key, in order: a resumable walk over every key,
// which the barrier's in-place encryption of an old database needs.
func (s *Store) KeysAfter(ctx context.Context, local bool, after string, limit int) ([]string, error) {
	table := "kv"
	if local {
		table = "local"
	}
	rows, err := s.readers.QueryContext(ctx, `SELECT key FROM `+table+` WHERE key > ? ORDER BY key LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("walk %s keys after %q: %w", table, after, err)
	}
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("walk %s keys: %w", table, err)
		}
		out = append(out, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("walk %s keys: %w", table, err)
	}
	return out, nil
}

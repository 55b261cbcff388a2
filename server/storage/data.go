package storage

import (
	"context"
	"fmt"
	"sync/atomic"
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
	// Watch is Store.Watch: a cache of decoded values above the keyspace
	// knows from it when keys under a prefix may have changed.
	Watch(prefix string) *atomic.Uint64
}

var _ Data = (*Store)(nil)

// KeysAfter returns up to limit keys of one keyspace (local or replicated)
// that sort after the given key, in order: a resumable walk over every key,
// which the barrier's in-place encryption of an old database needs.
func (s *Store) KeysAfter(ctx context.Context, local bool, after string, limit int) ([]string, error) {
	keys, err := s.db.keysAfter(ctx, local, after, limit)
	if err != nil {
		return nil, fmt.Errorf("walk keys after %q: %w", after, err)
	}
	return keys, nil
}

package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/barrier"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// A cluster's own keys — its tokens and its local mounts' data — live in
// the replicated keyspace on a performance primary (its DR secondaries
// receive them with the WAL; the performance view leaves them out) and in
// the local keyspace on a performance secondary (perfsplit.go). When the
// performance role changes they move: a promoted performance secondary
// keeps its own tokens and local mounts (Vault's: each performance cluster
// has its own tokens, so the old primary's never work on it), and a
// demoted primary keeps its own, so its operators can still call
// update-primary with its tokens and its local mounts survive following
// the new primary.

// mountTableKey is the mount table in the replicated keyspace (mounts'
// tableKey).
const mountTableKey = "core/mounts"

// moveBatch bounds the keys one move writes at a time.
const moveBatch = 256

// ownKeys moves a cluster's own keys between the keyspaces.
type ownKeys struct {
	bar      *barrier.Barrier
	table    *mounts.Table
	prefixes []string
}

// toReplicated runs after a performance secondary became a primary.
func (o ownKeys) toReplicated(ctx context.Context) error {
	if err := o.move(ctx, true); err != nil {
		return err
	}
	// The old primary's local mounts are in the replicated table this
	// cluster holds, without their data: they are not this cluster's.
	entries, err := o.table.List(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Local && !e.InLocalTable && !e.Builtin && e.Table == "mounts" {
			if err := o.table.Disable(ctx, e.Path); err != nil {
				return fmt.Errorf("drop the old primary's local mount %s: %w", e.Path, err)
			}
		}
	}
	return nil
}

// toLocal runs before a performance primary is demoted (while it may
// still write the replicated keyspace).
func (o ownKeys) toLocal(ctx context.Context) error {
	if err := o.move(ctx, false); err != nil {
		return err
	}
	return o.localMountsToOwnTable(ctx)
}

// move moves every key under the prefixes out of one keyspace into the
// other, decrypting and encrypting again (the barrier binds a value to its
// keyspace), moveBatch keys per transaction.
func (o ownKeys) move(ctx context.Context, fromLocal bool) error {
	store := o.bar.Store()
	for _, prefix := range o.prefixes {
		after := prefix
		for {
			keys, err := store.KeysAfter(ctx, fromLocal, after, moveBatch)
			if err != nil {
				return err
			}
			done := len(keys) < moveBatch
			var ops []storage.Op
			for _, k := range keys {
				if !strings.HasPrefix(k, prefix) {
					done = true
					break
				}
				after = k
				get := o.bar.Get
				if fromLocal {
					get = o.bar.LocalGet
				}
				v, err := get(ctx, k)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					return fmt.Errorf("read %s: %w", k, err)
				}
				ops = append(ops, storage.Op{Local: !fromLocal, Key: k, Value: v}, storage.Op{Local: fromLocal, Key: k, Delete: true})
			}
			if len(ops) > 0 {
				if _, err := o.bar.Write(ctx, ops...); err != nil {
					return fmt.Errorf("move %d keys under %s: %w", len(ops)/2, prefix, err)
				}
			}
			if done || len(keys) == 0 {
				break
			}
		}
	}
	return nil
}

// localMountsToOwnTable moves the local mounts of the replicated table into
// the table a performance secondary keeps of its own mounts.
func (o ownKeys) localMountsToOwnTable(ctx context.Context) error {
	var shared, own []mounts.Entry
	if err := readJSON(ctx, o.bar.Get, mountTableKey, &shared); err != nil {
		return err
	}
	if err := readJSON(ctx, o.bar.LocalGet, localMountTableKey, &own); err != nil {
		return err
	}
	kept := shared[:0:0]
	moved := 0
	for _, e := range shared {
		if e.Local {
			own = append(own, e)
			moved++
			continue
		}
		kept = append(kept, e)
	}
	if moved == 0 {
		return nil
	}
	rawShared, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	rawOwn, err := json.Marshal(own)
	if err != nil {
		return err
	}
	if _, err := o.bar.Write(ctx, storage.Op{Key: mountTableKey, Value: rawShared}, storage.Op{Local: true, Key: localMountTableKey, Value: rawOwn}); err != nil {
		return fmt.Errorf("move the local mounts to this cluster's own table: %w", err)
	}
	return nil
}

// readJSON decodes key into v; an absent key leaves v as it is.
func readJSON(ctx context.Context, get func(context.Context, string) ([]byte, error), key string, v any) error {
	raw, err := get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

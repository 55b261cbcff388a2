package core

import (
	"context"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// localSplit is the keyspace as the token store sees it: on a performance
// secondary its tokens are its own (Vault's rule), so the token keys live
// in the local keyspace there, out of the primary's stream and of the
// merkle view it repairs; everywhere else it is the keyspace unchanged.
type localSplit struct {
	storage.Data
	active   func() bool
	prefixes []string
}

func (s localSplit) local(key string) bool {
	if !s.active() {
		return false
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func (s localSplit) Get(ctx context.Context, key string) ([]byte, error) {
	if s.local(key) {
		return s.LocalGet(ctx, key)
	}
	return s.Data.Get(ctx, key)
}

func (s localSplit) List(ctx context.Context, prefix string) ([]string, error) {
	if s.local(prefix) {
		return s.LocalList(ctx, prefix)
	}
	return s.Data.List(ctx, prefix)
}

func (s localSplit) Write(ctx context.Context, ops ...storage.Op) (uint64, error) {
	moved := ops
	for i, op := range ops {
		if !op.Local && s.local(op.Key) {
			if &moved[0] == &ops[0] {
				moved = append([]storage.Op(nil), ops...)
			}
			moved[i].Local = true
		}
	}
	return s.Data.Write(ctx, moved...)
}

// localMountTableKey is where the mount table keeps a performance
// secondary's own mounts in the local keyspace (mounts' localTableKey).
const localMountTableKey = "core/local-mounts"

// ownLocalKeys are the local keys in which a performance secondary keeps
// what is its own (the split's prefixes and its own mount table): its DR
// secondaries receive them beside the WAL (replication's carried keys).
func ownLocalKeys() []string {
	return append(auth.TokenKeyPrefixes(), mounts.LocalPrefix, localMountTableKey)
}

// mountRefs lists the mount table as replication's views need it.
func mountRefs(t *mounts.Table) func(ctx context.Context) ([]replication.MountRef, error) {
	return func(ctx context.Context) ([]replication.MountRef, error) {
		entries, err := t.List(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]replication.MountRef, 0, len(entries))
		for _, e := range entries {
			out = append(out, replication.MountRef{Path: e.Path, Prefix: e.Prefix, Local: e.Local})
		}
		return out, nil
	}
}

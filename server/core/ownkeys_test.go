package core

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestOwnKeysMove: a demotion moves the cluster's tokens, its local mount
// and the mount's data into the local keyspace (still readable through the
// barrier), and a promotion moves them back; the root token works after
// each move, and nothing of them is left in the other keyspace.
func TestOwnKeysMove(t *testing.T) {
	ctx := context.Background()
	store, err := storage.Open(ctx, filepath.Join(t.TempDir(), "c.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c, err := New(ctx, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	res, err := c.Initialize(ctx, 1, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Seal.Unseal(ctx, hex.EncodeToString(res.Keys[0])); err != nil {
		t.Fatal(err)
	}
	e, err := c.Mounts.Enable(ctx, mounts.Entry{Path: "loc/", Type: mounts.TypeKV, Local: true})
	if err != nil {
		t.Fatal(err)
	}
	dataKey := e.Prefix + "k"
	if _, err := c.Data.Write(ctx, storage.Op{Key: dataKey, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	own := ownKeys{bar: c.Barrier, table: c.Mounts, prefixes: append(auth.TokenKeyPrefixes(), mounts.LocalPrefix)}

	if err := own.toLocal(ctx); err != nil {
		t.Fatalf("toLocal: %v", err)
	}
	if _, err := store.Get(ctx, dataKey); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("local mount data still replicated: %v", err)
	}
	if v, err := c.Barrier.LocalGet(ctx, dataKey); err != nil || string(v) != "v" {
		t.Fatalf("local mount data in the local keyspace: %q %v", v, err)
	}
	if keys, err := store.List(ctx, "auth/token/id/"); err != nil || len(keys) != 0 {
		t.Fatalf("tokens left in the replicated keyspace: %v %v", keys, err)
	}
	var shared, mine []mounts.Entry
	if err := readJSON(ctx, c.Barrier.Get, mountTableKey, &shared); err != nil {
		t.Fatal(err)
	}
	if err := readJSON(ctx, c.Barrier.LocalGet, localMountTableKey, &mine); err != nil {
		t.Fatal(err)
	}
	for _, m := range shared {
		if m.Path == "loc/" {
			t.Fatal("the local mount is still in the replicated table")
		}
	}
	if len(mine) != 1 || mine[0].Path != "loc/" {
		t.Fatalf("own table: %+v", mine)
	}

	// This cluster is no performance secondary: an unseal finishes the
	// move a crash would have cut short (the data part; the table needs
	// no move, as a primary reads its own table too).
	keyholder{bar: c.Barrier, repl: c.Repl, perf: c.Perf, auth: c.Auth, own: own, log: c.Log}.healOwnKeys(ctx)
	if v, err := store.Get(ctx, dataKey); err != nil || len(v) == 0 {
		t.Fatalf("healing left the local mount data local: %v", err)
	}
	if err := own.toReplicated(ctx); err != nil {
		t.Fatalf("toReplicated: %v", err)
	}
	if v, err := c.Data.Get(ctx, dataKey); err != nil || string(v) != "v" {
		t.Fatalf("local mount data after toReplicated: %q %v", v, err)
	}
	if keys, err := store.LocalList(ctx, "auth/token/id/"); err != nil || len(keys) != 0 {
		t.Fatalf("tokens left in the local keyspace: %v %v", keys, err)
	}
	if _, err := c.Auth.Lookup(ctx, res.RootToken); err != nil {
		t.Fatalf("root token after the moves: %v", err)
	}
	if got, err := c.Mounts.Get(ctx, "loc/"); err != nil || got == nil || !got.Local {
		t.Fatalf("the local mount after the moves: %+v %v", got, err)
	}
}

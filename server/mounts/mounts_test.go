package mounts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestMain stops the PostgreSQL server of a run with
// VAULTREPL_TEST_STORAGE=postgresql (the same suite on the other engine).
func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	var s *storage.Store
	var err error
	if testserver.StorageEngine() == testserver.EnginePostgres {
		s, err = storage.OpenPostgres(context.Background(), storage.PostgresConfig{ConnURL: testserver.PostgresURL(t)}, storage.Options{})
	} else {
		s, err = storage.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"), storage.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestDisableDeletesAllData: a mount with more keys than one deletion batch,
// in nested folders, leaves nothing behind, and other mounts keep theirs.
func TestDisableDeletesAllData(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	table := New(store)
	gone, err := table.Enable(ctx, Entry{Path: "gone", Type: TypeKV})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := table.Enable(ctx, Entry{Path: "kept", Type: TypeKV})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*deleteBatch + 7
	ops := make([]storage.Op, 0, n)
	for i := range n {
		ops = append(ops, storage.Op{Key: fmt.Sprintf("%sf%d/sub/k%d", gone.Prefix, i%5, i), Value: []byte("v")})
	}
	if _, err := store.Write(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Write(ctx, storage.Op{Key: kept.Prefix + "x", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := table.Disable(ctx, "gone/"); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if left, err := store.List(ctx, gone.Prefix); err != nil || len(left) != 0 {
		t.Fatalf("keys left under the disabled mount: %v, %v", left, err)
	}
	if left, err := store.List(ctx, kept.Prefix); err != nil || len(left) != 1 {
		t.Fatalf("the other mount's keys: %v, %v", left, err)
	}
	if e, err := table.Match(ctx, "gone/f1/sub/k1"); err != nil || e != nil {
		t.Fatalf("Match after Disable = %+v, %v", e, err)
	}
}

// TestEnclosing finds the longest enclosing mount, built-in ones included.
func TestEnclosing(t *testing.T) {
	ctx := context.Background()
	table := New(openStore(t))
	if _, err := table.Enable(ctx, Entry{Path: "team/kv", Type: TypeKV}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"team/kv/data/x":             "team/kv/",
		"team/kv":                    "team/kv/",
		"secret/x":                   "secret/",
		"sys/replication/dr/status":  "sys/",
		"auth/token/lookup-accessor": "auth/token/",
		"team/other":                 "",
		"secretary/x":                "",
	} {
		e, err := table.Enclosing(ctx, path)
		got := ""
		if e != nil {
			got = e.Path
		}
		if err != nil || got != want {
			t.Errorf("Enclosing(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
}

// TestEntryBounds keeps oversized descriptions and options out of the table.
func TestEntryBounds(t *testing.T) {
	ctx := context.Background()
	table := New(openStore(t))
	long := string(make([]byte, MaxDescriptionLength+1))
	if _, err := table.Enable(ctx, Entry{Path: "x", Type: TypeKV, Description: long}); err == nil {
		t.Fatal("Enable with an oversized description succeeded")
	}
	if _, err := table.Enable(ctx, Entry{Path: "x", Type: TypeKV}); err != nil {
		t.Fatal(err)
	}
	err := table.Tune(ctx, "x", func(e *Entry) error {
		e.Options = map[string]string{"k": string(make([]byte, MaxOptionLength+1))}
		return nil
	})
	if err == nil {
		t.Fatal("Tune to an oversized option succeeded")
	}
	if e, err := table.Get(ctx, "x"); err != nil || e == nil || len(e.Options) != 0 {
		t.Fatalf("entry after the refused tune = %+v, %v", e, err)
	}
}

// TestMatchFollowsStoreChanges: the cached table is dropped when the stored
// one changes underneath (a replicated write), and callers' copies are
// theirs.
func TestMatchFollowsStoreChanges(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	table := New(store)
	e, err := table.Match(ctx, "secret/x")
	if err != nil || e == nil || e.Path != "secret/" {
		t.Fatalf("Match(secret/x) = %+v, %v", e, err)
	}
	e.Options["version"] = "changed by the caller"
	list, err := table.List(ctx)
	if err != nil || len(list) != 1 || list[0].Options["version"] != "1" {
		t.Fatalf("List after a caller changed its copy = %+v, %v", list, err)
	}
	list[0].Path = "other/"
	if _, err := store.Write(ctx, storage.Op{Key: tableKey, Value: []byte(`[{"path":"other/","type":"kv","prefix":"logical/other/"}]`)}); err != nil {
		t.Fatal(err)
	}
	if e, err := table.Match(ctx, "secret/x"); err != nil || e != nil {
		t.Fatalf("Match(secret/x) after the table changed in the store = %+v, %v; want none", e, err)
	}
	if e, err := table.Match(ctx, "other/x"); err != nil || e == nil || e.Path != "other/" {
		t.Fatalf("Match(other/x) = %+v, %v", e, err)
	}
}

// TestMatchSharedFollowsStoreChanges: the uncopied entry is the cached
// table's, and a change of the stored table is seen by the next call.
func TestMatchSharedFollowsStoreChanges(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	table := New(store)
	a, err := table.MatchShared(ctx, "secret/x")
	if err != nil || a == nil || a.Path != "secret/" {
		t.Fatalf("MatchShared(secret/x) = %+v, %v", a, err)
	}
	if b, err := table.MatchShared(ctx, "secret/y"); err != nil || b != a {
		t.Fatalf("second MatchShared = %p, %v; want the same cached entry %p", b, err, a)
	}
	if _, err := store.Write(ctx, storage.Op{Key: tableKey, Value: []byte(`[{"path":"other/","type":"kv","prefix":"logical/other/"}]`)}); err != nil {
		t.Fatal(err)
	}
	if e, err := table.MatchShared(ctx, "secret/x"); err != nil || e != nil {
		t.Fatalf("MatchShared(secret/x) after the table changed in the store = %+v, %v; want none", e, err)
	}
	if e, err := table.MatchShared(ctx, "other/x"); err != nil || e == nil || e.Path != "other/" {
		t.Fatalf("MatchShared(other/x) = %+v, %v", e, err)
	}
}

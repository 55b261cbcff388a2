package core

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestLocalSplit: while active, the split's keys go to and come from the
// local keyspace, out of the WAL; otherwise everything is as stored.
func TestLocalSplit(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(ctx, filepath.Join(t.TempDir(), "c.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	active := false
	split := localSplit{Data: s, prefixes: []string{"auth/token/id/"}, active: func() bool { return active }}

	if _, err := split.Write(ctx, storage.Op{Key: "auth/token/id/a", Value: []byte("replicated")}); err != nil {
		t.Fatal(err)
	}
	active = true
	before := s.Position().LastWAL
	ops := []storage.Op{{Key: "auth/token/id/b", Value: []byte("local")}, {Key: "sys/policy/p", Value: []byte("shared")}}
	if _, err := split.Write(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if ops[0].Local {
		t.Fatal("Write changed the caller's ops")
	}
	if got := s.Position().LastWAL; got != before+1 {
		t.Fatalf("WAL moved by %d, want 1 (only the policy replicates)", got-before)
	}
	if v, err := split.Get(ctx, "auth/token/id/b"); err != nil || string(v) != "local" {
		t.Fatalf("local token: %q %v", v, err)
	}
	if _, err := split.Get(ctx, "auth/token/id/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the replicated token is visible while split: %v", err)
	}
	if keys, err := split.List(ctx, "auth/token/id/"); err != nil || !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("list while split: %v %v", keys, err)
	}
	if v, err := split.Get(ctx, "sys/policy/p"); err != nil || string(v) != "shared" {
		t.Fatalf("policy: %q %v", v, err)
	}
	active = false
	if v, err := split.Get(ctx, "auth/token/id/a"); err != nil || string(v) != "replicated" {
		t.Fatalf("replicated token after the split ends: %q %v", v, err)
	}
}

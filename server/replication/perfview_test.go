package replication

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestPerformanceViewIncremental: a performance secondary's view kept from
// the store's bucket hashes equals the view read afresh after every kind of
// change — writes and deletes of kept and excluded keys, a mount turning
// local, a merkle sync that the WAL does not show — and reads only the
// buckets that changed.
func TestPerformanceViewIncremental(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	table := []MountRef{{Path: "secret/", Prefix: "logical/secret/"}, {Path: "kv/", Prefix: "logical/kv/"}}
	m, err := New(ctx, s, nil, Options{Kind: KindPerformance, HeartbeatInterval: time.Hour,
		TokenPrefixes: []string{"auth/token/id/"},
		Mounts:        func(context.Context) ([]MountRef, error) { return slices.Clone(table), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		_ = s.Close()
	})
	write := func(ops ...storage.Op) {
		t.Helper()
		if _, err := s.Write(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	var ops []storage.Op
	for i := range 2000 {
		ops = append(ops, storage.Op{Key: fmt.Sprintf("logical/secret/k%d", i), Value: []byte("v")},
			storage.Op{Key: fmt.Sprintf("logical/kv/k%d", i), Value: []byte("w")},
			storage.Op{Key: fmt.Sprintf("auth/token/id/t%d", i), Value: []byte("tok")})
	}
	write(ops...)

	check := func(step string, wantReadAtMost int) {
		t.Helper()
		got, _, read, err := m.refreshView(ctx, "ps", s.Position(), false)
		if err != nil {
			t.Fatal(err)
		}
		if read > wantReadAtMost {
			t.Errorf("%s: read %d buckets, want at most %d", step, read, wantReadAtMost)
		}
		fresh, _, _, err := m.refreshView(ctx, "other", s.Position(), true)
		if err != nil {
			t.Fatal(err)
		}
		if storage.MerkleRoot(got) != storage.MerkleRoot(fresh) {
			t.Fatalf("%s: the kept view's root differs from the view read afresh", step)
		}
	}
	check("first view", storage.NumBuckets)
	check("nothing changed", 0)
	write(storage.Op{Key: "logical/secret/k1", Value: []byte("new")}, storage.Op{Key: "logical/secret/new", Value: []byte("n")})
	check("two kept keys written", 2)
	write(storage.Op{Key: "logical/secret/k2", Delete: true})
	check("a kept key deleted", 1)
	before, _, _, _ := m.refreshView(ctx, "ps", s.Position(), false)
	write(storage.Op{Key: "auth/token/id/t1", Value: []byte("changed")}, storage.Op{Key: "auth/token/id/tnew", Value: []byte("x")})
	check("excluded keys written", 2)
	after, _, _, _ := m.refreshView(ctx, "ps", s.Position(), false)
	if storage.MerkleRoot(before) != storage.MerkleRoot(after) {
		t.Fatal("writing excluded keys changed the view")
	}
	table[1].Local = true
	check("kv/ turned local", storage.NumBuckets)
	if storage.MerkleRoot(after) == storage.MerkleRoot(mustView(t, m, s)) {
		t.Fatal("a mount turning local did not change the view")
	}
	// A merkle sync replaces buckets without a WAL entry.
	got, err := s.BucketEntries(ctx, []int{0, 1, 2, 3, 4, 5, 6, 7})
	if err != nil {
		t.Fatal(err)
	}
	full := -1
	for b := 1; b < 8 && full < 0; b++ {
		if len(got[b]) > 0 {
			full = b
		}
	}
	if full < 0 {
		t.Fatal("buckets 1-7 are empty")
	}
	changed := slices.Clone(got[full])
	changed[0].Value = []byte("synced")
	if err := s.ReplaceBuckets(ctx, map[int][]storage.KV{0: nil, full: changed}); err != nil {
		t.Fatal(err)
	}
	check("buckets replaced by a merkle sync", 2)
}

func mustView(t *testing.T, m *Manager, s *storage.Store) [][]byte {
	t.Helper()
	h, _, _, err := m.refreshView(context.Background(), "ps", s.Position(), false)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestPerformanceViewRootInBackground: a heartbeat never waits for the
// view; the root of a quiet store is there by a later heartbeat at the
// same position, equals the view read afresh, and is not offered for
// another position.
func TestPerformanceViewRootInBackground(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(ctx, s, nil, Options{Kind: KindPerformance, HeartbeatInterval: time.Hour, TokenPrefixes: []string{"auth/token/id/"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		_ = s.Close()
	})
	rootAt := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := m.viewRoot(ctx, "ps", s.Position())
			if got == want {
				return
			}
			if got != "" {
				t.Fatalf("viewRoot = %s, want %s", got, want)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no root after 10s, want %s", want)
			}
			time.Sleep(5 * time.Millisecond) // polling the background refresh, bounded above
		}
	}
	for round := range 3 {
		if _, err := s.Write(ctx, storage.Op{Key: fmt.Sprintf("logical/secret/r%d", round), Value: []byte("v")},
			storage.Op{Key: fmt.Sprintf("auth/token/id/r%d", round), Value: []byte("t")}); err != nil {
			t.Fatal(err)
		}
		fresh, _, _, err := m.refreshView(ctx, "fresh", s.Position(), true)
		if err != nil {
			t.Fatal(err)
		}
		rootAt(storage.MerkleRoot(fresh))
		stale := s.Position()
		stale.LastWAL--
		if got := m.viewRoot(ctx, "ps", stale); got != "" {
			t.Fatalf("round %d: a root offered for another position: %s", round, got)
		}
	}
}

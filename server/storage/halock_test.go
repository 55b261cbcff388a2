package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

func openHA(t *testing.T, url string) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), PostgresConfig{ConnURL: url, TablePrefix: "ha_", HA: true}, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestFencingToken: two nodes on one database. Only the lock holder
// writes; after its lease runs out and the other node takes over, the old
// holder's writes fail inside their transaction even though it still
// believes it is active, the new holder continues the WAL where the old
// one stopped, and a release hands the lock over at once.
func TestFencingToken(t *testing.T) {
	ctx := context.Background()
	url := testserver.PostgresURL(t)
	a, b := openHA(t, url), openHA(t, url)
	if _, err := a.Write(ctx, put("k", "before any lock")); !errors.Is(err, ErrFenced) {
		t.Fatalf("write without the lock: %v, want ErrFenced", err)
	}
	const ttl = 300 * time.Millisecond
	tokA, ok, err := a.TryLock(ctx, "a", "https://a", "https://a:1", ttl)
	if err != nil || !ok {
		t.Fatalf("a TryLock: %v %v", ok, err)
	}
	if err := a.Activate(ctx, tokA); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.TryLock(ctx, "b", "https://b", "https://b:1", ttl); err != nil || ok {
		t.Fatalf("b took a held lock: %v %v", ok, err)
	}
	for i := range 5 {
		if _, err := a.Write(ctx, put("k", string(rune('0'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Write(ctx, put("k", "standby")); !errors.Is(err, ErrFenced) {
		t.Fatalf("standby write: %v, want ErrFenced", err)
	}
	// a stops renewing (as if paused): b takes over once the lease ran out.
	deadline := time.Now().Add(10 * time.Second)
	var tokB int64
	for {
		if tokB, ok, err = b.TryLock(ctx, "b", "https://b", "https://b:1", time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never took the expired lock")
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if tokB <= tokA {
		t.Fatalf("token did not grow: a %d, b %d", tokA, tokB)
	}
	if err := b.Activate(ctx, tokB); err != nil {
		t.Fatal(err)
	}
	if got := b.Position().LastWAL; got != 5 {
		t.Fatalf("b's position after takeover: LastWAL %d, want 5", got)
	}
	// a wakes up still holding its old token: its commit must fail.
	if _, err := a.Write(ctx, put("k", "stale")); !errors.Is(err, ErrFenced) {
		t.Fatalf("old holder's write: %v, want ErrFenced", err)
	}
	if renewed, err := a.RenewLock(ctx, tokA, ttl); err != nil || renewed {
		t.Fatalf("old holder renewed: %v %v", renewed, err)
	}
	idx, err := b.Write(ctx, put("k", "new"))
	if err != nil || idx != 6 {
		t.Fatalf("new holder's write: index %d, %v; want 6", idx, err)
	}
	if v, err := a.Get(ctx, "k"); err != nil || string(v) != "new" {
		t.Fatalf("k = %q, %v; want the new holder's value", v, err)
	}
	h, ok, err := a.Holder(ctx)
	if err != nil || !ok || h.Holder != "b" || h.Token != tokB || h.APIAddr != "https://b" || h.Expired {
		t.Fatalf("holder %+v %v %v", h, ok, err)
	}
	// A release hands over at once, without waiting for the lease.
	if err := b.ReleaseLock(ctx, tokB); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, put("k", "after release")); !errors.Is(err, ErrFenced) {
		t.Fatalf("write after release: %v, want ErrFenced", err)
	}
	if tok, ok, err := a.TryLock(ctx, "a", "https://a", "https://a:1", time.Minute); err != nil || !ok || tok != tokB+1 {
		t.Fatalf("TryLock after release: %d %v %v", tok, ok, err)
	}
}

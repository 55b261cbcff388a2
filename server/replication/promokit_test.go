package replication

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestPromotionKitMadeAhead: a kit made ahead is what the promotion takes,
// once; one for another DR set or older than kitMaxAge is not used.
func TestPromotionKitMadeAhead(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &Manager{log: slog.Default(), now: func() time.Time { return now }}
	m.prepareKit("set-a")
	m.background.Wait()
	ready := m.kits.kit
	if ready == nil || ready.clusterID != "set-a" || !ready.made.Equal(now) {
		t.Fatalf("no kit made ahead for set-a: %+v", ready)
	}
	m.prepareKit("set-a") // fresh: nothing new is made
	m.background.Wait()
	if m.kits.kit != ready {
		t.Fatal("a fresh kit was replaced")
	}
	got, err := m.takeKit(context.Background(), "set-a")
	if err != nil || got != ready {
		t.Fatalf("took %p (err %v), want the kit made ahead %p", got, err, ready)
	}
	if m.kits.kit != nil {
		t.Fatal("the kit stayed in the cache after it was taken")
	}

	// A promotion while a kit is being made waits for that one.
	m.prepareKit("set-a")
	if got, err := m.takeKit(context.Background(), "set-a"); err != nil || got == nil || !got.made.Equal(now) {
		t.Fatalf("took %+v (err %v) while one was made", got, err)
	}
	m.background.Wait()
	if m.kits.kit != nil || m.kits.making != nil {
		t.Fatal("the kit made meanwhile stayed in the cache")
	}
	if got.ca.Cert.Subject.CommonName != "vaultrepl DR CA set-a" {
		t.Fatalf("CA subject %q", got.ca.Cert.Subject.CommonName)
	}

	// Another DR set, or too old: made anew at take time.
	m.prepareKit("set-a")
	m.background.Wait()
	old := m.kits.kit
	if got, err := m.takeKit(context.Background(), "set-b"); err != nil || got == old || got.clusterID != "set-b" {
		t.Fatalf("took %+v (err %v) for set-b", got, err)
	}
	m.prepareKit("set-a")
	m.background.Wait()
	old = m.kits.kit
	now = now.Add(kitMaxAge)
	if got, err := m.takeKit(context.Background(), "set-a"); err != nil || got == old || !got.made.Equal(now) {
		t.Fatalf("took a kit made %v (err %v), want one made now (%v)", got.made, err, now)
	}
}

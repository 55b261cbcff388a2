package drtest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDRGuide walks the whole DR guide on two live clusters: enable a
// primary, admit a secondary, converge, generate a DR operation token with
// the primary's shares, promote, demote the old primary, re-point it without
// a wipe, revoke it, and restart the DR set with a new cluster id.
func TestDRGuide(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	a.write(a.root, "secret/before-dr", map[string]any{"v": "1"})
	b.write(b.root, "secret/only-on-b", map[string]any{"v": "wiped"})

	sec, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{})
	if err != nil || len(sec.Warnings) == 0 {
		t.Fatalf("enable primary: %v %+v", err, sec)
	}
	st := a.status()
	if st.Mode != "primary" || st.State != "running" || len(st.ClusterID) != 36 || len(st.MerkleRoot) != 40 {
		t.Fatalf("primary status %+v", st)
	}
	clusterID := st.ClusterID

	token := a.secondaryToken(a.root, "b", nil)
	if strings.Count(token, ".") != 2 {
		t.Fatalf("activation token is not a compact JWS: %d dots", strings.Count(token, "."))
	}
	if sec, err = b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil || len(sec.Warnings) == 0 {
		t.Fatalf("enable secondary: %v %+v", err, sec)
	}
	waitInSync(t, a, b)
	st = b.status()
	if st.ClusterID != clusterID || st.SecondaryID != "b" || st.PrimaryClusterAddr == "" || len(st.KnownPrimaryClusterAddrs) != 1 {
		t.Fatalf("secondary status %+v", st)
	}
	if p := a.status(); len(p.KnownSecondaries) != 1 || p.KnownSecondaries[0] != "b" {
		t.Fatalf("known_secondaries %v", p.KnownSecondaries)
	}
	eventually(t, "primary sees b connected", 10*time.Second, func() (bool, string) {
		p := a.status()
		ok := len(p.Secondaries) == 1 && p.Secondaries[0].ConnectionStatus == "connected" && p.Secondaries[0].LastHeartBeat != ""
		return ok, "secondaries: " + strings.TrimSpace(strings.ReplaceAll(formatInfo(p.Secondaries), "\n", " "))
	})

	// Writes on the primary flow to the secondary.
	a.write(a.root, "secret/after-dr", map[string]any{"v": "2"})
	waitInSync(t, a, b)

	// A DR secondary refuses normal requests, whatever the token.
	if code, body := b.raw(http.MethodGet, "/v1/secret/before-dr", a.root, ""); code != 400 || !strings.Contains(body, "path disabled in replication DR secondary mode") {
		t.Fatalf("read on secondary: %d %s", code, body)
	}
	if code, _ := b.raw(http.MethodGet, "/v1/sys/health", "", ""); code != 472 {
		t.Fatalf("health on secondary: %d, want 472", code)
	}

	// Generate a DR operation token with the PRIMARY's shares and promote.
	opToken := b.drOperationToken(a.keys)
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/promote", map[string]any{"dr_operation_token": opToken}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if st := b.status(); st.Mode != "primary" || st.ClusterID != clusterID {
		t.Fatalf("after promote: %+v", st)
	}
	// The promoted cluster takes writes at once, with the old primary's root
	// token; what was only on B before enabling is gone.
	b.write(a.root, "secret/after-promote", map[string]any{"v": "3"})
	if s, err := b.client(a.root).Logical().Read("secret/before-dr"); err != nil || s == nil || s.Data["v"] != "1" {
		t.Fatalf("replicated secret on promoted B: %v %v", s, err)
	}
	if s, err := b.client(a.root).Logical().Read("secret/only-on-b"); err != nil || s != nil {
		t.Fatalf("B's own secret survived enabling it as a secondary: %v %v", s, err)
	}

	// Demote the old primary: it refuses writes at once.
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/demote", map[string]any{}); err != nil {
		t.Fatalf("demote: %v", err)
	}
	if code, body := a.raw(http.MethodPut, "/v1/secret/x", a.root, `{"v":"no"}`); code != 400 || !strings.Contains(body, "DR secondary mode") {
		t.Fatalf("write on demoted A: %d %s", code, body)
	}
	if st := a.status(); st.Mode != "secondary" || st.State != "idle" || st.ClusterID != clusterID {
		t.Fatalf("demoted status %+v", st)
	}

	// Re-point A at B without a wipe.
	tokenA := b.secondaryToken(a.root, "a", nil)
	opTokenA := a.drOperationToken(a.keys)
	if _, err := a.client("").Logical().Write("sys/replication/dr/secondary/update-primary", map[string]any{"token": tokenA, "dr_operation_token": opTokenA}); err != nil {
		t.Fatalf("update-primary: %v", err)
	}
	waitInSync(t, b, a)

	// Revoke A: its stream is cut and it cannot reconnect.
	if _, err := b.client(a.root).Logical().Write("sys/replication/dr/primary/revoke-secondary", map[string]any{"id": "a"}); err != nil {
		t.Fatalf("revoke-secondary: %v", err)
	}
	eventually(t, "revoked A leaves stream-wals", 10*time.Second, func() (bool, string) {
		s := a.status()
		ok := s.State != "stream-wals" && len(s.Primaries) == 1 && s.Primaries[0].ConnectionStatus == "disconnected"
		return ok, "state " + s.State
	})
	if p := b.status(); len(p.KnownSecondaries) != 0 {
		t.Fatalf("known_secondaries after revoke: %v", p.KnownSecondaries)
	}

	// Disable the primary and enable it again: a new DR set.
	if _, err := b.client(a.root).Logical().Write("sys/replication/dr/primary/disable", map[string]any{}); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if st := b.status(); st.Mode != "disabled" {
		t.Fatalf("after disable: %+v", st)
	}
	if _, err := b.client(a.root).Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatalf("re-enable: %v", err)
	}
	if st := b.status(); st.ClusterID == clusterID || st.ClusterID == "" {
		t.Fatalf("re-enabled primary kept cluster id %s", st.ClusterID)
	}
}

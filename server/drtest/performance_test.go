package drtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// perfStatus reads sys/replication/performance/status through the
// official client.
func (c *cluster) perfStatus() (mode, clusterID string, known []string, lastWAL uint64) {
	c.t.Helper()
	st, err := c.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
	if err != nil {
		c.t.Fatalf("%s: performance status: %v", c.name, err)
	}
	return st.Mode, st.ClusterID, st.KnownSecondaries, st.LastPerformanceWAL
}

// TestPerformancePrimaryBesideDR: one cluster is a DR primary and a
// performance primary at once, each family with its own set id, CA and
// secondaries; the DR pair keeps streaming through the shared cluster port
// while the performance family changes state; status, health and
// sys/replication/status report both, and each family's wrong-state
// answers name its own paths.
func TestPerformancePrimaryBesideDR(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	pairUp(t, a, b, "")
	drID := a.status().ClusterID

	if mode, _, _, _ := a.perfStatus(); mode != "disabled" {
		t.Fatalf("performance mode before enable: %q", mode)
	}
	code, body := ctlCall(t, a, "PUT", "/v1/sys/replication/performance/primary/secondary-token", a.root, `{"id":"ps"}`)
	wantAPIError(t, "performance secondary-token before enable", code, body, 400, "sys/replication/performance/primary/enable")

	sec, err := a.rootClient().Logical().Write("sys/replication/performance/primary/enable", nil)
	if err != nil {
		t.Fatalf("enable performance primary: %v", err)
	}
	if len(sec.Warnings) == 0 || !strings.Contains(sec.Warnings[0], "performance primary") || !strings.Contains(sec.Warnings[0], "sys/replication/performance/primary/secondary-token") {
		t.Fatalf("enable warning: %v", sec.Warnings)
	}
	mode, perfID, _, lastWAL := a.perfStatus()
	if mode != "primary" || perfID == "" || perfID == drID {
		t.Fatalf("performance status: mode %q id %q (DR id %q)", mode, perfID, drID)
	}
	code, body = ctlCall(t, a, "PUT", "/v1/sys/replication/performance/primary/enable", a.root, `{}`)
	wantAPIError(t, "second performance enable", code, body, 400, "already a performance primary")

	// Both families in one answer, and in health.
	all, err := a.client("").Sys().ReplicationStatus()
	if err != nil {
		t.Fatal(err)
	}
	if all.DR.Mode != "primary" || all.DR.ClusterID != drID || all.Performance.Mode != "primary" || all.Performance.ClusterID != perfID {
		t.Fatalf("sys/replication/status: %+v", all)
	}
	h, err := a.client("").Sys().Health()
	if err != nil {
		t.Fatal(err)
	}
	if h.ReplicationDRMode != "primary" || h.ReplicationPerformanceMode != "primary" {
		t.Fatalf("health: dr %q performance %q", h.ReplicationDRMode, h.ReplicationPerformanceMode)
	}

	// A performance activation token: its own creation path, its own set.
	tw, err := a.rootClient().Logical().Write("sys/replication/performance/primary/secondary-token", map[string]any{"id": "ps"})
	if err != nil || tw.WrapInfo == nil || tw.WrapInfo.Token == "" {
		t.Fatalf("performance secondary-token: %v %+v", err, tw)
	}
	tok := tw.WrapInfo.Token
	look, err := a.client("").Logical().Write("sys/wrapping/lookup", map[string]any{"token": tok})
	if err != nil || look.Data["creation_path"] != "sys/replication/performance/primary/secondary-token" {
		t.Fatalf("wrap lookup: %v %+v", err, look)
	}
	if _, _, known, _ := a.perfStatus(); !slices.Equal(known, []string{"ps"}) {
		t.Fatalf("performance known_secondaries: %v", known)
	}
	if st := a.status(); !slices.Equal(st.KnownSecondaries, []string{"b"}) {
		t.Fatalf("DR known_secondaries changed: %v", st.KnownSecondaries)
	}
	un, err := a.client(tok).Logical().Unwrap(tok)
	if err != nil || un.Data["cluster_id"] != perfID || un.Data["id"] != "ps" {
		t.Fatalf("unwrap performance token: %v %+v", err, un)
	}
	if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/revoke-secondary", map[string]any{"id": "ps"}); err != nil {
		t.Fatalf("revoke performance secondary: %v", err)
	}
	if _, _, known, _ := a.perfStatus(); len(known) != 0 {
		t.Fatalf("performance known_secondaries after revoke: %v", known)
	}

	// A paths filter for a secondary that has no token yet, as Vault allows.
	const pFilter = "sys/replication/performance/primary/paths-filter/ps2"
	if _, err := a.rootClient().Logical().Write(pFilter, map[string]any{"mode": "deny", "paths": []string{"kv-b", "secret/"}}); err != nil {
		t.Fatalf("write paths filter: %v", err)
	}
	fr, err := a.rootClient().Logical().Read(pFilter)
	if err != nil || fr == nil || fr.Data["mode"] != "deny" || fmt.Sprint(fr.Data["paths"]) != "[kv-b/ secret/]" {
		t.Fatalf("read paths filter: %v %+v", err, fr)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"mode":"block","paths":["secret/"]}`, "mode"},
		{`{"mode":"allow"}`, "paths"},
		{`{"mode":"allow","paths":["sys/"]}`, "sys/"},
		{`{"mode":"allow","paths":["a/*"]}`, "glob"},
	} {
		code, body := ctlCall(t, a, "PUT", "/v1/"+pFilter, a.root, tc.body)
		wantAPIError(t, "paths filter "+tc.body, code, body, 400, tc.want)
	}
	code, body = ctlCall(t, a, "PUT", "/v1/"+pFilter, "", `{"mode":"allow","paths":["secret/"]}`)
	wantAPIError(t, "paths filter without a token", code, body, 403, "permission denied")
	if _, err := a.rootClient().Logical().Delete(pFilter); err != nil {
		t.Fatalf("delete paths filter: %v", err)
	}
	if fr, err := a.rootClient().Logical().Read(pFilter); err != nil || fr != nil {
		t.Fatalf("read deleted paths filter: %v %+v", err, fr)
	}
	code, _ = ctlCall(t, a, "GET", "/v1/sys/replication/dr/primary/paths-filter/ps2", a.root, "")
	if code != 404 {
		t.Fatalf("a DR paths filter path answered %d, want 404 (DR has none)", code)
	}

	// The DR secondary still follows every write, through the same port.
	a.write(a.root, "secret/after-perf", map[string]any{"v": "1"})
	waitInSync(t, a, b)
	if v := readSecretV(t, a, a.root, "secret/after-perf"); v != "1" {
		t.Fatalf("read back: %q", v)
	}
	if _, _, _, now := a.perfStatus(); now <= lastWAL {
		t.Fatalf("last_performance_wal did not move with a write: %d then %d", lastWAL, now)
	}

	if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/disable", nil); err != nil {
		t.Fatalf("disable performance primary: %v", err)
	}
	if mode, _, _, _ := a.perfStatus(); mode != "disabled" {
		t.Fatalf("performance mode after disable: %q", mode)
	}
	code, body = ctlCall(t, a, "PUT", "/v1/"+pFilter, a.root, `{"mode":"allow","paths":["secret/"]}`)
	wantAPIError(t, "paths filter on a disabled performance primary", code, body, 400, "sys/replication/performance/primary/enable")
	if st := a.status(); st.Mode != "primary" || st.ClusterID != drID {
		t.Fatalf("DR status after performance disable: %+v", st)
	}
	a.write(a.root, "secret/after-disable", map[string]any{"v": "2"})
	waitInSync(t, a, b)
}

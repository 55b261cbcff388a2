package drtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// connectionState reads the secondary's connection_state, which the official
// client's status type does not carry.
func connectionState(t *testing.T, c *cluster) string {
	t.Helper()
	code, body := c.raw(http.MethodGet, "/v1/sys/replication/dr/status", "", "")
	var st struct {
		Data struct {
			ConnectionState string `json:"connection_state"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
		t.Fatalf("%s: DR status %d: %v", c.name, code, err)
	}
	return st.Data.ConnectionState
}

// TestStatusFollowsEvents reads both sides' status in every phase and checks
// the fields against what happened: they come from real events, not defaults.
func TestStatusFollowsEvents(t *testing.T) {
	a, b := startCluster(t, "A"), startCluster(t, "B")
	if st := a.status(); st.Mode != "disabled" || st.ClusterID != "" {
		t.Fatalf("before enabling: %+v", st)
	}
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	p := a.status()
	if p.Mode != "primary" || p.State != "running" || len(p.KnownSecondaries) != 0 || p.LastReindexEpoch != "0" {
		t.Fatalf("new primary: %+v", p)
	}
	token := a.secondaryToken(a.root, "b", nil)
	if p2 := a.status(); len(p2.KnownSecondaries) != 1 || len(p2.Secondaries) != 1 || p2.Secondaries[0].ConnectionStatus != "disconnected" {
		t.Fatalf("admitted but not yet connected: %+v", p2)
	}
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, a, b)
	s := b.status()
	if s.Mode != "secondary" || len(s.Primaries) != 1 || s.Primaries[0].ConnectionStatus != "connected" {
		t.Fatalf("streaming secondary: %+v", s)
	}
	var first string
	eventually(t, "primary records heartbeats from b", 10*time.Second, func() (bool, string) {
		p := a.status()
		if len(p.Secondaries) != 1 || p.Secondaries[0].LastHeartBeat == "" {
			return false, formatInfo(p.Secondaries)
		}
		if _, err := time.Parse(time.RFC3339, p.Secondaries[0].LastHeartBeat); err != nil {
			return false, "last_heartbeat not RFC 3339: " + p.Secondaries[0].LastHeartBeat
		}
		first = p.Secondaries[0].LastHeartBeat
		return p.Secondaries[0].ConnectionStatus == "connected", formatInfo(p.Secondaries)
	})
	eventually(t, "last_heartbeat moves", 5*time.Second, func() (bool, string) {
		p := a.status()
		return p.Secondaries[0].LastHeartBeat != first, p.Secondaries[0].LastHeartBeat
	})

	// last_wal moves by one per replicated write and not at all for reads.
	before := a.status().LastWAL
	for i := range 10 {
		a.write(a.root, fmt.Sprintf("secret/status/%d", i), map[string]any{"v": i})
	}
	for range 5 {
		if _, err := a.rootClient().Logical().Read("secret/status/1"); err != nil {
			t.Fatal(err)
		}
	}
	if after := a.status().LastWAL; after != before+10 {
		t.Fatalf("last_wal moved from %d to %d after 10 writes and 5 reads, want +10", before, after)
	}
	waitInSync(t, a, b)

	// The primary goes away: the secondary says so and retries.
	a.srv.Kill()
	eventually(t, "secondary notices the lost primary", 15*time.Second, func() (bool, string) {
		s := b.status()
		conn := connectionState(t, b)
		ok := s.State != "stream-wals" && (conn == "transient_failure" || conn == "connecting") &&
			len(s.Primaries) == 1 && s.Primaries[0].ConnectionStatus == "disconnected"
		return ok, fmt.Sprintf("state %s connection_state %s", s.State, conn)
	})
	if s := b.status(); s.LastRemoteWAL != before+10 {
		t.Fatalf("last_remote_wal %d after the primary died, want %d", s.LastRemoteWAL, before+10)
	}
	a.srv.Restart()
	a.unseal(a.keys)
	waitInSync(t, a, b)
	if conn := connectionState(t, b); conn != "ready" {
		t.Fatalf("connection_state after reconnect: %s", conn)
	}
}

package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestLeaderThroughClient: sys/leader answers as a non-HA Vault node does,
// unauthenticated and whether or not the cluster is initialised or sealed,
// which is what vault status and vault operator unseal need.
func TestLeaderThroughClient(t *testing.T) {
	tc := newCluster(t)
	if _, err := tc.client("").Sys().Leader(); err != nil {
		t.Fatalf("Leader on an uninitialised cluster: %v", err)
	}
	tc = newUnsealedCluster(t)
	check := func(state string) {
		t.Helper()
		l, err := tc.client("").Sys().Leader()
		if err != nil {
			t.Fatalf("Leader while %s: %v", state, err)
		}
		if l.HAEnabled || l.IsSelf || l.LeaderAddress != "" || l.LeaderClusterAddress != "" || l.PerfStandby {
			t.Fatalf("Leader while %s = %+v, want a non-HA node's answer", state, l)
		}
		code, body := tc.do(http.MethodGet, "/v1/sys/leader", "", "")
		var got map[string]any
		if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil {
			t.Fatalf("GET sys/leader while %s: %d %s", state, code, body)
		}
		for _, k := range []string{"ha_enabled", "is_self", "active_time", "leader_address", "leader_cluster_address", "performance_standby", "performance_standby_last_remote_wal"} {
			if _, ok := got[k]; !ok {
				t.Fatalf("sys/leader while %s lacks %q: %s", state, k, body)
			}
		}
		// Vault's non-HA node reports its newest WAL index.
		if wal, _ := got["last_wal"].(float64); uint64(wal) != tc.store.Position().LastWAL {
			t.Fatalf("last_wal while %s = %v, want %d", state, got["last_wal"], tc.store.Position().LastWAL)
		}
	}
	check("unsealed")
	if err := tc.client(tc.root).Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	check("sealed")
}

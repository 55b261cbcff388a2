package drtest

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// metricValue reads one sample from sys/metrics?format=prometheus.
func metricValue(t *testing.T, c *cluster, token, name string) (float64, bool) {
	t.Helper()
	code, body := c.raw(http.MethodGet, "/v1/sys/metrics?format=prometheus", token, "")
	if code != http.StatusOK {
		t.Fatalf("%s: metrics answered %d: %s", c.name, code, body)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: metric %s = %q", c.name, name, m[1])
	}
	return v, true
}

// TestMetricsFollowReplication: the Prometheus metrics need a token and
// count what replication really did on each side.
func TestMetricsFollowReplication(t *testing.T) {
	a, b := setupPair(t, "")
	if code, _ := a.raw(http.MethodGet, "/v1/sys/metrics?format=prometheus", "", ""); code != http.StatusForbidden {
		t.Fatalf("metrics without a token: %d, want 403", code)
	}
	for i := range 5 {
		a.write(a.root, "secret/m/"+strconv.Itoa(i), map[string]any{"v": i})
	}
	waitInSync(t, a, b)
	st := a.status()
	if v, ok := metricValue(t, a, a.root, "vaultrepl_wal_index"); !ok || uint64(v) != st.LastWAL {
		t.Fatalf("primary vaultrepl_wal_index = %v (present %v), status last_wal %d", v, ok, st.LastWAL)
	}
	// The secondary reports what it applied with its next heartbeat.
	eventually(t, "primary's lag metric for b drops to 0", 10*time.Second, func() (bool, string) {
		v, ok := metricValue(t, a, a.root, `vaultrepl_replication_secondary_lag_entries{secondary_id="b"}`)
		return ok && v == 0, "lag " + strconv.FormatFloat(v, 'f', -1, 64)
	})
	if v, ok := metricValue(t, a, a.root, "vaultrepl_replication_wal_entries_sent_total"); !ok || v < 5 {
		t.Fatalf("primary sent %v WAL entries, want at least 5", v)
	}
	// The secondary: one merkle sync (its bootstrap), and applied batches.
	if v, ok := metricValue(t, b, a.root, "vaultrepl_replication_merkle_syncs_total"); !ok || v != 1 {
		t.Fatalf("secondary merkle syncs = %v, want 1", v)
	}
	if v, ok := metricValue(t, b, a.root, "vaultrepl_replication_apply_batch_entries_count"); !ok || v < 1 {
		t.Fatalf("secondary applied %v batches, want at least 1", v)
	}
	if v, ok := metricValue(t, b, a.root, "vaultrepl_replication_apply_batch_entries_sum"); !ok || v < 5 {
		t.Fatalf("secondary applied %v entries, want at least 5", v)
	}
	if v, ok := metricValue(t, a, a.root, `vaultrepl_http_requests_total{route="PUT secret/*path",code="204"}`); !ok || v < 5 {
		t.Fatalf("request count for KV writes = %v, want at least 5", v)
	}
}

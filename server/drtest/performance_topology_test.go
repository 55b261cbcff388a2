package drtest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// The failover tutorial's topology: a performance primary P, its
// performance secondary PS, and a DR secondary of each. These tests lose
// one cluster at a time and promote its DR secondary, as the DR API page
// describes.

// drStatusField reads one field of sys/replication/dr/status as JSON.
func (c *cluster) drStatusField(name string) string {
	c.t.Helper()
	s, err := c.client("").Logical().Read("sys/replication/dr/status")
	if err != nil || s == nil {
		c.t.Fatalf("%s: DR status: %v", c.name, err)
	}
	return fmt.Sprint(s.Data[name])
}

// waitCarried waits until DR secondary s holds the local keys its primary
// p has that the WAL does not carry (carried_keys_digest).
func waitCarried(t *testing.T, p, s *cluster) {
	t.Helper()
	eventually(t, s.name+" holds "+p.name+"'s carried keys", 30*time.Second, func() (bool, string) {
		pd, sd := p.drStatusField("carried_keys_digest"), s.drStatusField("carried_keys_digest")
		return pd != "" && pd != "<nil>" && pd == sd, "primary " + pd + " secondary " + sd
	})
}

// perfFull reads sys/replication/performance/status through the client.
func (c *cluster) perfFull() (mode, clusterID, state string, known []string) {
	c.t.Helper()
	st, err := c.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
	if err != nil {
		c.t.Fatalf("%s: performance status: %v", c.name, err)
	}
	return st.Mode, st.ClusterID, st.State, st.KnownPrimaryClusterAddrs
}

// TestPerformancePrimaryDRFailover: P is a performance primary with a
// performance secondary PS and a DR secondary DRP. Writes land on P,
// directly and forwarded from PS; P is killed and DRP promoted: DRP is
// the performance primary of the same set, PS follows it without
// update-primary (it learnt DRP's address from P), what DRP writes
// afterwards reads on PS, PS's forwarded writes land on DRP, and every
// acknowledged write reads on both.
func TestPerformancePrimaryDRFailover(t *testing.T) {
	p := startCluster(t, "P")
	ps := startCluster(t, "PS")
	drp := startCluster(t, "DRP")
	pairUp(t, p, drp, "")
	psRoot := perfPair(t, p, ps)
	_, perfID, _, _ := p.perfFull()
	drpAddr := "https://" + drp.srv.Cluster
	eventually(t, "PS knows DRP's cluster address", 30*time.Second, func() (bool, string) {
		_, _, _, known := ps.perfFull()
		return slices.Contains(known, drpAddr), fmt.Sprint(known)
	})

	acked := map[string]string{}
	for i := range 10 {
		path, v := fmt.Sprintf("secret/p/%d", i), fmt.Sprintf("p-%d", i)
		p.write(p.root, path, map[string]any{"v": v})
		acked[path] = v
		path, v = fmt.Sprintf("secret/ps/%d", i), fmt.Sprintf("ps-%d", i)
		ps.write(psRoot, path, map[string]any{"v": v}) // forwarded to P
		acked[path] = v
	}
	waitInSync(t, p, drp)
	waitCarried(t, p, drp)

	p.srv.Kill()
	promote(t, drp, p.keys)
	if mode, id, _, _ := drp.perfFull(); mode != "primary" || id != perfID {
		t.Fatalf("promoted DRP's performance status: mode %q id %q, want primary %q", mode, id, perfID)
	}
	// P's tokens work on DRP (a DR secondary keeps them).
	drp.write(p.root, "secret/after", map[string]any{"v": "new"})
	acked["secret/after"] = "new"
	eventually(t, "PS reads what DRP wrote after the failover", 60*time.Second, func() (bool, string) {
		v, err := readV(ps, psRoot, "secret/after")
		return err == nil && v == "new", fmt.Sprint(v, err)
	})
	ps.write(psRoot, "secret/ps-after", map[string]any{"v": "fwd"})
	acked["secret/ps-after"] = "fwd"
	if v := readSecretV(t, drp, p.root, "secret/ps-after"); v != "fwd" {
		t.Fatalf("PS's forwarded write after the failover is not on DRP: %q", v)
	}
	for path, want := range acked {
		if v := readSecretV(t, drp, p.root, path); v != want {
			t.Fatalf("DRP reads %q for %s, want %q", v, path, want)
		}
		eventually(t, "PS reads "+path, 30*time.Second, func() (bool, string) {
			v, err := readV(ps, psRoot, path)
			return err == nil && v == want, fmt.Sprint(v, err)
		})
	}
	if mode, id, state, _ := ps.perfFull(); mode != "secondary" || id != perfID || state != "stream-wals" {
		t.Fatalf("PS's performance status after the failover: %s %s %s", mode, id, state)
	}
}


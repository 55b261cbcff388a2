package drtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// waitPerfCaughtUp waits until performance secondary b has applied every
// WAL index of its primary a (excluded entries arrive as placeholders, so
// the indexes meet even though the data differs).
func waitPerfCaughtUp(t *testing.T, a, b *cluster) {
	t.Helper()
	eventually(t, b.name+" caught up with "+a.name, 30*time.Second, func() (bool, string) {
		p, err := a.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
		if err != nil {
			return false, err.Error()
		}
		s, err := b.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return s.State == "stream-wals" && s.LastRemoteWAL == p.LastPerformanceWAL, "primary " + p.State + " / secondary " + s.State
	})
}

// TestPerformanceKillSecondaryDuringLoad: a performance secondary SIGKILLed
// three times under a write load on its primary resumes from its own index
// (no new merkle sync) and ends with exactly the acknowledged writes.
func TestPerformanceKillSecondaryDuringLoad(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	perfPair(t, a, b)
	l := startLoad(t, 4, 100000, func() (string, string) { return a.srv.Addr, a.root })
	for i := range 3 {
		l.waitAcked(40)
		b.srv.Kill()
		l.waitAcked(40)
		b.srv.Restart()
		b.unseal(a.keys)
		began := time.Now()
		eventually(t, "restarted performance secondary streams again", 30*time.Second, func() (bool, string) {
			s, err := b.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
			if err != nil {
				return false, err.Error()
			}
			return s.State == "stream-wals", "state " + s.State
		})
		t.Logf("kill %d: streaming again after %s; %d writes acknowledged so far", i+1, time.Since(began).Round(time.Millisecond), l.ackedCount())
	}
	l.stop()
	waitPerfCaughtUp(t, a, b)
	if n := countLines(a.srv.Output(), "secondary needs a merkle sync"); n != 1 {
		t.Fatalf("primary ran %d merkle syncs for b, want only the first one", n)
	}
	attempted, acked := l.snapshot()
	a.srv.Kill()
	b.srv.Kill()
	checkKeys(t, "primary", storedKeys(t, a), attempted, acked)
	checkKeys(t, "performance secondary", storedKeys(t, b), attempted, acked)
}

// loadKV2 is the KV v2 mount the forwarded loads write to: every landing
// of a write is a version, so a write that landed twice shows.
const loadKV2 = "kv2"

// mountLoadKV2 mounts loadKV2 on performance primary a.
func mountLoadKV2(t *testing.T, a *cluster) {
	t.Helper()
	if err := a.rootClient().Sys().Mount(loadKV2, &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount %s: %v", loadKV2, err)
	}
}

// checkForwardedLoad checks what a forwarded load left on c, through its
// API: every acknowledged write is there, nothing that was never sent is,
// and every key there landed once (version 1) with the value its writer
// sent. A write whose answer was lost may be there or not.
func checkForwardedLoad(t *testing.T, where string, c *cluster, token string, attempted, acked map[string]bool) {
	t.Helper()
	client := c.client(token)
	s, err := client.Logical().List(loadKV2 + "/metadata/load/")
	if err != nil || s == nil {
		t.Fatalf("%s: list %s/metadata/load/: %v", where, loadKV2, err)
	}
	raw, _ := s.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		keys = append(keys, fmt.Sprint(k))
	}
	checkKeys(t, where, keys, attempted, acked)
	unacked := 0
	for _, k := range keys {
		if !acked[k] {
			unacked++
		}
		d, err := client.Logical().Read(loadKV2 + "/data/load/" + k)
		if err != nil || d == nil {
			t.Fatalf("%s: read %s: %v", where, k, err)
		}
		data, _ := d.Data["data"].(map[string]any)
		meta, _ := d.Data["metadata"].(map[string]any)
		if v := fmt.Sprint(data["v"]); v != k {
			t.Errorf("%s: %s holds %q, not the value its writer sent", where, k, v)
		}
		if ver := fmt.Sprint(meta["version"]); ver != "1" {
			t.Errorf("%s: %s is at version %s: the write landed more than once", where, k, ver)
		}
	}
	t.Logf("%s: %d keys, %d acknowledged writes, %d landed without their answer reaching the client", where, len(keys), len(acked), unacked)
}

// TestPerformanceKillPrimaryForwardedLoad: writes forwarded from the
// performance secondary while its primary is SIGKILLed and restarted:
// every acknowledged one is on the primary and back on the secondary,
// none that was never sent is there, none landed twice or with another
// value, and the secondary resumes from its index (the restarted primary
// runs no merkle sync).
func TestPerformanceKillPrimaryForwardedLoad(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	mountLoadKV2(t, a)
	bRoot := perfPair(t, a, b)
	l := startLoadAt(t, 8, 2000, func() (string, string) { return b.srv.Addr, bRoot }, loadKV2)
	l.waitAcked(100)
	a.srv.Kill()
	a.srv.Restart()
	a.unseal(a.keys)
	l.waitAcked(100)
	l.stop()
	waitPerfCaughtUp(t, a, b)
	if n := countLines(a.srv.Output(), "secondary needs a merkle sync"); n != 0 {
		t.Fatalf("the restarted primary ran %d merkle syncs for b, want none (b resumes from its index)", n)
	}
	if n := countLines(a.srv.Output(), "secondary connected"); n == 0 {
		t.Fatal("b never streamed from the restarted primary")
	}
	attempted, acked := l.snapshot()
	checkForwardedLoad(t, "primary", a, a.root, attempted, acked)
	checkForwardedLoad(t, "performance secondary", b, bRoot, attempted, acked)
}

// TestPerformanceKillSecondaryForwardedLoad: the performance secondary is
// SIGKILLed twice while clients write through it (forwarded writes in
// flight lose their answers). It resumes from its index each time (no new
// merkle sync), and both clusters end with every acknowledged write, none
// never sent, none landed twice or with another value.
func TestPerformanceKillSecondaryForwardedLoad(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	mountLoadKV2(t, a)
	bRoot := perfPair(t, a, b)
	l := startLoadAt(t, 8, 2000, func() (string, string) { return b.srv.Addr, bRoot }, loadKV2)
	for i := range 2 {
		l.waitAcked(60)
		b.srv.Kill()
		b.srv.Restart()
		b.unseal(a.keys)
		eventually(t, "restarted performance secondary streams again", 30*time.Second, func() (bool, string) {
			s, err := b.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
			if err != nil {
				return false, err.Error()
			}
			return s.State == "stream-wals", "state " + s.State
		})
		t.Logf("kill %d: %d writes acknowledged so far", i+1, l.ackedCount())
	}
	l.waitAcked(60)
	l.stop()
	waitPerfCaughtUp(t, a, b)
	if n := countLines(a.srv.Output(), "secondary needs a merkle sync"); n != 1 {
		t.Fatalf("primary ran %d merkle syncs for b, want only the first one (b resumes from its index)", n)
	}
	attempted, acked := l.snapshot()
	checkForwardedLoad(t, "primary", a, a.root, attempted, acked)
	checkForwardedLoad(t, "performance secondary", b, bRoot, attempted, acked)
}

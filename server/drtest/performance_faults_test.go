package drtest

import (
	"context"
	"testing"
	"time"
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

// TestPerformanceKillPrimaryForwardedLoad: writes forwarded from the
// performance secondary while its primary is SIGKILLed and restarted:
// every acknowledged one is on the primary and back on the secondary, and
// none that failed is invented.
func TestPerformanceKillPrimaryForwardedLoad(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	bRoot := perfPair(t, a, b)
	l := startLoad(t, 8, 2000, func() (string, string) { return b.srv.Addr, bRoot })
	l.waitAcked(100)
	a.srv.Kill()
	a.srv.Restart()
	a.unseal(a.keys)
	l.waitAcked(100)
	l.stop()
	waitPerfCaughtUp(t, a, b)
	attempted, acked := l.snapshot()
	a.srv.Kill()
	b.srv.Kill()
	checkKeys(t, "primary", storedKeys(t, a), attempted, acked)
	checkKeys(t, "performance secondary", storedKeys(t, b), attempted, acked)
}

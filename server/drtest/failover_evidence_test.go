package drtest

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// failoverRecord is the part of sys/vaultrepl/dr/failovers this test checks.
type failoverRecord struct {
	ID                       string     `json:"id"`
	LostPrimaryLastHeartbeat *time.Time `json:"lost_primary_last_heartbeat"`
	LostPrimaryLastWAL       uint64     `json:"lost_primary_last_wal"`
	AppliedWAL               uint64     `json:"applied_wal"`
	RecoveryPoint            *time.Time `json:"recovery_point"`
	UnreplicatedEntries      uint64     `json:"unreplicated_entries"`
	UnreplicatedSpanSeconds  float64    `json:"unreplicated_span_seconds"`
	FirstWriteAt             *time.Time `json:"first_write_at"`
	RecoveryTimeSeconds      *float64   `json:"recovery_time_seconds"`
	Discarded                *discarded `json:"discarded"`
}

type discarded struct {
	FailoverID string     `json:"failover_id"`
	Writes     uint64     `json:"writes"`
	First      *time.Time `json:"first"`
	Last       *time.Time `json:"last"`
	Complete   bool       `json:"complete"`
	ReportedBy string     `json:"reported_by"`
}

type failoverHistory struct {
	Failovers []failoverRecord `json:"failovers"`
	Discarded []discarded      `json:"discarded"`
}

// failovers reads c's failover history (a DR set shares its tokens: pass
// the original primary's root token).
func (c *cluster) failovers(token string) failoverHistory {
	c.t.Helper()
	code, body := c.raw("GET", "/v1/sys/vaultrepl/dr/failovers", token, "")
	if code != 200 {
		c.t.Fatalf("%s: failovers: %d %s", c.name, code, body)
	}
	var out struct {
		Data failoverHistory `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		c.t.Fatalf("%s: decode failovers: %v", c.name, err)
	}
	return out.Data
}

// metric reads one unlabelled value from c's sys/metrics ("" if absent).
func (c *cluster) metric(token, name string) string {
	c.t.Helper()
	_, body := c.raw("GET", "/v1/sys/metrics?format=prometheus", token, "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestFailoverEvidence: under load, the primary's site is lost: its link
// goes silent while it keeps acknowledging writes, then its process is
// SIGKILLed. The promotion's record must match what this test measured: the
// recovery time within 50 ms, a recovery point that separates the writes
// that survived from those that were lost, and, once the old primary is
// re-pointed, a discarded-write count equal to the test's own.
func TestFailoverEvidence(t *testing.T) {
	a, b := startCluster(t, "A"), startCluster(t, "B")
	link := testserver.ThrottledProxy(t, a.srv.Cluster, 1<<30)
	pairUp(t, a, b, link.Addr)

	var mu sync.Mutex
	target := a
	l := startLoad(t, 6, 4000, func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return target.srv.Addr, a.root
	})
	defer l.stop()
	l.waitAcked(100)
	// The primary's site is lost: first its link goes silent (bytes stop,
	// connections stay open) while it keeps acknowledging writes that can
	// no longer replicate, then its process is SIGKILLed and its link gone.
	silentAt := time.Now()
	link.SetRate(0)
	l.waitAcked(300)
	killAt := time.Now()
	link.Close()
	a.srv.Kill()
	deadAt := time.Now() // A commits nothing after this
	keysA := storedKeys(t, a)

	opToken := b.drOperationToken(a.keys)
	if _, err := b.client("").Logical().Write("sys/replication/dr/secondary/promote", map[string]any{"dr_operation_token": opToken, "force": true}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	mu.Lock()
	target = b
	mu.Unlock()
	l.waitAcked(20)

	var rec failoverRecord
	eventually(t, "B records the first write after the promotion", 30*time.Second, func() (bool, string) {
		h := b.failovers(a.root)
		if len(h.Failovers) != 1 {
			return false, fmt.Sprintf("%d records", len(h.Failovers))
		}
		rec = h.Failovers[0]
		return rec.RecoveryTimeSeconds != nil, "no recovery time yet"
	})
	firstAck := time.Time{}
	for _, w := range l.timings() {
		if w.addr == b.srv.Addr && (firstAck.IsZero() || w.acked.Before(firstAck)) {
			firstAck = w.acked
		}
	}
	// Recovery time as the secondary lives it: from the last word of the
	// primary (its link went silent) to the first write accepted.
	measured := firstAck.Sub(silentAt).Seconds()
	t.Logf("recovery time: recorded %.3fs, measured %.3fs; last heartbeat %s before the link went silent, which was %s before the kill; %d entries known unreplicated over %.3fs",
		*rec.RecoveryTimeSeconds, measured, silentAt.Sub(*rec.LostPrimaryLastHeartbeat), killAt.Sub(silentAt), rec.UnreplicatedEntries, rec.UnreplicatedSpanSeconds)
	if d := math.Abs(*rec.RecoveryTimeSeconds - measured); d > 0.050 {
		t.Errorf("recorded recovery time %.3fs is %.0f ms from the measured %.3fs", *rec.RecoveryTimeSeconds, d*1000, measured)
	}
	if v := b.metric(a.root, "vaultrepl_dr_last_failover_recovery_time_seconds"); v != fmt.Sprint(*rec.RecoveryTimeSeconds) {
		t.Errorf("metric vaultrepl_dr_last_failover_recovery_time_seconds = %q, the record says %v", v, *rec.RecoveryTimeSeconds)
	}
	if rec.LostPrimaryLastWAL != rec.AppliedWAL+rec.UnreplicatedEntries {
		t.Errorf("unreplicated entries %d, but the lost primary was at %d and B applied %d", rec.UnreplicatedEntries, rec.LostPrimaryLastWAL, rec.AppliedWAL)
	}

	// Re-point the old primary: it discards what B never had.
	a.srv.Restart()
	a.unseal(a.keys)
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/demote", map[string]any{}); err != nil {
		t.Fatalf("demote: %v", err)
	}
	token := b.secondaryToken(a.root, "a", nil)
	opA := a.drOperationToken(a.keys)
	if _, err := a.client("").Logical().Write("sys/replication/dr/secondary/update-primary", map[string]any{"token": token, "dr_operation_token": opA}); err != nil {
		t.Fatalf("update-primary: %v", err)
	}
	l.stop()
	waitInSync(t, b, a)
	eventually(t, "B learns what A discarded", 30*time.Second, func() (bool, string) {
		h := b.failovers(a.root)
		rec = h.Failovers[0]
		return rec.Discarded != nil, "not yet"
	})
	var histA failoverHistory
	eventually(t, "A holds B's failover history (replicated)", 10*time.Second, func() (bool, string) {
		histA = a.failovers(a.root)
		ok := len(histA.Failovers) == 1 && histA.Failovers[0].ID == rec.ID && histA.Failovers[0].Discarded != nil
		return ok, fmt.Sprintf("%+v", histA.Failovers)
	})
	localA := histA.Discarded
	b.srv.Kill()
	a.srv.Kill()
	keysB := storedKeys(t, b)

	// The test's own account: keys A held when it died that B never got.
	inB := map[string]bool{}
	for _, k := range keysB {
		inB[k] = true
	}
	times := l.timings()
	var lost, survived []string
	for _, k := range keysA {
		if inB[k] {
			survived = append(survived, k)
		} else {
			lost = append(lost, k)
		}
	}
	for k, w := range times {
		if w.addr == a.srv.Addr && !contains(keysA, k) {
			t.Errorf("write %q acknowledged by A is not in A's database", k)
		}
	}
	t.Logf("A held %d keys at the kill: %d reached B, %d lost; A reports %d discarded, B's record %d",
		len(keysA), len(survived), len(lost), firstDiscard(localA), rec.Discarded.Writes)
	if len(lost) < 300 {
		t.Fatalf("%d writes lost: the 300 acknowledged after the link went silent should be", len(lost))
	}
	if rec.UnreplicatedEntries > uint64(len(lost)) {
		t.Errorf("B knew of %d unreplicated entries, more than the %d lost", rec.UnreplicatedEntries, len(lost))
	}
	if len(localA) != 1 || localA[0].Writes != uint64(len(lost)) || !localA[0].Complete || localA[0].FailoverID != rec.ID {
		t.Errorf("A's discard record %+v; want %d writes for failover %s", localA, len(lost), rec.ID)
	}
	if rec.Discarded.ReportedBy != "a" {
		t.Errorf("B's record has the discards reported by %q, want the old primary (secondary id a)", rec.Discarded.ReportedBy)
	}
	if rec.Discarded.Writes != uint64(len(lost)) {
		t.Errorf("B's record says A discarded %d writes; the test counts %d", rec.Discarded.Writes, len(lost))
	}

	// The recovery point separates survivors from lost writes.
	rp := *rec.RecoveryPoint
	var lastSurvivorSent, firstLostAck time.Time
	for _, k := range survived {
		if w, ok := times[k]; ok && w.sent.After(lastSurvivorSent) {
			lastSurvivorSent = w.sent
		}
	}
	for _, k := range lost {
		if w, ok := times[k]; ok && (firstLostAck.IsZero() || w.acked.Before(firstLostAck)) {
			firstLostAck = w.acked
		}
	}
	t.Logf("recovery point %s; last surviving write sent %s before it, first lost write acknowledged %s after it",
		rp.Format(time.RFC3339Nano), rp.Sub(lastSurvivorSent), firstLostAck.Sub(rp))
	if lastSurvivorSent.After(rp) || firstLostAck.Before(rp) {
		t.Errorf("recovery point %s does not separate the last surviving write (sent %s) from the first lost one (acknowledged %s)",
			rp.Format(time.RFC3339Nano), lastSurvivorSent.Format(time.RFC3339Nano), firstLostAck.Format(time.RFC3339Nano))
	}
	d := rec.Discarded
	if d.First == nil || d.Last == nil || d.First.Before(rp) || d.Last.After(deadAt) {
		t.Errorf("discarded span %v–%v is not within the recovery point %s and A's death %s", d.First, d.Last, rp, deadAt)
	}
	for _, k := range lost {
		if w, ok := times[k]; ok && (w.acked.Before(*d.First) || w.sent.After(*d.Last)) {
			t.Errorf("lost write %q (sent %s, acknowledged %s) outside the discarded span %s–%s", k, w.sent, w.acked, d.First, d.Last)
		}
	}
}

func contains(sorted []string, k string) bool {
	i := sort.SearchStrings(sorted, k)
	return i < len(sorted) && sorted[i] == k
}

func firstDiscard(d []discarded) uint64 {
	if len(d) == 0 {
		return 0
	}
	return d[0].Writes
}

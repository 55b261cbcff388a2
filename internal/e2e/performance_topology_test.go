package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestAccPerformanceTopology drives examples/performance-topology with the
// real Terraform (1.11 or later) and provider binary on four live
// clusters, the failover tutorial's topology (issue 15, acceptance 3):
//
//	1-topology      P performance primary and DR primary; P-DR DR secondary
//	                "p-dr" of P; PS performance secondary "ps" of P, with a
//	                deny paths filter on kv-hidden/
//	2-dr-of-ps      PS's own root token for the run from P's key share
//	                (vaultrepl_root_token); PS DR primary too; PS-DR DR
//	                secondary "ps-dr" of PS
//	(P is lost: SIGKILL)
//	3-fail-over-p   P-DR promoted: the performance primary of P's set; PS
//	                follows it
//	(PS is lost: SIGKILL)
//	4-fail-over-ps  PS-DR promoted: it reconnects to the performance primary
//	                (P-DR) as "ps"
//
// Secrets (KV v1 and two-version KV v2) are written on the performance
// primary and through the performance secondary (forwarded) before each
// step; after each step every acknowledged secret must read on the
// performance primary and on the performance secondary, a new plan must be
// empty, and no activation token, generated token or key share may be in a
// state.
func TestAccPerformanceTopology(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run the multi-cluster test with the real CLI (make test-e2e)")
	}
	root := moduleRoot(t)
	tf := newCLI(t, root)
	requireWriteOnlyCLI(t, tf)

	p, pdr, ps, psdr := startCluster(t, "P"), startCluster(t, "P-DR"), startCluster(t, "PS"), startCluster(t, "PS-DR")
	recs := []*testserver.Recorder{testserver.Record(t, p.addr()), testserver.Record(t, pdr.addr()), testserver.Record(t, ps.addr()), testserver.Record(t, psdr.addr())}
	via := func(i int) string { return recs[i].URL }
	tf.addSecret(p.key, pdr.key, ps.key, psdr.key)
	keys := []string{p.key}
	l := &ledger{t: t, values: map[string]string{}}
	var dirs []string
	secrets := map[string]string{}
	check := func(dir string) {
		t.Helper()
		tf.run(t, dir, "plan", "-detailed-exitcode", "-input=false", "-no-color")
		seen := secretsSeen(t, p.key, recs)
		for k, v := range secrets {
			seen[k] = v
		}
		scanStates(t, tf, dirs, seen)
	}
	dir1 := exampleStepDir(t, root, "performance-topology", "1-topology")
	dir2 := exampleStepDir(t, root, "performance-topology", "2-dr-of-ps")
	dir3 := exampleStepDir(t, root, "performance-topology", "3-fail-over-p")
	dir4 := exampleStepDir(t, root, "performance-topology", "4-fail-over-ps")

	// Step 1.
	p.enableKVv2()
	if _, err := p.root.Write(context.Background(), "sys/mounts/kv-hidden", map[string]any{"type": "kv"}); err != nil {
		t.Fatal(err)
	}
	if err := p.write("kv-hidden/x", "never on PS"); err != nil {
		t.Fatal(err)
	}
	l.write(p, "before-topology", 3)
	tf.apply(t, dir1, map[string]any{
		"p_address": via(0), "p_dr_address": via(1), "ps_address": via(2), "token": rootToken, "ps_denied_mounts": []string{"kv-hidden/"},
	})
	dirs = append(dirs, dir1)
	outs := tf.outputs(t, dir1)
	perfID, pDRID := outputString(t, outs, "performance_cluster_id"), outputString(t, outs, "p_dr_cluster_id")
	expectStates(t, outs, "p-dr", "ps")
	expectTopology(t, "step 1, P's DR set", l, pDRID, p, map[string]*cluster{"p-dr": pdr})
	// The test's own token on PS, for its reads and for step 4: the one
	// step 2 generates is revoked when each run ends.
	psRoot, err := ps.anon.GenerateRootToken(context.Background(), keys)
	if err != nil {
		t.Fatalf("generate PS's own root token with P's key share: %v", err)
	}
	secrets["PS's root token"] = psRoot
	tf.addSecret(psRoot)
	psAsOwn := ps.as(psRoot)
	expectPerformance(t, "step 1", l, perfID, p, map[string]*cluster{"ps": psAsOwn})
	if v, err := psAsOwn.read("kv-hidden/x"); err != nil || v != "" {
		t.Fatalf("step 1: the denied mount's data on PS: %q %v", v, err)
	}
	check(dir1)

	// Step 2.
	l.write(psAsOwn, "forwarded-from-ps", 2)
	tf.apply(t, dir2, map[string]any{"ps_address": via(2), "ps_dr_address": via(3), "unseal_keys": keys, "token": rootToken})
	dirs = append(dirs, dir2)
	outs = tf.outputs(t, dir2)
	psDRID := outputString(t, outs, "ps_dr_cluster_id")
	expectStates(t, outs, "ps-dr")
	expectTopology(t, "step 2, PS's DR set", nil, psDRID, ps, map[string]*cluster{"ps-dr": psdr})
	expectPerformance(t, "step 2", l, perfID, p, map[string]*cluster{"ps": psAsOwn})
	check(dir2)
	expectRevoked(t, ps, recs[2].RootTokens())

	// Step 3: P is lost.
	l.write(p, "before-p-loss", 3)
	l.write(psAsOwn, "forwarded-before-p-loss", 1)
	expectTopology(t, "before the loss of P", l, pDRID, p, map[string]*cluster{"p-dr": pdr})
	expectPerformance(t, "before the loss of P", l, perfID, p, map[string]*cluster{"ps": psAsOwn})
	readyForLoss(t, p, pdr, ps)
	p.kill()
	tf.apply(t, dir3, map[string]any{"p_dr_address": via(1), "token": rootToken, "unseal_keys": keys})
	dirs = append(dirs, dir3)
	outs = tf.outputs(t, dir3)
	for name, want := range map[string]string{"dr_mode": client.ModePrimary, "performance_mode": client.ModePrimary, "performance_cluster_id": perfID} {
		if got := outputString(t, outs, name); got != want {
			t.Fatalf("step 3: output %s = %s, want %s", name, got, want)
		}
	}
	expectPerformance(t, "step 3: PS follows P-DR", l, perfID, pdr, map[string]*cluster{"ps": psAsOwn})
	l.write(pdr, "after-p-loss", 2)
	l.write(psAsOwn, "forwarded-after-p-loss", 1)
	expectPerformance(t, "step 3, new writes", l, perfID, pdr, map[string]*cluster{"ps": psAsOwn})
	check(dir3)

	// Step 4: PS is lost.
	expectTopology(t, "before the loss of PS", nil, psDRID, ps, map[string]*cluster{"ps-dr": psdr})
	readyForLoss(t, ps, psdr, nil)
	ps.kill()
	tf.apply(t, dir4, map[string]any{"ps_dr_address": via(3), "token": psRoot, "unseal_keys": keys})
	dirs = append(dirs, dir4)
	outs = tf.outputs(t, dir4)
	for name, want := range map[string]string{"dr_mode": client.ModePrimary, "performance_secondary_id": "ps"} {
		if got := outputString(t, outs, name); got != want {
			t.Fatalf("step 4: output %s = %s, want %s", name, got, want)
		}
	}
	// PS-DR holds PS's tokens (its DR stream carried them).
	psdrAsOwn := psdr.as(psRoot)
	expectPerformance(t, "step 4: PS-DR follows P-DR", l, perfID, pdr, map[string]*cluster{"ps": psdrAsOwn})
	l.write(pdr, "after-ps-loss", 2)
	l.write(psdrAsOwn, "forwarded-after-ps-loss", 1)
	expectPerformance(t, "step 4, new writes", l, perfID, pdr, map[string]*cluster{"ps": psdrAsOwn})
	check(dir4)
}

// expectRevoked checks that each root token Terraform generated on c
// (vaultrepl_root_token, one per run, plans included) no longer
// authenticates: Close revoked it when its run ended.
func expectRevoked(t *testing.T, c *cluster, tokens []string) {
	t.Helper()
	if len(tokens) < 3 {
		t.Fatalf("%d root tokens generated on %s through the recorder, want one per run (plan, apply, check plan)", len(tokens), c)
	}
	for i, tok := range tokens {
		if _, err := c.client(tok).Read(context.Background(), "auth/token/lookup-self"); !client.IsPermissionDenied(err) {
			t.Fatalf("root token %d of %d generated on %s still answers lookup-self after its run (err %v)", i+1, len(tokens), c, err)
		}
	}
	t.Logf("%d root tokens generated on %s by the runs, each revoked", len(tokens), c)
}

// as is c seen with token instead of "root": a performance secondary has
// tokens of its own.
func (c *cluster) as(token string) *cluster {
	cp := *c
	cp.root = c.client(token)
	return &cp
}

func (c *cluster) perfStatus() *client.DRStatus {
	c.t.Helper()
	st, err := c.anon.Replication(client.KindPerformance).Status(context.Background())
	if err != nil {
		c.t.Fatalf("performance status of %s: %v", c, err)
	}
	return st
}

// readyForLoss waits until DR secondary drs holds what its primary has
// beside the WAL (the performance role and the cluster's own tokens and
// local mounts: carried_keys_digest equal on both) and, when perfSecondary
// is given, until that performance secondary knows drs's cluster address
// (primary advertises its DR secondaries), so that it follows drs once drs
// is promoted.
func readyForLoss(t *testing.T, primary, drs, perfSecondary *cluster) {
	t.Helper()
	testserver.Eventually(t, drs.name+" holds "+primary.name+"'s carried keys", 30*time.Second, func() (bool, string) {
		pd, sd := primary.drStatusField("carried_keys_digest"), drs.drStatusField("carried_keys_digest")
		return pd != "" && pd == sd, fmt.Sprintf("primary %q, DR secondary %q", pd, sd)
	})
	if perfSecondary == nil {
		return
	}
	want := "https://" + drs.srv.Cluster
	testserver.Eventually(t, perfSecondary.name+" knows "+drs.name+"'s cluster address", 30*time.Second, func() (bool, string) {
		known := perfSecondary.perfStatus().KnownPrimaryClusterAddrs
		return slices.Contains(known, want), fmt.Sprintf("%v, want %s", known, want)
	})
}

// drStatusField is one field of c's sys/replication/dr/status, "" when
// absent.
func (c *cluster) drStatusField(name string) string {
	c.t.Helper()
	s, err := c.anon.Read(context.Background(), "sys/replication/dr/status")
	if err != nil || s == nil {
		c.t.Fatalf("DR status of %s: %v", c, err)
	}
	if v, ok := s.Data[name]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// expectPerformance waits until primary is the performance primary of set
// perfID with exactly the given performance secondaries, each connected,
// following it, streaming WALs at its last WAL index; then every
// acknowledged secret must read on the primary and on each secondary
// (seen with one of its own tokens).
func expectPerformance(t *testing.T, phase string, l *ledger, perfID string, primary *cluster, secondaries map[string]*cluster) {
	t.Helper()
	ids := make([]string, 0, len(secondaries))
	for id := range secondaries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	testserver.Eventually(t, phase+": performance set", 60*time.Second, func() (bool, string) {
		pst := primary.perfStatus()
		if pst.Mode != client.ModePrimary || pst.ClusterID != perfID {
			return false, fmt.Sprintf("%s: performance mode %s set %s, want primary of %s", primary, pst.Mode, pst.ClusterID, perfID)
		}
		if known := slices.Sorted(slices.Values(pst.KnownSecondaries)); !slices.Equal(known, ids) {
			return false, fmt.Sprintf("%s: known_secondaries %v, want %v", primary, known, ids)
		}
		for _, id := range ids {
			s := secondaries[id]
			sst := s.perfStatus()
			switch {
			case sst.Mode != client.ModeSecondary || sst.ClusterID != perfID || sst.SecondaryID != id:
				return false, fmt.Sprintf("%s: performance mode %s set %s id %s, want secondary %s of %s", s, sst.Mode, sst.ClusterID, sst.SecondaryID, id, perfID)
			case sst.PrimaryClusterAddr != pst.PrimaryClusterAddr:
				return false, fmt.Sprintf("%s follows %s, want %s (%s)", s, sst.PrimaryClusterAddr, primary, pst.PrimaryClusterAddr)
			case sst.State != client.StateStreamWALs || sst.LastRemoteWAL < pst.LastWAL:
				return false, fmt.Sprintf("%s: state %s at %d; primary at %d", s, sst.State, sst.LastRemoteWAL, pst.LastWAL)
			}
			connected := false
			for _, peer := range pst.Secondaries {
				connected = connected || (peer.NodeID == id && peer.ConnectionStatus == "connected")
			}
			if !connected {
				return false, fmt.Sprintf("%s does not see %s connected: %+v", primary, id, pst.Secondaries)
			}
		}
		return true, ""
	})
	l.heldBy(primary)
	for _, id := range ids {
		l.heldBy(secondaries[id])
	}
	t.Logf("%s: %s leads performance set %s with %v caught up; %d acknowledged secrets read on each", phase, primary.name, perfID, ids, len(l.order))
}

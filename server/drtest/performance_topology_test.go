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
	// Until DRP is promoted PS has no primary to forward to: a 503 in
	// Vault's error form, and nothing lands anywhere.
	code, body := ctlCall(t, ps, "PUT", "/v1/secret/while-lost", psRoot, `{"v":"x"}`)
	wantAPIError(t, "forwarded write while P is lost", code, body, 503, "could not be reached")
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
	eventually(t, "PS's status names DRP as its primary", 10*time.Second, func() (bool, string) {
		st, err := ps.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
		return err == nil && st.PrimaryClusterAddr == drpAddr, fmt.Sprint(st, err)
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
	if v, err := readV(ps, psRoot, "secret/while-lost"); err != nil || v != "" {
		t.Fatalf("the refused write reads %q %v on PS", v, err)
	}

	// Failback. The old P comes back believing it is both primaries;
	// demoted as a DR primary, its performance role waits (dormant), and
	// re-pointed at DRP it holds DRP's carried keys.
	p.srv.Restart()
	p.unseal(p.keys)
	if _, err := p.rootClient().Logical().Write("sys/replication/dr/primary/demote", nil); err != nil {
		t.Fatalf("demote P: %v", err)
	}
	if mode, _, state, _ := p.perfFull(); mode != "primary" || state != "idle" {
		t.Fatalf("demoted P's performance role: mode %q state %q, want primary idle (dormant)", mode, state)
	}
	token := drp.secondaryToken(p.root, "p", nil)
	if _, err := p.client("").Logical().Write("sys/replication/dr/secondary/update-primary", map[string]any{"token": token, "dr_operation_token": p.drOperationToken(p.keys)}); err != nil {
		t.Fatalf("update-primary on P: %v", err)
	}
	waitInSync(t, drp, p)
	waitCarried(t, drp, p)
	eventually(t, "PS knows P's address again (DRP advertises its DR secondary)", 30*time.Second, func() (bool, string) {
		_, _, _, known := ps.perfFull()
		return slices.Contains(known, "https://"+p.srv.Cluster), fmt.Sprint(known)
	})
	// DRP steps down (its performance streams close at once) and P is
	// promoted again: PS follows it.
	if _, err := drp.client(p.root).Logical().Write("sys/replication/dr/primary/demote", nil); err != nil {
		t.Fatalf("demote DRP: %v", err)
	}
	promote(t, p, p.keys)
	if mode, id, state, _ := p.perfFull(); mode != "primary" || id != perfID || state != "running" {
		t.Fatalf("P after failback: %s %s %s", mode, id, state)
	}
	p.write(p.root, "secret/failback", map[string]any{"v": "back"})
	eventually(t, "PS follows P after the failback", 60*time.Second, func() (bool, string) {
		v, err := readV(ps, psRoot, "secret/failback")
		return err == nil && v == "back", fmt.Sprint(v, err)
	})
	ps.write(psRoot, "secret/ps-failback", map[string]any{"v": "fwd-back"})
	if v := readSecretV(t, p, p.root, "secret/ps-failback"); v != "fwd-back" {
		t.Fatalf("PS's forwarded write after the failback is not on P: %q", v)
	}
}

// drPairWith makes a the DR primary (with a's token) and b its converged
// DR secondary.
func drPairWith(t *testing.T, a *cluster, aToken string, b *cluster) {
	t.Helper()
	if _, err := a.client(aToken).Logical().Write("sys/replication/dr/primary/enable", nil); err != nil {
		t.Fatalf("%s: enable DR primary: %v", a.name, err)
	}
	token := a.secondaryToken(aToken, "dr-"+b.name, nil)
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatalf("%s: enable DR secondary: %v", b.name, err)
	}
	waitInSync(t, a, b)
}

// TestPerformanceSecondaryDRFailover: PS, a performance secondary of P,
// has a DR secondary DRPS. A token created on PS, a local mount of PS and
// its data reach DRPS with the DR stream; PS is killed and DRPS promoted:
// DRPS reconnects to P with PS's stored secondary credentials and carries
// on as the performance secondary — PS's tokens and local data work on
// it, P's new writes reach it and its forwarded writes land on P.
func TestPerformanceSecondaryDRFailover(t *testing.T) {
	p := startCluster(t, "P")
	ps := startCluster(t, "PS")
	drps := startCluster(t, "DRPS")
	psRoot := perfPair(t, p, ps)
	_, perfID, _, _ := p.perfFull()
	drPairWith(t, ps, psRoot, drps)

	child, err := ps.client(psRoot).Auth().Token().Create(nil)
	if err != nil {
		t.Fatalf("token create on PS: %v", err)
	}
	childTok := child.Auth.ClientToken
	if _, err := ps.client(psRoot).Logical().Write("sys/mounts/ps-local", map[string]any{"type": "kv", "local": true}); err != nil {
		t.Fatalf("enable a local mount on PS: %v", err)
	}
	ps.write(psRoot, "ps-local/k", map[string]any{"v": "only-on-ps"})
	p.write(p.root, "secret/before", map[string]any{"v": "1"})
	ps.write(childTok, "secret/from-ps", map[string]any{"v": "fwd"}) // forwarded to P
	// The forwarded write reaches PS through the stream from P like any
	// other: wait for it too before DRPS copies PS (on PostgreSQL the
	// apply often lands after secret/before was read).
	eventually(t, "PS reads secret/before and its forwarded secret/from-ps", 30*time.Second, func() (bool, string) {
		v, err := readV(ps, psRoot, "secret/before")
		f, ferr := readV(ps, psRoot, "secret/from-ps")
		return err == nil && v == "1" && ferr == nil && f == "fwd", fmt.Sprint(v, err, f, ferr)
	})
	waitInSync(t, ps, drps)
	waitCarried(t, ps, drps)

	ps.srv.Kill()
	promote(t, drps, p.keys)
	eventually(t, "DRPS streams from P as the performance secondary", 60*time.Second, func() (bool, string) {
		mode, id, state, _ := drps.perfFull()
		return mode == "secondary" && id == perfID && state == "stream-wals", mode + " " + id + " " + state
	})
	// PS's tokens and local mount work on DRPS.
	for _, tc := range []struct{ token, path, want string }{
		{childTok, "secret/before", "1"},
		{psRoot, "secret/from-ps", "fwd"},
		{psRoot, "ps-local/k", "only-on-ps"},
		{childTok, "ps-local/k", "only-on-ps"},
	} {
		if v := readSecretV(t, drps, tc.token, tc.path); v != tc.want {
			t.Fatalf("DRPS reads %q for %s, want %q", v, tc.path, tc.want)
		}
	}
	if m, err := drps.client(psRoot).Sys().ListMounts(); err != nil || m["ps-local/"] == nil {
		t.Fatalf("DRPS's mounts lack PS's local mount: %v %v", err, m)
	}
	// P's tokens are still P's alone.
	if code, _ := drps.raw("GET", "/v1/secret/before", p.root, ""); code != 403 {
		t.Fatalf("P's root token on DRPS answered %d, want 403", code)
	}
	p.write(p.root, "secret/after", map[string]any{"v": "2"})
	eventually(t, "DRPS reads what P wrote after the failover", 30*time.Second, func() (bool, string) {
		v, err := readV(drps, psRoot, "secret/after")
		return err == nil && v == "2", fmt.Sprint(v, err)
	})
	drps.write(childTok, "secret/from-drps", map[string]any{"v": "fwd2"})
	if v := readSecretV(t, p, p.root, "secret/from-drps"); v != "fwd2" {
		t.Fatalf("DRPS's forwarded write is not on P: %q", v)
	}
	if v := readSecretV(t, drps, psRoot, "ps-local/k"); v != "only-on-ps" {
		t.Fatalf("PS's local data on DRPS after P's writes: %q", v)
	}
}

// TestPerformanceSecondaryPromote: Vault's order — demote the performance
// primary P, promote its secondary PS, point P at PS with update-primary.
// PS keeps its own tokens and local mounts and writes locally; P's tokens
// do not work on it (tokens are per cluster); the demoted P keeps its own
// tokens (so its operator can call update-primary) and its local mount,
// and follows PS.
func TestPerformanceSecondaryPromote(t *testing.T) {
	p := startCluster(t, "P")
	ps := startCluster(t, "PS")
	if _, err := p.rootClient().Logical().Write("sys/mounts/p-local", map[string]any{"type": "kv", "local": true}); err != nil {
		t.Fatalf("enable a local mount on P: %v", err)
	}
	p.write(p.root, "p-local/k", map[string]any{"v": "only-on-p"})
	p.write(p.root, "secret/a", map[string]any{"v": "1"})
	psRoot := perfPair(t, p, ps)
	_, perfID, _, _ := p.perfFull()
	child, err := ps.client(psRoot).Auth().Token().Create(nil)
	if err != nil {
		t.Fatalf("token create on PS: %v", err)
	}
	childTok := child.Auth.ClientToken
	if _, err := ps.client(psRoot).Logical().Write("sys/mounts/ps-local", map[string]any{"type": "kv", "local": true}); err != nil {
		t.Fatalf("enable a local mount on PS: %v", err)
	}
	ps.write(psRoot, "ps-local/k", map[string]any{"v": "only-on-ps"})
	ps.write(psRoot, "secret/b", map[string]any{"v": "2"}) // forwarded to P
	eventually(t, "PS reads secret/a and secret/b", 30*time.Second, func() (bool, string) {
		a, errA := readV(ps, childTok, "secret/a")
		b, errB := readV(ps, childTok, "secret/b")
		return errA == nil && errB == nil && a == "1" && b == "2", a + " " + b
	})

	// Promote refuses a cluster that is not a performance secondary, and
	// needs a token.
	code, body := ctlCall(t, p, "PUT", "/v1/sys/replication/performance/secondary/promote", p.root, `{}`)
	wantAPIError(t, "promote a performance primary", code, body, 400, "only a secondary can be promoted")
	code, body = ctlCall(t, ps, "PUT", "/v1/sys/replication/performance/secondary/promote", "", `{}`)
	wantAPIError(t, "promote without a token", code, body, 403, "permission denied")
	code, body = ctlCall(t, ps, "PUT", "/v1/sys/replication/performance/secondary/promote", psRoot, `{"force":"maybe"}`)
	wantAPIError(t, "promote with a force that is no bool", code, body, 400, "force")
	code, body = ctlCall(t, ps, "PUT", "/v1/sys/replication/performance/secondary/promote", psRoot, `{"primary_cluster_addr":"no port here"}`)
	wantAPIError(t, "promote with an unusable primary_cluster_addr", code, body, 400, "primary_cluster_addr")
	if mode, _, _, _ := ps.perfFull(); mode != "secondary" {
		t.Fatalf("a refused promotion changed PS's mode to %q", mode)
	}

	if _, err := p.rootClient().Logical().Write("sys/replication/performance/primary/demote", nil); err != nil {
		t.Fatalf("demote P: %v", err)
	}
	if _, err := p.rootClient().Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("P's root token after its demotion: %v", err)
	}
	res, err := ps.client(psRoot).Logical().Write("sys/replication/performance/secondary/promote", map[string]any{"force": false})
	if err != nil {
		t.Fatalf("promote PS: %v", err)
	}
	if res == nil || len(res.Warnings) == 0 {
		t.Fatalf("promote answered no warning: %+v", res)
	}
	if mode, id, _, _ := ps.perfFull(); mode != "primary" || id != perfID {
		t.Fatalf("PS after promotion: mode %q id %q, want primary %q", mode, id, perfID)
	}
	// PS's own tokens and local mount; P's tokens are not PS's.
	for _, tc := range []struct{ token, path, want string }{
		{childTok, "secret/a", "1"},
		{psRoot, "secret/b", "2"},
		{childTok, "ps-local/k", "only-on-ps"},
	} {
		if v := readSecretV(t, ps, tc.token, tc.path); v != tc.want {
			t.Fatalf("promoted PS reads %q for %s, want %q", v, tc.path, tc.want)
		}
	}
	if code, _ := ps.raw("GET", "/v1/secret/a", p.root, ""); code != 403 {
		t.Fatalf("P's root token on the promoted PS answered %d, want 403", code)
	}
	if m, err := ps.client(psRoot).Sys().ListMounts(); err != nil || m["p-local/"] != nil || m["ps-local/"] == nil {
		t.Fatalf("promoted PS's mounts: %v %v", err, m)
	}
	ps.write(childTok, "secret/c", map[string]any{"v": "3"})

	// P follows PS with a token of its own set, using its own token.
	tw, err := ps.client(psRoot).Logical().Write("sys/replication/performance/primary/secondary-token", map[string]any{"id": "p"})
	if err != nil || tw.WrapInfo == nil {
		t.Fatalf("PS's secondary-token: %v", err)
	}
	if _, err := p.rootClient().Logical().Write("sys/replication/performance/secondary/update-primary", map[string]any{"token": tw.WrapInfo.Token}); err != nil {
		t.Fatalf("update-primary on P: %v", err)
	}
	eventually(t, "P follows PS", 30*time.Second, func() (bool, string) {
		v, err := readV(p, p.root, "secret/c")
		return err == nil && v == "3", fmt.Sprint(v, err)
	})
	if v := readSecretV(t, p, p.root, "p-local/k"); v != "only-on-p" {
		t.Fatalf("P's local mount after following PS: %q", v)
	}
	p.write(p.root, "secret/d", map[string]any{"v": "4"}) // forwarded to PS
	if v := readSecretV(t, ps, psRoot, "secret/d"); v != "4" {
		t.Fatalf("P's forwarded write is not on PS: %q", v)
	}
}

// TestPerformanceTopologyFourClusters: the tutorial's four clusters. P is
// lost and DRP promoted (PS follows DRP); then PS is lost and DRPS
// promoted: it reconnects, with PS's credentials, to the performance
// primary DRP — whose address it knows only from PS's carried state — and
// every acknowledged write reads on the surviving pair.
func TestPerformanceTopologyFourClusters(t *testing.T) {
	p := startCluster(t, "P")
	ps := startCluster(t, "PS")
	drp := startCluster(t, "DRP")
	drps := startCluster(t, "DRPS")
	pairUp(t, p, drp, "")
	psRoot := perfPair(t, p, ps)
	drPairWith(t, ps, psRoot, drps)
	_, perfID, _, _ := p.perfFull()
	eventually(t, "PS knows DRP's cluster address", 30*time.Second, func() (bool, string) {
		_, _, _, known := ps.perfFull()
		return slices.Contains(known, "https://"+drp.srv.Cluster), fmt.Sprint(known)
	})
	child, err := ps.client(psRoot).Auth().Token().Create(nil)
	if err != nil {
		t.Fatalf("token create on PS: %v", err)
	}
	childTok := child.Auth.ClientToken
	acked := map[string]string{}
	put := func(c *cluster, token, path, v string) {
		t.Helper()
		c.write(token, path, map[string]any{"v": v})
		acked[path] = v
	}
	for i := range 5 {
		put(p, p.root, fmt.Sprintf("secret/p/%d", i), "p")
		put(ps, childTok, fmt.Sprintf("secret/ps/%d", i), "ps") // forwarded
	}
	waitInSync(t, p, drp)
	waitCarried(t, p, drp)

	// Lose P; DRP becomes the performance primary; PS follows it.
	p.srv.Kill()
	promote(t, drp, p.keys)
	put(drp, p.root, "secret/after-p", "1")
	eventually(t, "PS follows DRP", 60*time.Second, func() (bool, string) {
		v, err := readV(ps, childTok, "secret/after-p")
		return err == nil && v == "1", fmt.Sprint(v, err)
	})
	put(ps, childTok, "secret/ps-after-p", "2") // forwarded to DRP
	waitInSync(t, ps, drps)
	waitCarried(t, ps, drps)

	// Lose PS; DRPS carries on as the performance secondary, on DRP.
	ps.srv.Kill()
	promote(t, drps, p.keys)
	eventually(t, "DRPS streams from DRP", 60*time.Second, func() (bool, string) {
		mode, id, state, _ := drps.perfFull()
		return mode == "secondary" && id == perfID && state == "stream-wals", mode + " " + id + " " + state
	})
	put(drp, p.root, "secret/after-ps", "3")
	put(drps, childTok, "secret/drps", "4") // forwarded to DRP
	for path, want := range acked {
		if v := readSecretV(t, drp, p.root, path); v != want {
			t.Fatalf("DRP reads %q for %s, want %q", v, path, want)
		}
		eventually(t, "DRPS reads "+path, 30*time.Second, func() (bool, string) {
			v, err := readV(drps, childTok, path)
			return err == nil && v == want, fmt.Sprint(v, err)
		})
	}
}

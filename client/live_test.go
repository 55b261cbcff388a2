package client

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

var builder testserver.Builder

type devCluster struct {
	srv       *testserver.Server
	root      *Client // root token "root"
	anon      *Client // no token
	unsealKey string  // the dev server's single key share (hex)
}

var unsealKeyRe = regexp.MustCompile(`Unseal Key: ([0-9a-f]+)`)

// startDev runs a dev-mode server (initialised, unsealed, root token
// "root", one key share) with 200ms heartbeats.
func startDev(t *testing.T) *devCluster {
	t.Helper()
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-dev", "-dev-root-token-id", "root", "-heartbeat-interval", "200ms"}})
	d := &devCluster{srv: srv}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := unsealKeyRe.FindStringSubmatch(srv.Output()); m != nil {
			d.unsealKey = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no unseal key in the dev banner:\n%s", srv.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.root = mustNew(t, Config{Address: srv.Addr, Token: "root", MaxRetries: 1, RetryWaitMin: 50 * time.Millisecond})
	d.anon = mustNew(t, Config{Address: srv.Addr, MaxRetries: 1, RetryWaitMin: 50 * time.Millisecond})
	t.Cleanup(func() {
		if t.Failed() {
			out := srv.Output()
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			t.Logf("server %s output:\n%s", srv.Addr, out)
		}
	})
	return d
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, limit, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitInSync(t *testing.T, p, s *devCluster) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "secondary in sync", 30*time.Second, func() (bool, string) {
		ps, err := p.anon.DRStatus(ctx)
		if err != nil {
			return false, err.Error()
		}
		ss, err := s.anon.DRStatus(ctx)
		if err != nil {
			return false, err.Error()
		}
		return ss.Mode == ModeSecondary && ss.State == StateStreamWALs && ss.MerkleRoot == ps.MerkleRoot,
			ss.Mode + " " + ss.State + " " + ss.MerkleRoot + " vs " + ps.MerkleRoot
	})
}

// TestLiveDRWorkflow drives the main calls against two live servers: the
// primary side, a wrapped activation, operation token generation with the
// primary's key share, promotion, demotion and update-primary.
func TestLiveDRWorkflow(t *testing.T) {
	ctx := context.Background()
	p, s := startDev(t), startDev(t)

	h, err := p.anon.Health(ctx, HealthOptions{})
	if err != nil || h.StatusCode != 200 || !h.Initialized || h.Sealed || h.ReplicationDRMode != "disabled" {
		t.Fatalf("health %+v, %v", h, err)
	}
	ss, err := p.anon.SealStatus(ctx)
	if err != nil || ss.Sealed || !ss.Initialized || ss.T != 1 {
		t.Fatalf("seal status %+v, %v", ss, err)
	}
	st, err := p.anon.DRStatus(ctx)
	if err != nil || st.Mode != ModeDisabled || st.ClusterID != "" {
		t.Fatalf("status before enable %+v, %v", st, err)
	}

	// Primary.
	if _, err := p.anon.EnablePrimary(ctx, ""); !IsPermissionDenied(err) {
		t.Fatalf("enable without a token: %v, want 403", err)
	}
	warn, err := p.root.EnablePrimary(ctx, "")
	if err != nil || len(warn) == 0 {
		t.Fatalf("enable primary: %v %v", warn, err)
	}
	st, err = p.anon.DRStatus(ctx)
	if err != nil || st.Mode != ModePrimary || len(st.ClusterID) != 36 || st.State != "running" || len(st.MerkleRoot) != 40 {
		t.Fatalf("primary status %+v, %v", st, err)
	}
	clusterID := st.ClusterID
	if _, err := p.root.EnablePrimary(ctx, ""); StatusCode(err) != 400 {
		t.Fatalf("second enable: %v, want 400", err)
	}
	rs, err := p.anon.ReplicationStatus(ctx)
	if err != nil || rs.DR.Mode != ModePrimary || rs.DR.ClusterID != clusterID || rs.PerformanceMode != "disabled" {
		t.Fatalf("replication status %+v, %v", rs, err)
	}

	// A wrapped activation token names the primary's API address.
	token, wrapped, err := p.root.SecondaryToken(ctx, "s", "10m", "")
	if err != nil || !wrapped || strings.Count(token, ".") != 2 {
		t.Fatalf("secondary token: wrapped=%t %v", wrapped, err)
	}
	claims, err := ParseActivationToken(token)
	if err != nil || claims.Addr != p.srv.Addr || time.Until(claims.Expires) > 10*time.Minute+time.Second {
		t.Fatalf("claims %+v, %v (primary %s)", claims, err, p.srv.Addr)
	}
	if _, _, err := p.root.SecondaryToken(ctx, "s", "", ""); StatusCode(err) != 400 {
		t.Fatalf("duplicate id: %v, want 400", err)
	}
	if st, _ := p.anon.DRStatus(ctx); !st.HasKnownSecondary("s") {
		t.Fatalf("known_secondaries %v", st.KnownSecondaries)
	}

	// Secondary.
	if _, err := p.root.Write(ctx, "secret/before", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.root.EnableSecondary(ctx, Activation{Token: token}); err != nil {
		t.Fatalf("enable secondary: %v", err)
	}
	waitInSync(t, p, s)
	st, err = s.anon.DRStatus(ctx)
	if err != nil || st.ClusterID != clusterID || st.SecondaryID != "s" || len(st.Primaries) != 1 || st.Primaries[0].APIAddress != p.srv.Addr {
		t.Fatalf("secondary status %+v, %v", st, err)
	}
	h, err = s.anon.Health(ctx, HealthOptions{})
	if err != nil || h.StatusCode != 472 || h.ReplicationDRMode != "secondary" {
		t.Fatalf("secondary health %+v, %v", h, err)
	}
	// The token is single use.
	other := startDev(t)
	_, err = other.root.EnableSecondary(ctx, Activation{Token: token})
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || strings.Contains(err.Error(), token) {
		t.Fatalf("reused token: %v", err)
	}
	waitFor(t, "primary sees the secondary connected", 10*time.Second, func() (bool, string) {
		st, err := p.anon.DRStatus(ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(st.Secondaries) == 1 && st.Secondaries[0].NodeID == "s" && st.Secondaries[0].ConnectionStatus == "connected" && st.Secondaries[0].LastHeartbeat != "",
			st.Mode
	})

	// A wrong operation token is refused with 403 and never echoed.
	const wrong = "hvs.WRONGWRONGWRONGWRONGWRON"
	if _, err := s.anon.Promote(ctx, wrong, "", false); !IsPermissionDenied(err) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("promote with a wrong token: %v", err)
	}

	// Operation token generation with the primary's key share, then promote.
	if _, err := s.anon.GenerateDROperationToken(ctx, []string{"00" + p.unsealKey[2:]}); err == nil {
		t.Fatal("a wrong key share produced a token")
	}
	if gs, err := s.anon.OperationTokenStatus(ctx); err != nil || gs.Started {
		t.Fatalf("attempt left behind after a failure: %+v %v", gs, err)
	}
	op, err := s.anon.GenerateDROperationToken(ctx, []string{p.unsealKey})
	if err != nil || !strings.HasPrefix(op, "hvs.") || len(op) != 28 {
		t.Fatalf("generate op token: length %d, %v", len(op), err)
	}
	if _, err := s.anon.Promote(ctx, op, "", false); err != nil {
		t.Fatalf("promote: %v", err)
	}
	st, err = s.anon.DRStatus(ctx)
	if err != nil || st.Mode != ModePrimary || st.ClusterID != clusterID {
		t.Fatalf("promoted status %+v, %v", st, err)
	}
	if sec, err := s.root.Read(ctx, "secret/before"); err != nil || sec == nil || sec.Data["v"] != "1" {
		t.Fatalf("replicated secret on the promoted cluster: %+v %v", sec, err)
	}

	// Demote the old primary and re-point it at the new one without a wipe.
	if _, err := p.root.DemotePrimary(ctx); err != nil {
		t.Fatalf("demote: %v", err)
	}
	tokenP, _, err := s.root.SecondaryToken(ctx, "p", "", "")
	if err != nil {
		t.Fatal(err)
	}
	opP, err := p.anon.GenerateDROperationToken(ctx, []string{p.unsealKey})
	if err != nil {
		t.Fatalf("op token on the demoted primary: %v", err)
	}
	if _, err := p.anon.UpdatePrimary(ctx, opP, Activation{Token: tokenP}); err != nil {
		t.Fatalf("update-primary: %v", err)
	}
	waitInSync(t, s, p)

	// Delete an op token, then disable the secondary with the client token.
	opP2, err := p.anon.GenerateDROperationToken(ctx, []string{p.unsealKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.anon.DeleteOperationToken(ctx, opP2); err != nil {
		t.Fatalf("delete op token: %v", err)
	}
	if _, err := p.anon.DisableSecondary(ctx, opP2); !IsPermissionDenied(err) {
		t.Fatalf("disable with a deleted op token: %v, want 403", err)
	}
	if _, err := p.root.DisableSecondary(ctx, ""); err != nil {
		t.Fatalf("disable secondary: %v", err)
	}
	if _, err := s.root.RevokeSecondary(ctx, "p"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := s.root.DisablePrimary(ctx); err != nil {
		t.Fatalf("disable primary: %v", err)
	}
	for _, c := range []*devCluster{p, s} {
		if st, err := c.anon.DRStatus(ctx); err != nil || st.Mode != ModeDisabled {
			t.Fatalf("final status %+v %v", st, err)
		}
	}
}

func TestLivePublicKeyActivation(t *testing.T) {
	ctx := context.Background()
	p, s := startDev(t), startDev(t)
	if _, err := p.root.EnablePrimary(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pub, err := s.root.GeneratePublicKey(ctx)
	if err != nil || pub == "" {
		t.Fatalf("generate public key: %v", err)
	}
	token, wrapped, err := p.root.SecondaryToken(ctx, "enc", "", pub)
	if err != nil || wrapped || token == "" {
		t.Fatalf("encrypted token: wrapped=%t %v", wrapped, err)
	}
	if _, err := ParseActivationToken(token); !errors.Is(err, ErrNotWrappedToken) {
		t.Fatalf("an encrypted token parsed as a JWT: %v", err)
	}
	if _, err := s.root.EnableSecondary(ctx, Activation{Token: token}); err != nil {
		t.Fatalf("enable with an encrypted token: %v", err)
	}
	waitInSync(t, p, s)
}

func TestLiveSealed(t *testing.T) {
	ctx := context.Background()
	c := startDev(t)
	if err := c.root.Seal(ctx); err != nil {
		t.Fatalf("seal: %v", err)
	}
	h, err := c.anon.Health(ctx, HealthOptions{})
	if err != nil || h.StatusCode != 503 || !h.Sealed {
		t.Fatalf("sealed health %+v %v", h, err)
	}
	if h, err := c.anon.Health(ctx, HealthOptions{SealedCode: 200}); err != nil || h.StatusCode != 200 || !h.Sealed {
		t.Fatalf("sealed health with sealedcode=200: %+v %v", h, err)
	}
	start := time.Now()
	if _, err := c.anon.DRStatus(ctx); !IsSealed(err) {
		t.Fatalf("status while sealed: %v", err)
	}
	t.Logf("sealed status answered after %s (with retries)", time.Since(start))
	if st, err := c.anon.Unseal(ctx, c.unsealKey); err != nil || st.Sealed {
		t.Fatalf("unseal: %+v %v", st, err)
	}
	if _, err := c.anon.DRStatus(ctx); err != nil {
		t.Fatalf("status after unseal: %v", err)
	}
}

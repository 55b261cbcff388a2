package drtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// enablePrimary makes c a DR primary and returns its cluster id.
func enableDRPrimary(t *testing.T, c *cluster) string {
	t.Helper()
	if _, err := c.rootClient().Logical().Write(pEnablePrimary, nil); err != nil {
		t.Fatalf("%s: enable primary: %v", c.name, err)
	}
	return c.status().ClusterID
}

// readSecret reads a secret's "v" on c ("" if absent).
func readSecretV(t *testing.T, c *cluster, token, path string) string {
	t.Helper()
	s, err := c.client(token).Logical().Read(path)
	if err != nil {
		t.Fatalf("%s: read %s: %v", c.name, path, err)
	}
	if s == nil {
		return ""
	}
	v, _ := s.Data["v"].(string)
	return v
}

// TestActivationTokenSingleUse: a wrapped activation token unwraps once at
// the primary; a secondary handed the used token refuses it and keeps its
// state and data.
func TestActivationTokenSingleUse(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	clusterID := enableDRPrimary(t, a)
	b.write(b.root, "secret/mine", map[string]any{"v": "keep"})
	nB := ctlNode{b, b.root}

	tok := mintToken(t, a, a.root, "b", nil)
	code, resp := ctlCall(t, a, http.MethodPut, "/v1/"+pUnwrap, tok, "")
	if code != http.StatusOK {
		t.Fatalf("first unwrap: %d %s", code, resp)
	}
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(resp), &env); err != nil {
		t.Fatal(err)
	}
	if env.Data["cluster_id"] != clusterID || env.Data["id"] != "b" || env.Data["client_cert"] == "" || env.Data["ca_cert"] == "" {
		t.Fatalf("unwrapped bundle: cluster_id %v id %v", env.Data["cluster_id"], env.Data["id"])
	}
	code, resp = ctlCall(t, a, http.MethodPut, "/v1/"+pUnwrap, tok, "")
	wantAPIError(t, "second unwrap", code, resp, http.StatusBadRequest, "wrapping token is not valid or does not exist")
	code, resp = ctlCall(t, a, http.MethodPut, "/v1/"+pWrapLookup, "", mustJSON(map[string]any{"token": tok}))
	wantAPIError(t, "lookup of the used token", code, resp, http.StatusBadRequest, "wrapping token is not valid or does not exist")

	before := takeSnapshot(t, nB)
	code, resp = ctlCall(t, b, http.MethodPut, "/v1/"+pEnableSec, b.root, mustJSON(map[string]any{"token": tok}))
	wantAPIError(t, "enable with a used token", code, resp, http.StatusBadRequest, "refused the activation token", "already used")
	sameState(t, "enable with a used token", before, takeSnapshot(t, nB))
	if before.Mode != "disabled" {
		t.Errorf("B mode %s, want disabled", before.Mode)
	}
	if v := readSecretV(t, b, b.root, "secret/mine"); v != "keep" {
		t.Errorf("B's data after the failed enable: secret/mine = %q, want %q (wiped?)", v, "keep")
	}
}

// TestActivationTokenExpiry: an activation token minted with ttl 2s is
// refused once its exp has passed, by the primary and by the secondary,
// which says it expired and changes nothing.
func TestActivationTokenExpiry(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	enableDRPrimary(t, a)
	b.write(b.root, "secret/mine", map[string]any{"v": "keep"})
	nB := ctlNode{b, b.root}

	tok := mintToken(t, a, a.root, "b", map[string]any{"ttl": "2s"})
	claims := jwtClaims(t, tok)
	exp, okExp := claims["exp"].(float64)
	iat, okIat := claims["iat"].(float64)
	if !okExp || !okIat || exp-iat != 2 {
		t.Fatalf("exp-iat = %v, want 2", exp-iat)
	}
	lookup := func() (int, string) {
		return ctlCall(t, a, http.MethodPut, "/v1/"+pWrapLookup, "", mustJSON(map[string]any{"token": tok}))
	}
	if code, resp := lookup(); code != http.StatusOK || !strings.Contains(resp, `"creation_ttl":2`) {
		t.Fatalf("lookup of a fresh token: %d %s", code, resp)
	}
	eventually(t, "the primary refuses the expired token", 10*time.Second, func() (bool, string) {
		code, resp := lookup()
		return code == http.StatusBadRequest, resp
	})
	if now := time.Now().Unix(); float64(now) < exp {
		t.Fatalf("primary refused the token at %d, before its exp %v", now, exp)
	}

	before := takeSnapshot(t, nB)
	code, resp := ctlCall(t, b, http.MethodPut, "/v1/"+pEnableSec, b.root, mustJSON(map[string]any{"token": tok}))
	wantAPIError(t, "enable with an expired token", code, resp, http.StatusBadRequest, "activation token expired at")
	sameState(t, "enable with an expired token", before, takeSnapshot(t, nB))
	if v := readSecretV(t, b, b.root, "secret/mine"); v != "keep" {
		t.Errorf("B's data after the failed enable: secret/mine = %q, want %q", v, "keep")
	}
}

// TestPublicKeyActivation: with generate-public-key the activation bundle
// comes encrypted in data.token and the secondary opens it itself: enabling
// works with primary_api_addr pointing at a closed port, so no call reaches
// the primary's API, and the secondary converges.
func TestPublicKeyActivation(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	clusterID := enableDRPrimary(t, a)
	a.write(a.root, "secret/from-a", map[string]any{"v": "1"})

	sec, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/generate-public-key", nil)
	if err != nil {
		t.Fatalf("generate-public-key: %v", err)
	}
	pub, _ := sec.Data["secondary_public_key"].(string)
	if pub == "" {
		t.Fatalf("generate-public-key answered %+v", sec.Data)
	}

	sec, err = a.rootClient().Logical().Write(pSecondaryToken, map[string]any{"id": "b", "secondary_public_key": pub})
	if err != nil {
		t.Fatalf("secondary-token with secondary_public_key: %v", err)
	}
	if sec.WrapInfo != nil {
		t.Fatalf("secondary-token with a public key answered wrap_info %+v", sec.WrapInfo)
	}
	tok, _ := sec.Data["token"].(string)
	if tok == "" || strings.Contains(tok, ".") {
		t.Fatalf("data.token %q: want an encrypted bundle, not a JWT", tok)
	}

	closed := closedAddr(t)
	sec, err = b.rootClient().Logical().Write(pEnableSec, map[string]any{"token": tok, "primary_api_addr": closed})
	if err != nil {
		t.Fatalf("enable with the encrypted bundle and primary_api_addr %s (closed): %v", closed, err)
	}
	if len(sec.Warnings) == 0 {
		t.Errorf("enable answered no warning")
	}
	waitInSync(t, a, b)
	if st := b.status(); st.ClusterID != clusterID || st.SecondaryID != "b" {
		t.Errorf("secondary status: cluster_id %s secondary_id %s", st.ClusterID, st.SecondaryID)
	}
	if strings.Contains(a.srv.Output(), "activation token unwrapped") || strings.Contains(a.srv.Output(), "path=/v1/sys/wrapping/unwrap") {
		t.Errorf("the primary served an unwrap during public-key activation")
	}

	// The same bundle cannot be opened twice into another cluster: it is
	// encrypted to B's key only.
	c := startCluster(t, "C")
	if _, err := c.rootClient().Logical().Write("sys/replication/dr/secondary/generate-public-key", nil); err != nil {
		t.Fatalf("C generate-public-key: %v", err)
	}
	code, resp := ctlCall(t, c, http.MethodPut, "/v1/"+pEnableSec, c.root, mustJSON(map[string]any{"token": tok}))
	wantAPIError(t, "enable C with B's bundle", code, resp, http.StatusBadRequest, "different public key")
}

// TestPromoteWithBatchDRToken: a batch token created on the primary whose
// policy allows promote replicates to the secondary and promotes it; one
// without that policy, or sent as X-Vault-Token, does not.
func TestPromoteWithBatchDRToken(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	clusterID := enableDRPrimary(t, a)

	err := a.rootClient().Sys().PutPolicy("dr-ops", `
path "sys/replication/dr/secondary/promote" { capabilities = ["update"] }
path "sys/replication/dr/secondary/update-primary" { capabilities = ["update"] }
`)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	batch := func(policies ...string) string {
		sec, err := a.rootClient().Auth().Token().Create(&vaultapi.TokenCreateRequest{Type: "batch", TTL: "1h", Policies: policies})
		if err != nil {
			t.Fatalf("create batch token: %v", err)
		}
		if !strings.HasPrefix(sec.Auth.ClientToken, "hvb.") {
			t.Fatalf("batch token %q has no hvb. prefix", sec.Auth.ClientToken)
		}
		return sec.Auth.ClientToken
	}
	drBatch, plainBatch := batch("dr-ops"), batch("default")

	if _, err := b.rootClient().Logical().Write(pEnableSec, map[string]any{"token": a.secondaryToken(a.root, "b", nil)}); err != nil {
		t.Fatalf("enable B: %v", err)
	}
	waitInSync(t, a, b)

	code, resp := ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": plainBatch}))
	wantAPIError(t, "promote with a batch token without the policy", code, resp, http.StatusForbidden, "dr_operation_token")
	code, resp = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, drBatch, `{}`)
	wantAPIError(t, "promote with the batch token as X-Vault-Token", code, resp, http.StatusForbidden, "dr_operation_token")
	if st := b.status(); st.Mode != "secondary" {
		t.Fatalf("B mode %s after refused promotions", st.Mode)
	}

	code, resp = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": drBatch}))
	if code != http.StatusOK {
		t.Fatalf("promote with the DR batch token: %d %s", code, resp)
	}
	if st := b.status(); st.Mode != "primary" || st.ClusterID != clusterID {
		t.Fatalf("after promote: mode %s cluster_id %s, want primary %s", st.Mode, st.ClusterID, clusterID)
	}
}

// TestPromoteRefusedWhileBehind makes a secondary measurably behind with
// real behaviour only: its storage is held locked (as a stalled disk
// would), so it cannot apply what it receives. After a write on the primary
// and a stream restart (sys/replication/recover), the new stream's start
// tells the secondary the primary's WAL index, which it cannot reach.
// Promote without force answers 503 naming force; with force it promotes.
func TestPromoteRefusedWhileBehind(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	clusterID := enableDRPrimary(t, a)
	if _, err := b.rootClient().Logical().Write(pEnableSec, map[string]any{"token": a.secondaryToken(a.root, "b", nil)}); err != nil {
		t.Fatalf("enable B: %v", err)
	}
	waitInSync(t, a, b)
	// Generating the operation token writes B's local keyspace: do it
	// before B's storage is locked.
	opToken := b.drOperationToken(a.keys)
	waitInSync(t, a, b)

	unlock := b.srv.LockWrites(t)

	a.write(a.root, "secret/late", map[string]any{"v": "1"})
	target := a.status().LastWAL

	// Restart B's stream; the new stream starts from B's applied index and
	// its start frame carries the primary's index. The primary logs each
	// stream it opens once the start has been sent; B shows stream-wals
	// once it has read it (it was "connecting" since it asked).
	connected := `msg="secondary connected" secondary_id=b`
	opened := strings.Count(a.srv.Output(), connected)
	code, resp := ctlCall(t, b, http.MethodPut, "/v1/sys/replication/recover", a.root, "")
	if code != http.StatusOK {
		t.Fatalf("recover: %d %s", code, resp)
	}
	eventually(t, "B's new stream has started", 10*time.Second, func() (bool, string) {
		if n := strings.Count(a.srv.Output(), connected); n <= opened {
			return false, "primary opened no new stream"
		}
		st := b.status()
		return st.State == "stream-wals", "B state " + st.State
	})
	st := b.status()
	if st.LastRemoteWAL >= target {
		t.Fatalf("B applied WAL %d though its storage is locked (primary at %d)", st.LastRemoteWAL, target)
	}

	code, resp = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": opToken}))
	wantAPIError(t, "promote while behind", code, resp, http.StatusServiceUnavailable, "behind", "force")
	if st := b.status(); st.Mode != "secondary" || st.ClusterID != clusterID {
		t.Fatalf("after a refused promote: mode %s cluster_id %s", st.Mode, st.ClusterID)
	}

	// Promoting writes B's storage: release it, then force.
	unlock()
	code, resp = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": opToken, "force": true}))
	if code != http.StatusOK {
		t.Fatalf("promote with force: %d %s", code, resp)
	}
	if st := b.status(); st.Mode != "primary" || st.ClusterID != clusterID {
		t.Fatalf("after promote with force: mode %s cluster_id %s", st.Mode, st.ClusterID)
	}
}

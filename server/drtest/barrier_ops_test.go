package drtest

import (
	"net/http"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// promote promotes secondary b with a DR operation token made from keys.
func promote(t *testing.T, b *cluster, keys []string) {
	t.Helper()
	tok := b.drOperationToken(keys)
	if code, resp := ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": tok})); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("%s: promote: %d %s", b.name, code, resp)
	}
}

// TestBarrierRotateUnderLoadThenPromote (acceptance 3): sys/rotate on the
// primary while writers run; the new term reaches the secondary, which,
// promoted, reads every acknowledged key (old and new terms).
func TestBarrierRotateUnderLoadThenPromote(t *testing.T) {
	a, b := setupPair(t, "")
	l := startLoad(t, 4, 400, func() (string, string) { return a.srv.Addr, a.root })
	l.waitAcked(100)
	if err := a.rootClient().Sys().Rotate(); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	ks, err := a.rootClient().Sys().KeyStatus()
	if err != nil || ks.Term != 2 {
		t.Fatalf("key-status after rotate: %+v, %v", ks, err)
	}
	l.waitAcked(200)
	l.stop()
	waitInSync(t, a, b)
	_, acked := l.snapshot()
	promote(t, b, a.keys)
	ks, err = b.client(a.root).Sys().KeyStatus()
	if err != nil || ks.Term != 2 {
		t.Fatalf("promoted secondary's key-status: %+v, %v", ks, err)
	}
	for k := range acked {
		if got := readSecretV(t, b, a.root, "secret/load/"+k); got != k {
			t.Fatalf("promoted secondary reads %q for %s", got, k)
		}
	}
	t.Logf("%d acknowledged keys read on the promoted secondary", len(acked))
}

// TestBarrierRekeyRestartBoth (acceptance 3): rekey the primary (5 shares,
// threshold 3 again, so that the old shares still form a quorum of the old
// root key) with verification; restart both clusters: the old shares no
// longer unseal either, the new ones unseal both.
func TestBarrierRekeyRestartBoth(t *testing.T) {
	a, b := setupPair(t, "")
	a.write(a.root, "secret/before-rekey", map[string]any{"v": "kept"})
	sys := a.client("").Sys()
	st, err := sys.RekeyInit(&vaultapi.RekeyInitRequest{SecretShares: 5, SecretThreshold: 3, RequireVerification: true})
	if err != nil || !st.Started || st.Required != 3 {
		t.Fatalf("rekey init: %+v, %v", st, err)
	}
	var res *vaultapi.RekeyUpdateResponse
	for _, k := range a.keys[:3] {
		if res, err = sys.RekeyUpdate(k, st.Nonce); err != nil {
			t.Fatalf("rekey update: %v", err)
		}
	}
	if !res.Complete || len(res.Keys) != 5 || !res.VerificationRequired || res.VerificationNonce == "" {
		t.Fatalf("rekey answer: %+v", res)
	}
	// Until verified, the old shares are still the cluster's.
	if err := a.srv.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	a.srv.Restart()
	a.unseal(a.keys)
	// The attempt lived in memory: do it again and verify this time.
	st, err = sys.RekeyInit(&vaultapi.RekeyInitRequest{SecretShares: 5, SecretThreshold: 3, RequireVerification: true})
	if err != nil {
		t.Fatalf("rekey init again: %v", err)
	}
	for _, k := range a.keys[:3] {
		if res, err = sys.RekeyUpdate(k, st.Nonce); err != nil {
			t.Fatalf("rekey update: %v", err)
		}
	}
	newKeys := res.Keys
	var vr *vaultapi.RekeyVerificationUpdateResponse
	for _, k := range newKeys[:3] {
		if vr, err = sys.RekeyVerificationUpdate(k, res.VerificationNonce); err != nil {
			t.Fatalf("rekey verify: %v", err)
		}
	}
	if !vr.Complete {
		t.Fatalf("verification not complete: %+v", vr)
	}
	waitInSync(t, a, b)
	for _, c := range []*cluster{a, b} {
		c.srv.Restart()
		cl := c.client("").Sys()
		var oldErr error
		for _, k := range a.keys[:3] {
			if _, err := cl.Unseal(k); err != nil {
				oldErr = err
			}
		}
		if s, err := cl.SealStatus(); err != nil || !s.Sealed || oldErr == nil {
			t.Fatalf("%s: after a quorum of old shares: %+v, %v, unseal error %v", c.name, s, err, oldErr)
		}
		if _, err := cl.ResetUnsealProcess(); err != nil {
			t.Fatal(err)
		}
		for _, k := range newKeys[2:] {
			if _, err := cl.Unseal(k); err != nil {
				t.Fatalf("%s: unseal with a new share: %v", c.name, err)
			}
		}
		if s, _ := cl.SealStatus(); s.Sealed {
			t.Fatalf("%s: the new shares do not unseal", c.name)
		}
	}
	if got := readSecretV(t, a, a.root, "secret/before-rekey"); got != "kept" {
		t.Fatalf("primary reads %q after rekey", got)
	}
	waitInSync(t, a, b)
	promote(t, b, newKeys[2:])
	if got := readSecretV(t, b, a.root, "secret/before-rekey"); got != "kept" {
		t.Fatalf("promoted secondary reads %q after rekey", got)
	}
}

// TestBarrierGenerateRootPrimaryAndPromoted (acceptance 3): a root token
// generated with sys/generate-root on a primary and on a promoted
// secondary, decoded by roottoken, reads data through the barrier.
func TestBarrierGenerateRootPrimaryAndPromoted(t *testing.T) {
	a, b := setupPair(t, "")
	a.write(a.root, "secret/g", map[string]any{"v": "root-gen"})
	tok := a.generateRoot(a.keys)
	if got := readSecretV(t, a, tok, "secret/g"); got != "root-gen" {
		t.Fatalf("generated root token reads %q on the primary", got)
	}
	waitInSync(t, a, b)
	promote(t, b, a.keys)
	tok2 := b.generateRoot(a.keys)
	if got := readSecretV(t, b, tok2, "secret/g"); got != "root-gen" {
		t.Fatalf("root token generated on the promoted secondary reads %q", got)
	}
}

// TestBarrierWrongShares (acceptance 2): a copy of a database started by a
// fresh server does not unseal with another cluster's shares and serves
// nothing; with the right shares everything reads.
func TestBarrierWrongShares(t *testing.T) {
	a := startCluster(t, "A")
	a.write(a.root, "secret/copied", map[string]any{"v": "only-with-the-right-shares"})
	other := startCluster(t, "X")
	if err := a.srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	srv := testserver.Start(t, builder.Binary(t), a.srv.CopyStorage(t))
	c := &cluster{t: t, name: "copy", srv: srv, root: a.root}
	sys := c.client("").Sys()
	var unsealErr error
	for _, k := range other.keys[:3] {
		if _, err := sys.Unseal(k); err != nil {
			unsealErr = err
		}
	}
	if s, _ := sys.SealStatus(); !s.Sealed || unsealErr == nil {
		t.Fatalf("another cluster's shares: sealed=%v err=%v", s.Sealed, unsealErr)
	}
	code, body := c.raw(http.MethodGet, "/v1/secret/copied", a.root, "")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("read while sealed: %d %s", code, body)
	}
	c.unseal(a.keys)
	if got := readSecretV(t, c, a.root, "secret/copied"); got != "only-with-the-right-shares" {
		t.Fatalf("right shares read %q", got)
	}
}

// TestBarrierRekeyThenRotateRunningSecondary: a secondary that ran through
// a rekey on its primary holds the old root key; it still follows a later
// rotation (each term is stored sealed under the one before) and, promoted,
// reads the new term's data.
func TestBarrierRekeyThenRotateRunningSecondary(t *testing.T) {
	a, b := setupPair(t, "")
	sys := a.client("").Sys()
	st, err := sys.RekeyInit(&vaultapi.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	var res *vaultapi.RekeyUpdateResponse
	for _, k := range a.keys[:3] {
		if res, err = sys.RekeyUpdate(k, st.Nonce); err != nil {
			t.Fatalf("rekey update: %v", err)
		}
	}
	if !res.Complete || res.VerificationRequired || len(res.Keys) != 3 {
		t.Fatalf("rekey answer: %+v", res)
	}
	if err := a.rootClient().Sys().Rotate(); err != nil {
		t.Fatalf("rotate after rekey: %v", err)
	}
	a.write(a.root, "secret/after-rotate", map[string]any{"v": "term-2"})
	waitInSync(t, a, b)
	promote(t, b, res.Keys)
	if got := readSecretV(t, b, a.root, "secret/after-rotate"); got != "term-2" {
		t.Fatalf("promoted secondary reads %q", got)
	}
	if ks, err := b.client(a.root).Sys().KeyStatus(); err != nil || ks.Term != 2 {
		t.Fatalf("promoted secondary's key-status: %+v, %v", ks, err)
	}
	// Its root key is the old one: rotating there is refused, not a keyring
	// sealed under a key nobody holds.
	if err := b.client(a.root).Sys().Rotate(); err == nil || !strings.Contains(err.Error(), "Code: 400") {
		t.Fatalf("rotate with an out-of-date root key: %v, want a 400", err)
	}
}

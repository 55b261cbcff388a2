package drtest

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// perfPair makes a a performance primary and b its secondary, and returns
// b's own root token (generated from a's shares, as in Vault: enabling
// wipes b's tokens and b unseals with a's shares from then on).
func perfPair(t *testing.T, a, b *cluster) string {
	t.Helper()
	if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/enable", nil); err != nil {
		t.Fatalf("enable performance primary: %v", err)
	}
	tw, err := a.rootClient().Logical().Write("sys/replication/performance/primary/secondary-token", map[string]any{"id": "b"})
	if err != nil || tw.WrapInfo == nil {
		t.Fatalf("performance secondary-token: %v", err)
	}
	if _, err := b.rootClient().Logical().Write("sys/replication/performance/secondary/enable", map[string]any{"token": tw.WrapInfo.Token}); err != nil {
		t.Fatalf("enable performance secondary: %v", err)
	}
	eventually(t, "performance secondary streaming", 30*time.Second, func() (bool, string) {
		st, err := b.client("").Sys().ReplicationPerformanceStatusWithContext(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return st.Mode == "secondary" && st.State == "stream-wals", st.Mode + " " + st.State
	})
	return b.generateRoot(a.keys)
}

// readV reads a secret's "v" on c with token, "" when absent; other
// failures are returned.
func readV(c *cluster, token, path string) (string, error) {
	s, err := c.client(token).Logical().Read(path)
	if err != nil || s == nil {
		return "", err
	}
	v, _ := s.Data["v"].(string)
	return v, nil
}

// TestPerformanceSecondaryServesReplicatedData: what the primary writes
// reads on the performance secondary; each cluster's tokens are its own;
// writes on the secondary to replicated paths are authorised there and
// forwarded, and read back on it with X-Vault-Index; a paths filter takes a mount's data off the secondary and
// removing it brings the data back.
func TestPerformanceSecondaryServesReplicatedData(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	a.write(a.root, "secret/before", map[string]any{"v": "1"})
	if _, err := a.rootClient().Logical().Write("sys/mounts/kv-b", map[string]any{"type": "kv"}); err != nil {
		t.Fatalf("mount kv-b: %v", err)
	}
	a.write(a.root, "kv-b/x", map[string]any{"v": "filtered"})
	bRoot := perfPair(t, a, b)
	if bRoot == a.root {
		t.Fatal("the secondary's generated root token is the primary's")
	}
	a.write(a.root, "secret/after", map[string]any{"v": "2"})
	for path, want := range map[string]string{"secret/before": "1", "secret/after": "2", "kv-b/x": "filtered"} {
		eventually(t, "B reads "+path, 30*time.Second, func() (bool, string) {
			v, err := readV(b, bRoot, path)
			return err == nil && v == want, v
		})
	}

	// Tokens are per cluster.
	if code, body := b.raw(http.MethodGet, "/v1/secret/before", a.root, ""); code != http.StatusForbidden {
		t.Fatalf("A's root token on B: %d %s", code, body)
	}
	if code, body := a.raw(http.MethodGet, "/v1/secret/before", bRoot, ""); code != http.StatusForbidden {
		t.Fatalf("B's root token on A: %d %s", code, body)
	}
	child, err := b.client(bRoot).Auth().Token().Create(nil)
	if err != nil {
		t.Fatalf("token create on B: %v", err)
	}
	if v, err := readV(b, child.Auth.ClientToken, "secret/before"); err != nil || v != "1" {
		t.Fatalf("B's own child token reads %q %v", v, err)
	}
	if code, _ := a.raw(http.MethodGet, "/v1/auth/token/lookup-self", child.Auth.ClientToken, ""); code != http.StatusForbidden {
		t.Fatalf("B's child token on A answered %d", code)
	}
	// A write on B to a replicated mount is forwarded: it lands on A, and
	// B reads it back at once with the X-Vault-Index of the answer.
	var state string
	if _, err := b.client(bRoot).WithResponseCallbacks(vaultapi.RecordState(&state)).Logical().Write("secret/onb", map[string]any{"v": "forwarded"}); err != nil {
		t.Fatalf("forwarded write on B: %v", err)
	}
	if state == "" {
		t.Fatal("a forwarded write answered no X-Vault-Index")
	}
	if v := readSecretV(t, a, a.root, "secret/onb"); v != "forwarded" {
		t.Fatalf("the forwarded write is not on A: %q", v)
	}
	s, err := b.client(bRoot).WithRequestCallbacks(vaultapi.RequireState(state)).Logical().Read("secret/onb")
	if err != nil || s == nil || s.Data["v"] != "forwarded" {
		t.Fatalf("read-after-write on B with X-Vault-Index: %v %+v", err, s)
	}
	// A forwarded write is authorised on B: A's token means nothing there.
	code, body := ctlCall(t, b, http.MethodPut, "/v1/secret/onb", a.root, `{"v":"x"}`)
	wantAPIError(t, "forwarded write with A's token", code, body, 403, "permission denied")
	code, body = ctlCall(t, b, http.MethodGet, "/v1/secret/onb", bRoot, "")
	if code != 200 || !strings.Contains(body, "forwarded") {
		t.Fatalf("read on B: %d %s", code, body)
	}
	// An index B cannot read is a 400; one of a position B never reaches, 412.
	req := func(index string) (int, string) {
		hr, _ := http.NewRequest(http.MethodGet, b.srv.Addr+"/v1/secret/onb", nil)
		hr.Header.Set("X-Vault-Token", bRoot)
		hr.Header.Set("X-Vault-Index", index)
		resp, err := b.srv.HTTPClient().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	code, body = req("not-an-index")
	wantAPIError(t, "garbage X-Vault-Index", code, body, 400, "X-Vault-Index")
	_, perfID, _, _ := a.perfStatus()
	code, body = req(base64.RawURLEncoding.EncodeToString([]byte("vr1:" + perfID + ":999999999")))
	wantAPIError(t, "unreached X-Vault-Index", code, body, 412, "not applied")

	// A's local mount and its data stay on A.
	if _, err := a.rootClient().Logical().Write("sys/mounts/a-local", map[string]any{"type": "kv", "local": true}); err != nil {
		t.Fatalf("enable a local mount on A: %v", err)
	}
	a.write(a.root, "a-local/k", map[string]any{"v": "only-on-a"})
	a.write(a.root, "secret/marker", map[string]any{"v": "m"})
	eventually(t, "B reads secret/marker", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "secret/marker")
		return err == nil && v == "m", v
	})
	if m, err := b.client(bRoot).Sys().ListMounts(); err != nil || m["a-local/"] != nil || m["kv-b/"] == nil {
		t.Fatalf("B's mounts: %v %v", err, m)
	}

	// A local mount on B is B's alone: enabled and written on B, never on A.
	if _, err := b.client(bRoot).Logical().Write("sys/mounts/b-local", map[string]any{"type": "kv", "local": true}); err != nil {
		t.Fatalf("enable a local mount on B: %v", err)
	}
	b.write(bRoot, "b-local/k", map[string]any{"v": "only-on-b"})
	if v, err := readV(b, bRoot, "b-local/k"); err != nil || v != "only-on-b" {
		t.Fatalf("B's local mount reads %q %v", v, err)
	}
	if m, err := a.rootClient().Sys().ListMounts(); err != nil || m["b-local/"] != nil {
		t.Fatalf("B's local mount shows on A: %v", err)
	}
	if code, _ := a.raw(http.MethodGet, "/v1/b-local/k", a.root, ""); code != http.StatusNotFound {
		t.Fatalf("B's local data answered %d on A", code)
	}
	a.write(a.root, "secret/marker2", map[string]any{"v": "m2"})
	eventually(t, "B reads secret/marker2", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "secret/marker2")
		return err == nil && v == "m2", v
	})
	if m, err := b.client(bRoot).Sys().ListMounts(); err != nil || m["a-local/"] != nil || m["b-local/"] == nil {
		t.Fatalf("B's mounts: %v %v", err, m)
	}
	if v := readSecretV(t, b, bRoot, "b-local/k"); v != "only-on-b" {
		t.Fatalf("B's local data after A's changes: %q", v)
	}

	// A paths filter takes kv-b's data off B; removing it brings it back.
	if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/paths-filter/b", map[string]any{"mode": "deny", "paths": []string{"kv-b/"}}); err != nil {
		t.Fatalf("paths filter: %v", err)
	}
	eventually(t, "kv-b's data gone from B", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "kv-b/x")
		return err == nil && v == "", v
	})
	a.write(a.root, "kv-b/y", map[string]any{"v": "while-filtered"})
	a.write(a.root, "secret/while", map[string]any{"v": "3"})
	eventually(t, "B reads secret/while", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "secret/while")
		return err == nil && v == "3", v
	})
	if v, err := readV(b, bRoot, "kv-b/y"); err != nil || v != "" {
		t.Fatalf("a write to a filtered mount reached B: %q %v", v, err)
	}
	if _, err := a.rootClient().Logical().Delete("sys/replication/performance/primary/paths-filter/b"); err != nil {
		t.Fatalf("delete paths filter: %v", err)
	}
	for path, want := range map[string]string{"kv-b/x": "filtered", "kv-b/y": "while-filtered"} {
		eventually(t, "B reads "+path+" again", 30*time.Second, func() (bool, string) {
			v, err := readV(b, bRoot, path)
			return err == nil && v == want, v
		})
	}
	if v, err := readV(b, bRoot, "secret/after"); err != nil || v != "2" {
		t.Fatalf("B lost secret/after: %q %v", v, err)
	}
}

// TestPerformanceUpdatePrimary: a performance secondary re-pointed with a
// new activation token of its own set keeps its data and its own tokens
// and follows again; a token of another set is refused before it is spent
// and changes nothing.
func TestPerformanceUpdatePrimary(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	c := startCluster(t, "C")
	bRoot := perfPair(t, a, b)
	if _, err := c.rootClient().Logical().Write("sys/replication/performance/primary/enable", nil); err != nil {
		t.Fatalf("enable C as another performance primary: %v", err)
	}
	other, err := c.rootClient().Logical().Write("sys/replication/performance/primary/secondary-token", map[string]any{"id": "b"})
	if err != nil || other.WrapInfo == nil {
		t.Fatalf("C's secondary-token: %v", err)
	}
	code, body := ctlCall(t, b, http.MethodPut, "/v1/sys/replication/performance/secondary/update-primary", bRoot, mustJSON(map[string]any{"token": other.WrapInfo.Token}))
	wantAPIError(t, "update-primary with another set's token", code, body, 400, "performance replication set")

	if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/revoke-secondary", map[string]any{"id": "b"}); err != nil {
		t.Fatalf("revoke b: %v", err)
	}
	tw, err := a.rootClient().Logical().Write("sys/replication/performance/primary/secondary-token", map[string]any{"id": "b"})
	if err != nil || tw.WrapInfo == nil {
		t.Fatalf("new secondary-token: %v", err)
	}
	if _, err := b.client(bRoot).Logical().Write("sys/replication/performance/secondary/update-primary", map[string]any{"token": tw.WrapInfo.Token}); err != nil {
		t.Fatalf("update-primary: %v", err)
	}
	a.write(a.root, "secret/after-update", map[string]any{"v": "u"})
	eventually(t, "B follows A again", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "secret/after-update")
		return err == nil && v == "u", v
	})
}

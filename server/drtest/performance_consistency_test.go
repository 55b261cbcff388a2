package drtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// inconsistentForwardHeader is Vault's X-Vault-Inconsistent value that
// asks for forwarding rather than waiting.
const inconsistentForwardHeader = "forward-active-node"

// indexRead reads path on c with token carrying X-Vault-Index (and
// X-Vault-Inconsistent when set), without the client's retries of 412.
func indexRead(t *testing.T, c *cluster, path, token, index, inconsistent string) (int, string, string) {
	t.Helper()
	hr, err := http.NewRequest(http.MethodGet, c.srv.Addr+"/v1/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("X-Vault-Token", token)
	hr.Header.Set("X-Vault-Index", index)
	if inconsistent != "" {
		hr.Header.Set("X-Vault-Inconsistent", inconsistent)
	}
	resp, err := c.srv.HTTPClient().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header.Get("X-Vault-Index")
}

// TestPerformanceForwardInconsistent: a read on a performance secondary
// carrying an X-Vault-Index it has not applied waits and answers 412; with
// X-Vault-Inconsistent: forward-active-node (vault/api's
// ForwardInconsistent) it is authorised on the secondary and answered by
// the primary at once, with the primary's data and index. The secondary is
// held behind by taking its database's write lock from the test.
func TestPerformanceForwardInconsistent(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	bRoot := perfPair(t, a, b)
	bc := b.client(bRoot)
	if _, err := bc.Logical().Write("secret/rw", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("forwarded write: %v", err)
	}
	eventually(t, "B reads v=1", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "secret/rw")
		return err == nil && v == "1", v
	})

	unlock := b.srv.LockWrites(t)
	defer unlock()
	var state string
	if _, err := bc.WithResponseCallbacks(vaultapi.RecordState(&state)).Logical().Write("secret/rw", map[string]any{"v": "2"}); err != nil {
		t.Fatalf("forwarded write while B cannot apply: %v", err)
	}
	if state == "" {
		t.Fatal("the forwarded write answered no X-Vault-Index")
	}
	// B still holds v=1 and has not applied the write's index.
	if v, err := readV(b, bRoot, "secret/rw"); err != nil || v != "1" {
		t.Fatalf("B without an index reads %q %v, want its own stale v=1", v, err)
	}
	began := time.Now()
	code, body, _ := indexRead(t, b, "secret/rw", bRoot, state, "")
	wantAPIError(t, "unapplied X-Vault-Index without forwarding", code, body, http.StatusPreconditionFailed, "forward-active-node")
	if waited := time.Since(began); waited < time.Second {
		t.Fatalf("412 after %s: the secondary did not wait for the index", waited)
	}
	code, body, _ = indexRead(t, b, "secret/rw", bRoot, state, "fail")
	if code != http.StatusPreconditionFailed {
		t.Fatalf("X-Vault-Inconsistent: fail answered %d %s, want 412", code, body)
	}

	// Forwarded: the primary's answer, at once, with an index.
	var after string
	began = time.Now()
	s, err := bc.WithRequestCallbacks(vaultapi.RequireState(state), vaultapi.ForwardInconsistent()).
		WithResponseCallbacks(vaultapi.RecordState(&after)).Logical().Read("secret/rw")
	if err != nil || s == nil || s.Data["v"] != "2" {
		t.Fatalf("read with ForwardInconsistent: %v %+v, want the primary's v=2", err, s)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("the forwarded read took %s: it waited for the index first", took)
	}
	if after == "" {
		t.Error("the forwarded read answered no X-Vault-Index")
	}
	// A LIST is forwarded as a LIST.
	l, err := bc.WithRequestCallbacks(vaultapi.RequireState(state), vaultapi.ForwardInconsistent()).Logical().List("secret/")
	if err != nil || l == nil {
		t.Fatalf("LIST with ForwardInconsistent: %v", err)
	}
	if keys, _ := l.Data["keys"].([]any); !slices.Contains(keys, any("rw")) {
		t.Fatalf("LIST with ForwardInconsistent: %v %+v", err, l)
	}
	// Authorised on B before it is forwarded: A's token means nothing here.
	code, body, _ = indexRead(t, b, "secret/rw", a.root, state, "forward-active-node")
	wantAPIError(t, "forwarded read with A's token", code, body, http.StatusForbidden, "permission denied")
	// A header B cannot read is refused, forwarding or not.
	code, body, _ = indexRead(t, b, "secret/rw", bRoot, "garbage", "forward-active-node")
	wantAPIError(t, "garbage X-Vault-Index with forwarding", code, body, http.StatusBadRequest, "X-Vault-Index")

	// Released, B applies the write and serves it itself.
	unlock()
	s, err = bc.WithRequestCallbacks(vaultapi.RequireState(state)).Logical().Read("secret/rw")
	if err != nil || s == nil || s.Data["v"] != "2" {
		t.Fatalf("read on B after it caught up: %v %+v", err, s)
	}

	// What B owns stays B's even when the request asks for forwarding:
	// enabling a local mount with an index B never reaches.
	_, perfID, _, _ := a.perfStatus()
	future := base64.RawURLEncoding.EncodeToString([]byte("vr1:" + perfID + ":999999999"))
	hr, err := http.NewRequest(http.MethodPut, b.srv.Addr+"/v1/sys/mounts/b-own", strings.NewReader(`{"type":"kv","local":true}`))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("X-Vault-Token", bRoot)
	hr.Header.Set("X-Vault-Index", future)
	hr.Header.Set("X-Vault-Inconsistent", inconsistentForwardHeader)
	resp, err := b.srv.HTTPClient().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("enable a local mount on B with forward-active-node: %d %s", resp.StatusCode, raw)
	}
	if m, err := bc.Sys().ListMounts(); err != nil || m["b-own/"] == nil {
		t.Fatalf("B's local mount is not on B: %v %v", err, m)
	}
	if m, err := a.rootClient().Sys().ListMounts(); err != nil || m["b-own/"] != nil {
		t.Fatalf("B's local mount was enabled on A: %v", err)
	}
}

// TestPerformanceDynamicFilter: primary/dynamic-filter/:id answers the
// mounts a secondary's paths filter leaves out now, evaluated against the
// mount table as it changes (an allow filter leaves out mounts created
// after it); local mounts are never listed (they are not filtered, just
// never replicated); unknown ids, DR paths and secondaries are refused.
func TestPerformanceDynamicFilter(t *testing.T) {
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	bRoot := perfPair(t, a, b)
	for _, m := range []struct {
		path  string
		local bool
	}{{"kv-b", false}, {"kv-c", false}, {"a-local", true}} {
		if _, err := a.rootClient().Logical().Write("sys/mounts/"+m.path, map[string]any{"type": "kv", "local": m.local}); err != nil {
			t.Fatalf("mount %s: %v", m.path, err)
		}
	}
	const dyn = "sys/replication/performance/primary/dynamic-filter/"
	read := func(id string) []string {
		t.Helper()
		s, err := a.rootClient().Logical().ReadWithContext(context.Background(), dyn+id)
		if err != nil || s == nil {
			t.Fatalf("read dynamic filter of %s: %v %+v", id, err, s)
		}
		if ns, ok := s.Data["dynamic_filtered_namespaces"].([]any); !ok || len(ns) != 0 {
			t.Fatalf("dynamic_filtered_namespaces: %#v", s.Data["dynamic_filtered_namespaces"])
		}
		raw, ok := s.Data["dynamic_filtered_mounts"].([]any)
		if !ok {
			t.Fatalf("dynamic_filtered_mounts: %#v", s.Data["dynamic_filtered_mounts"])
		}
		var out []string
		for _, v := range raw {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	if got := read("b"); len(got) != 0 {
		t.Fatalf("no filter: %v, want none", got)
	}
	setFilter := func(mode string, paths ...string) {
		t.Helper()
		if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/paths-filter/b", map[string]any{"mode": mode, "paths": paths}); err != nil {
			t.Fatalf("paths filter: %v", err)
		}
	}
	setFilter("deny", "kv-b/", "a-local/", "not-mounted/")
	if got := read("b"); !slices.Equal(got, []string{"kv-b/"}) {
		t.Fatalf("deny kv-b/, a-local/, not-mounted/: %v, want [kv-b/]", got)
	}
	setFilter("allow", "secret/")
	got := read("b")
	if !slices.Contains(got, "kv-b/") || !slices.Contains(got, "kv-c/") || slices.Contains(got, "secret/") || slices.Contains(got, "a-local/") {
		t.Fatalf("allow secret/: %v, want kv-b/ and kv-c/, not secret/ or the local mount", got)
	}
	if _, err := a.rootClient().Logical().Write("sys/mounts/kv-d", map[string]any{"type": "kv"}); err != nil {
		t.Fatalf("mount kv-d: %v", err)
	}
	if got := read("b"); !slices.Contains(got, "kv-d/") {
		t.Fatalf("a mount created after an allow filter is not listed: %v", got)
	}
	// The list is what B is missing: kv-d's data stays off B.
	a.write(a.root, "kv-d/x", map[string]any{"v": "off-b"})
	a.write(a.root, "secret/marker", map[string]any{"v": "m"})
	eventually(t, "B reads secret/marker", 30*time.Second, func() (bool, string) {
		v, err := readV(b, bRoot, "secret/marker")
		return err == nil && v == "m", v
	})
	if v, err := readV(b, bRoot, "kv-d/x"); err != nil || v != "" {
		t.Fatalf("kv-d/x reached B under the allow filter: %q %v", v, err)
	}
	// Nor can B reach what its view leaves out through the primary: writes,
	// and reads forwarded for consistency, into kv-d/ (filtered) and
	// a-local/ (A's local mount) answer 404 as B would without the mount.
	a.write(a.root, "a-local/k", map[string]any{"v": "only-a"})
	_, perfID, _, _ := a.perfStatus()
	future := base64.RawURLEncoding.EncodeToString([]byte("vr1:" + perfID + ":999999999"))
	for _, path := range []string{"kv-d/x", "a-local/k", "kv-d"} {
		code, body := ctlCall(t, b, http.MethodPut, "/v1/"+path, bRoot, `{"v":"from-b"}`)
		wantAPIError(t, "write on B into "+path, code, body, http.StatusNotFound, "no handler")
		code, body, _ = indexRead(t, b, path, bRoot, future, inconsistentForwardHeader)
		wantAPIError(t, "forwarded read on B of "+path, code, body, http.StatusNotFound, "no handler")
	}
	if code, body, _ := indexRead(t, b, "secret/marker", bRoot, future, inconsistentForwardHeader); code != http.StatusOK || !strings.Contains(body, `"m"`) {
		t.Fatalf("forwarded read of a replicated mount: %d %s", code, body)
	}
	if v := readSecretV(t, a, a.root, "kv-d/x"); v != "off-b" {
		t.Fatalf("kv-d/x on A is %q after B's refused write", v)
	}
	if v := readSecretV(t, a, a.root, "a-local/k"); v != "only-a" {
		t.Fatalf("a-local/k on A is %q after B's refused write", v)
	}

	// A filter may name an id before its token; one with neither is a 404.
	setFilterFor := func(id string) {
		if _, err := a.rootClient().Logical().Write("sys/replication/performance/primary/paths-filter/"+id, map[string]any{"mode": "deny", "paths": []string{"kv-c/"}}); err != nil {
			t.Fatal(err)
		}
	}
	setFilterFor("later")
	if got := read("later"); !slices.Equal(got, []string{"kv-c/"}) {
		t.Fatalf("filter of an id without a token: %v", got)
	}
	code, body := a.raw(http.MethodGet, "/v1/"+dyn+"nobody", a.root, "")
	if code != http.StatusNotFound {
		t.Fatalf("unknown id answered %d %s, want 404", code, body)
	}
	code, body = a.raw(http.MethodGet, "/v1/"+dyn+"bad%20id", a.root, "")
	wantAPIError(t, "dynamic filter of an invalid id", code, body, http.StatusBadRequest, "not valid")
	code, body = a.raw(http.MethodGet, "/v1/"+dyn+"b", "", "")
	wantAPIError(t, "dynamic filter without a token", code, body, http.StatusForbidden, "permission denied")
	code, _ = a.raw(http.MethodGet, "/v1/sys/replication/dr/primary/dynamic-filter/b", a.root, "")
	if code != http.StatusNotFound {
		t.Fatalf("a DR dynamic-filter path answered %d, want 404 (DR has none)", code)
	}
	code, body = b.raw(http.MethodGet, "/v1/"+dyn+"b", bRoot, "")
	wantAPIError(t, "dynamic filter on the secondary", code, body, http.StatusBadRequest, "primary")
}

package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"
)

// wantVaultError checks err is a Vault response error with this status and
// a message containing want.
func wantVaultError(t *testing.T, what string, err error, status int, want string) {
	t.Helper()
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v, want a %d response", what, err, status)
	}
	if re.StatusCode != status || !strings.Contains(strings.Join(re.Errors, "; "), want) {
		t.Fatalf("%s: %d %q, want %d containing %q", what, re.StatusCode, re.Errors, status, want)
	}
}

// TestMountsThroughOfficialClient enables, reads, tunes, moves and disables
// mounts with the official client's Sys() calls, as `vault secrets` does.
func TestMountsThroughOfficialClient(t *testing.T) {
	tc := newUnsealedCluster(t)
	c := tc.client(tc.root)

	list, err := c.Sys().ListMounts()
	if err != nil {
		t.Fatalf("ListMounts: %v", err)
	}
	if list["secret/"] == nil || list["secret/"].Type != "kv" || list["secret/"].Options["version"] != "1" || list["sys/"] == nil || list["sys/"].Type != "system" {
		t.Fatalf("default mounts = %v", keysOf(list))
	}

	err = c.Sys().Mount("kv2", &vaultapi.MountInput{
		Type: "kv", Description: "versioned", Local: true,
		Options: map[string]string{"version": "2"},
		Config:  vaultapi.MountConfigInput{DefaultLeaseTTL: "1h", MaxLeaseTTL: "2h"},
	})
	if err != nil {
		t.Fatalf("Mount kv v2: %v", err)
	}
	if err := c.Sys().Mount("team/v1", &vaultapi.MountInput{Type: "kv-v1"}); err != nil {
		t.Fatalf("Mount kv-v1: %v", err)
	}
	got, err := c.Sys().GetMount("kv2")
	if err != nil {
		t.Fatalf("GetMount: %v", err)
	}
	if got.Type != "kv" || got.Description != "versioned" || !got.Local || got.Options["version"] != "2" ||
		got.Config.DefaultLeaseTTL != 3600 || got.Config.MaxLeaseTTL != 7200 || got.UUID == "" || !strings.HasPrefix(got.Accessor, "kv_") {
		t.Fatalf("GetMount(kv2) = %+v", got)
	}

	// Wrong input gets Vault's status and message.
	wantVaultError(t, "mount at a used path", c.Sys().Mount("kv2", &vaultapi.MountInput{Type: "kv"}), http.StatusConflict, "path is already in use at kv2/")
	wantVaultError(t, "mount under a mount", c.Sys().Mount("kv2/inner", &vaultapi.MountInput{Type: "kv"}), http.StatusConflict, "path is already in use at kv2/")
	wantVaultError(t, "mount over a mount", c.Sys().Mount("team", &vaultapi.MountInput{Type: "kv"}), http.StatusConflict, "path is already in use at team/v1/")
	wantVaultError(t, "unknown engine", c.Sys().Mount("x", &vaultapi.MountInput{Type: "nope"}), http.StatusBadRequest, "plugin not found in the catalog: nope")
	wantVaultError(t, "no type", c.Sys().Mount("x", &vaultapi.MountInput{}), http.StatusBadRequest, "backend type must be specified as a string")
	wantVaultError(t, "kv version 3", c.Sys().Mount("x", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "3"}}), http.StatusBadRequest, "unsupported kv version")
	wantVaultError(t, "mount under sys/", c.Sys().Mount("sys/x", &vaultapi.MountInput{Type: "kv"}), http.StatusForbidden, `cannot mount "sys/x/"`)
	wantVaultError(t, "default over max", c.Sys().Mount("x", &vaultapi.MountInput{Type: "kv", Config: vaultapi.MountConfigInput{DefaultLeaseTTL: "3h", MaxLeaseTTL: "1h"}}), http.StatusBadRequest, "given default lease TTL greater than given max lease TTL")
	wantVaultError(t, "bad ttl", c.Sys().Mount("x", &vaultapi.MountInput{Type: "kv", Config: vaultapi.MountConfigInput{DefaultLeaseTTL: "soon"}}), http.StatusBadRequest, "default_lease_ttl")
	// The client resolves dot segments itself, so send this one raw.
	if code, body := tc.do(http.MethodPost, "/v1/sys/mounts/a/../b", tc.root, `{"type":"kv"}`); code != http.StatusBadRequest || !strings.Contains(body, "does not match cleaned path") {
		t.Fatalf("unclean mount path: %d %s", code, body)
	}
	if _, err := c.Sys().GetMount("nowhere"); err == nil {
		t.Fatal("GetMount of no mount succeeded")
	}

	// Tune.
	str := func(s string) *string { return &s }
	if err := c.Sys().TuneMountAllowNil("kv2", vaultapi.TuneMountConfigInput{DefaultLeaseTTL: str("30m"), MaxLeaseTTL: str("90m"), Description: str("tuned")}); err != nil {
		t.Fatalf("TuneMount: %v", err)
	}
	cfg, err := c.Sys().MountConfig("kv2")
	if err != nil {
		t.Fatalf("MountConfig: %v", err)
	}
	if cfg.DefaultLeaseTTL != 1800 || cfg.MaxLeaseTTL != 5400 {
		t.Fatalf("MountConfig after tune = %+v", cfg)
	}
	tuned, err := c.Logical().Read("sys/mounts/kv2/tune")
	if err != nil || tuned.Data["description"] != "tuned" || fmt.Sprint(tuned.Data["options"]) != "map[version:2]" {
		t.Fatalf("tune read = %+v, %v", tuned, err)
	}
	cfg, err = c.Sys().MountConfig("secret")
	if err != nil || cfg.DefaultLeaseTTL != systemMaxLeaseSeconds || cfg.MaxLeaseTTL != systemMaxLeaseSeconds {
		t.Fatalf("MountConfig(secret) = %+v, %v; want the system TTLs", cfg, err)
	}
	wantVaultError(t, "tune to downgrade", c.Sys().TuneMountAllowNil("kv2", vaultapi.TuneMountConfigInput{Options: &map[string]string{"version": "1"}}), http.StatusBadRequest, "cannot downgrade mount from version 2")
	wantVaultError(t, "tune to version 3", c.Sys().TuneMountAllowNil("kv2", vaultapi.TuneMountConfigInput{Options: &map[string]string{"version": "3"}}), http.StatusBadRequest, "invalid version provided: 3")
	wantVaultError(t, "tune no mount", c.Sys().TuneMountAllowNil("nowhere", vaultapi.TuneMountConfigInput{DefaultLeaseTTL: str("1h")}), http.StatusBadRequest, "no mount entry found")
	wantVaultError(t, "tune sys", c.Sys().TuneMountAllowNil("sys", vaultapi.TuneMountConfigInput{DefaultLeaseTTL: str("1h")}), http.StatusBadRequest, `cannot tune "sys/"`)

	if code, _ := tc.do(http.MethodDelete, "/v1/sys/mounts/kv2/tune", tc.root, ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE sys/mounts/kv2/tune: %d, want 405", code)
	}
	if _, err := c.Sys().GetMount("kv2"); err != nil {
		t.Fatalf("kv2/ after DELETE on its tune path: %v", err)
	}

	// Data lives with the mount, through moves, and goes with it.
	if _, err := c.Logical().Write("team/v1/app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("write to the v1 mount: %v", err)
	}
	if err := c.Sys().Remount("team/v1", "moved"); err != nil {
		t.Fatalf("Remount: %v", err)
	}
	kv1 := c.KVv1("moved")
	sec, err := kv1.Get(t.Context(), "app")
	if err != nil || sec.Data["k"] != "v" {
		t.Fatalf("KVv1 read after the move = %+v, %v", sec, err)
	}
	if code, _ := tc.do(http.MethodGet, "/v1/team/v1/app", tc.root, ""); code != http.StatusNotFound {
		t.Fatalf("read at the old path after the move: status %d, want 404", code)
	}
	wantVaultError(t, "remount nothing", c.Sys().Remount("nowhere", "x"), http.StatusBadRequest, `no matching mount at "nowhere/"`)
	wantVaultError(t, "remount onto a mount", c.Sys().Remount("moved", "kv2"), http.StatusBadRequest, "path already in use")
	wantVaultError(t, "remount sys", c.Sys().Remount("sys", "x"), http.StatusBadRequest, `cannot remount "sys/"`)

	if err := c.Sys().Unmount("moved"); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if err := c.Sys().Unmount("never-mounted"); err != nil {
		t.Fatalf("Unmount of nothing: %v (Vault answers 204)", err)
	}
	// A new mount at the same path starts empty: the old data was deleted.
	if err := c.Sys().Mount("moved", &vaultapi.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if sec, err := c.Logical().Read("moved/app"); err != nil || sec != nil {
		t.Fatalf("read in a re-enabled mount = %+v, %v; want nothing", sec, err)
	}
	// Nothing else was written to a mount, so no mount data is left.
	if keys, err := tc.store.List(t.Context(), "logical/"); err != nil || len(keys) != 0 {
		t.Fatalf("storage under logical/ = %v, %v; want nothing", keys, err)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestInternalUIMounts answers the preflight the vault CLI and
// terraform-provider-vault send before touching a path.
func TestInternalUIMounts(t *testing.T) {
	tc := newUnsealedCluster(t)
	c := tc.client(tc.root)
	if err := c.Sys().Mount("kv2", &vaultapi.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][2]string{
		"secret/app":                 {"secret/", "kv"},
		"secret":                     {"secret/", "kv"},
		"kv2/data/x":                 {"kv2/", "kv"},
		"sys/replication/dr/status":  {"sys/", "system"},
		"auth/token/lookup-accessor": {"token/", "token"},
	} {
		sec, err := c.Logical().Read("sys/internal/ui/mounts/" + path)
		if err != nil || sec == nil || sec.Data["path"] != want[0] || sec.Data["type"] != want[1] {
			t.Fatalf("internal/ui/mounts/%s = %+v, %v; want %v", path, sec, err, want)
		}
	}
	sec, err := c.Logical().Read("sys/internal/ui/mounts/kv2/data/x")
	if err != nil || fmt.Sprint(sec.Data["options"]) != "map[version:2]" {
		t.Fatalf("kv2 preflight = %+v, %v; want options.version 2", sec, err)
	}
	code, body := tc.do(http.MethodGet, "/v1/sys/internal/ui/mounts/nothing/here", tc.root, "")
	if code != http.StatusForbidden || !strings.Contains(body, "preflight capability check returned 403") {
		t.Fatalf("preflight where no mount encloses: %d %s; want 403", code, body)
	}
}

// TestNoServerErrorOnMounts sends every mount and KV path wrong types and
// shapes: each answer is a 2xx/4xx, never a 500.
func TestNoServerErrorOnMounts(t *testing.T) {
	tc, _ := newKVv2Cluster(t)
	bodies := []string{
		`{"type":5,"options":[],"config":"x","local":"maybe","description":{},"plugin_name":[]}`,
		`{"type":"kv","options":{"version":7},"config":{"default_lease_ttl":[],"max_lease_ttl":{},"force_no_cache":"x","listing_visibility":5}}`,
		`{"data":[],"options":"x","versions":{},"version":"x","max_versions":-5,"cas_required":"maybe","delete_version_after":[],"custom_metadata":"x"}`,
		`{"data":{"k":"v"},"options":{"cas":[]},"versions":[1,"x",-1,1e40],"custom_metadata":{"k":[]},"from":5,"to":[]}`,
		`{"from":"kv","to":"sys/x"}`, `{"from":"kv ","to":" y"}`,
		`[]`, `"string"`, `null`, `{"a":`,
	}
	paths := []string{
		"/v1/sys/mounts/x", "/v1/sys/mounts/kv/tune", "/v1/sys/mounts/secret/tune", "/v1/sys/remount", "/v1/sys/remount/status/x",
		"/v1/kv/config", "/v1/kv/data/a", "/v1/kv/metadata/a", "/v1/kv/metadata/", "/v1/kv/delete/a", "/v1/kv/undelete/a", "/v1/kv/destroy/a",
		"/v1/kv/data/a?version=-1", "/v1/kv/data/a?version=99999999999999", "/v1/kv/other", "/v1/kv", "/v1/secret/a", "/v1/secret",
		"/v1/sys/internal/ui/mounts/", "/v1/sys/internal/ui/mounts/kv/data/a",
	}
	for _, p := range paths {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, "LIST", http.MethodPatch} {
			for _, body := range bodies {
				code, resp := tc.do(m, p, tc.root, body)
				if code >= http.StatusInternalServerError {
					t.Errorf("%s %s with %.60s: status %d %.200s", m, p, body, code, resp)
				}
			}
		}
	}
	// The cluster still serves its mounts afterwards.
	if code, body := tc.do(http.MethodGet, "/v1/sys/mounts/kv", tc.root, ""); code != http.StatusOK {
		t.Fatalf("kv/ after the bad requests: %d %s", code, body)
	}
}

// TestInternalUIMountsACL tells a token only about mounts it can reach, as
// Vault's preflight does.
func TestInternalUIMountsACL(t *testing.T) {
	tc := newUnsealedCluster(t)
	c := tc.client(tc.root)
	if err := c.Sys().Mount("kv2", &vaultapi.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("app", `path "kv2/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("team", `path "+/data/team/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("denied", `path "kv2/*" { capabilities = ["deny"] }`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		policy, path string
		want         int
	}{
		{"app", "kv2/data/app/x", http.StatusOK},
		{"app", "secret/x", http.StatusForbidden},
		{"app", "sys/health", http.StatusOK}, // the default policy reaches sys/
		{"app", "auth/token/lookup-self", http.StatusOK},
		{"team", "kv2/data/team/x", http.StatusOK},
		{"team", "secret/data/x", http.StatusOK},
		{"denied", "kv2/data/x", http.StatusForbidden},
	} {
		code, body := tc.do(http.MethodGet, "/v1/sys/internal/ui/mounts/"+tt.path, tc.token(tt.policy), "")
		if code != tt.want {
			t.Errorf("policy %s, preflight of %s: %d %s; want %d", tt.policy, tt.path, code, body, tt.want)
		}
	}
}

// TestKVUpgradeToVersion2 upgrades a KV v1 mount in place, as
// `vault kv enable-versioning` does: every secret becomes version 1 of a KV
// v2 secret and the v1 keys are gone.
func TestKVUpgradeToVersion2(t *testing.T) {
	tc := newUnsealedCluster(t)
	c := tc.client(tc.root)
	ctx := t.Context()
	secrets := map[string]string{"a": "1", "dir/b": "2", "dir/sub/c": "3", "metadata/odd": "4"}
	for p, v := range secrets {
		if _, err := c.Logical().Write("secret/"+p, map[string]any{"v": v}); err != nil {
			t.Fatal(err)
		}
	}
	sec, err := c.Logical().Write("sys/mounts/secret/tune", map[string]any{"options": map[string]any{"version": "2"}})
	if err != nil || sec == nil || len(sec.Warnings) == 0 || !strings.Contains(sec.Warnings[0], "Upgrading mount from version 1 to version 2") {
		t.Fatalf("tune to version 2 = %+v, %v", sec, err)
	}
	m, err := c.Sys().GetMount("secret")
	if err != nil || m.Options["version"] != "2" {
		t.Fatalf("secret/ after the upgrade = %+v, %v", m, err)
	}
	kv := c.KVv2("secret")
	for p, v := range secrets {
		s, err := kv.Get(ctx, p)
		if err != nil || s.Data["v"] != v || s.VersionMetadata.Version != 1 {
			t.Fatalf("KVv2 Get(%s) after the upgrade = %+v, %v", p, s, err)
		}
	}
	list, err := c.Logical().List("secret/metadata/dir")
	if err != nil || list == nil || fmt.Sprint(list.Data["keys"]) != "[b sub/]" {
		t.Fatalf("LIST secret/metadata/dir = %+v, %v", list, err)
	}
	if keys, err := tc.store.List(ctx, "logical/secret/"); err != nil || len(keys) != 0 {
		t.Fatalf("v1 keys left after the upgrade: %v, %v", keys, err)
	}
	if _, err := kv.Put(ctx, "a", map[string]any{"v": "new"}, vaultapi.WithCheckAndSet(1)); err != nil {
		t.Fatalf("Put version 2 after the upgrade: %v", err)
	}
	// Tuning to 2 again changes nothing.
	if err := c.Sys().TuneMountAllowNil("secret", vaultapi.TuneMountConfigInput{Options: &map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if s, err := kv.Get(ctx, "a"); err != nil || s.Data["v"] != "new" || s.VersionMetadata.Version != 2 {
		t.Fatalf("after a second tune = %+v, %v", s, err)
	}
}

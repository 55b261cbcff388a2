package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// newKVv2Cluster is an unsealed cluster with a KV v2 mount at kv/.
func newKVv2Cluster(t *testing.T) (*testCluster, *vaultapi.Client) {
	t.Helper()
	tc := newUnsealedCluster(t)
	c := tc.client(tc.root)
	if err := c.Sys().Mount("kv", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("enable kv v2: %v", err)
	}
	return tc, c
}

// TestKVv2ThroughOfficialClient walks a secret through versions, check-and-
// set, soft delete, undelete, destroy and metadata with the client's KVv2.
func TestKVv2ThroughOfficialClient(t *testing.T) {
	tc, c := newKVv2Cluster(t)
	ctx := t.Context()
	kv := c.KVv2("kv")

	for i, pw := range []string{"one", "two", "three"} {
		s, err := kv.Put(ctx, "app/db", map[string]any{"password": pw})
		if err != nil {
			t.Fatalf("Put %d: %v", i+1, err)
		}
		if s.VersionMetadata.Version != i+1 || s.VersionMetadata.CreatedTime.IsZero() {
			t.Fatalf("Put %d metadata = %+v", i+1, s.VersionMetadata)
		}
	}
	s, err := kv.Get(ctx, "app/db")
	if err != nil || s.Data["password"] != "three" || s.VersionMetadata.Version != 3 {
		t.Fatalf("Get = %+v, %v", s, err)
	}
	s, err = kv.GetVersion(ctx, "app/db", 1)
	if err != nil || s.Data["password"] != "one" || s.VersionMetadata.Version != 1 {
		t.Fatalf("GetVersion(1) = %+v, %v", s, err)
	}
	if _, err := kv.GetVersion(ctx, "app/db", 9); !errors.Is(err, vaultapi.ErrSecretNotFound) {
		t.Fatalf("GetVersion(9): %v, want ErrSecretNotFound", err)
	}
	if _, err := kv.Get(ctx, "app/none"); !errors.Is(err, vaultapi.ErrSecretNotFound) {
		t.Fatalf("Get of nothing: %v, want ErrSecretNotFound", err)
	}

	// Check-and-set.
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "x"}, vaultapi.WithCheckAndSet(2)); err == nil {
		t.Fatal("Put with a stale cas succeeded")
	} else {
		wantVaultError(t, "stale cas", errors.Unwrap(err), http.StatusBadRequest, "check-and-set parameter did not match the current version")
	}
	if s, err := kv.Put(ctx, "app/db", map[string]any{"password": "four"}, vaultapi.WithCheckAndSet(3)); err != nil || s.VersionMetadata.Version != 4 {
		t.Fatalf("Put with cas 3 = %+v, %v", s, err)
	}
	if _, err := kv.Put(ctx, "app/new", map[string]any{"a": "b"}, vaultapi.WithCheckAndSet(0)); err != nil {
		t.Fatalf("Put with cas 0 on a new secret: %v", err)
	}

	// Soft delete the latest, then versions; undelete one; destroy one.
	if err := kv.Delete(ctx, "app/db"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	s, err = kv.Get(ctx, "app/db")
	if err != nil || s.Data != nil || s.VersionMetadata == nil || s.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("Get after Delete = %+v, %v; want metadata with a deletion time and no data", s, err)
	}
	if err := kv.DeleteVersions(ctx, "app/db", []int{1, 2}); err != nil {
		t.Fatalf("DeleteVersions: %v", err)
	}
	if err := kv.Undelete(ctx, "app/db", []int{2}); err != nil {
		t.Fatalf("Undelete: %v", err)
	}
	if err := kv.Destroy(ctx, "app/db", []int{3}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if s, err := kv.GetVersion(ctx, "app/db", 2); err != nil || s.Data["password"] != "two" {
		t.Fatalf("undeleted version 2 = %+v, %v", s, err)
	}
	if s, err := kv.GetVersion(ctx, "app/db", 1); err != nil || s.Data != nil {
		t.Fatalf("deleted version 1 = %+v, %v; want no data", s, err)
	}
	if s, err := kv.GetVersion(ctx, "app/db", 3); err != nil || s.Data != nil || !s.VersionMetadata.Destroyed {
		t.Fatalf("destroyed version 3 = %+v, %v", s, err)
	}

	// Metadata.
	if err := kv.PutMetadata(ctx, "app/db", vaultapi.KVMetadataPutInput{
		MaxVersions: 3, CASRequired: true, DeleteVersionAfter: 48 * time.Hour,
		CustomMetadata: map[string]any{"owner": "ops", "tier": 1},
	}); err != nil {
		t.Fatalf("PutMetadata: %v", err)
	}
	m, err := kv.GetMetadata(ctx, "app/db")
	if err != nil {
		t.Fatalf("GetMetadata: %v", err)
	}
	if m.CurrentVersion != 4 || m.OldestVersion != 0 || m.MaxVersions != 3 || !m.CASRequired || m.DeleteVersionAfter != 48*time.Hour ||
		m.CustomMetadata["owner"] != "ops" || m.CustomMetadata["tier"] != "1" || len(m.Versions) != 4 || !m.Versions["3"].Destroyed ||
		m.Versions["1"].DeletionTime.IsZero() || !m.Versions["2"].DeletionTime.IsZero() || m.CreatedTime.IsZero() {
		t.Fatalf("GetMetadata = %+v", m)
	}
	// cas_required now applies; max_versions 3 trims the oldest on the next write.
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "five"}); err == nil {
		t.Fatal("Put without cas on a cas_required secret succeeded")
	} else {
		wantVaultError(t, "cas required", errors.Unwrap(err), http.StatusBadRequest, "check-and-set parameter required for this call")
	}
	s, err = kv.Put(ctx, "app/db", map[string]any{"password": "five"}, vaultapi.WithCheckAndSet(4))
	if err != nil || s.VersionMetadata.Version != 5 || s.VersionMetadata.DeletionTime.IsZero() || s.CustomMetadata["owner"] != "ops" {
		t.Fatalf("Put 5 = %+v, %v; want a deletion time from delete_version_after and the custom metadata", s, err)
	}
	m, err = kv.GetMetadata(ctx, "app/db")
	if _, has2 := m.Versions["2"]; err != nil || m.OldestVersion != 3 || len(m.Versions) != 3 || has2 {
		t.Fatalf("metadata after trimming = %+v, %v; want versions 3..5", m, err)
	}
	if _, err := kv.GetVersion(ctx, "app/db", 2); !errors.Is(err, vaultapi.ErrSecretNotFound) {
		t.Fatalf("trimmed version 2: %v, want not found", err)
	}

	// LIST on metadata.
	list, err := c.Logical().List("kv/metadata/app")
	if err != nil || list == nil || strings.Join(toStrings(list.Data["keys"]), ",") != "db,new" {
		t.Fatalf("LIST kv/metadata/app = %+v, %v", list, err)
	}
	list, err = c.Logical().List("kv/metadata")
	if err != nil || list == nil || strings.Join(toStrings(list.Data["keys"]), ",") != "app/" {
		t.Fatalf("LIST kv/metadata = %+v, %v", list, err)
	}

	// DeleteMetadata removes every version and the metadata.
	if err := kv.DeleteMetadata(ctx, "app/db"); err != nil {
		t.Fatalf("DeleteMetadata: %v", err)
	}
	if _, err := kv.GetMetadata(ctx, "app/db"); !errors.Is(err, vaultapi.ErrSecretNotFound) {
		t.Fatalf("GetMetadata after DeleteMetadata: %v", err)
	}
	keys, err := tc.store.List(ctx, "logical/")
	if err != nil || len(keys) != 1 {
		t.Fatalf("mount folders = %v, %v", keys, err)
	}
	left, err := tc.store.List(ctx, "logical/"+keys[0]+"versions/app/")
	if err != nil || strings.Join(left, ",") != "new/" {
		t.Fatalf("version data left under app/ = %v, %v; want only app/new's", left, err)
	}
}

func toStrings(v any) []string {
	var out []string
	items, _ := v.([]any)
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}

// TestKVv2BadInput answers wrong input with Vault's status and message.
func TestKVv2BadInput(t *testing.T) {
	tc, c := newKVv2Cluster(t)
	if _, err := c.KVv2("kv").Put(t.Context(), "a", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{http.MethodPost, "/v1/kv/data/a", `{"k":"v"}`, 400, "no data provided"},
		{http.MethodPost, "/v1/kv/data/a", `{"data":"v"}`, 400, `parameter \"data\": expected an object`},
		{http.MethodPost, "/v1/kv/data/a", `{"data":{"k":"v"},"options":{"cas":"x"}}`, 400, "error parsing check-and-set parameter"},
		{http.MethodGet, "/v1/kv/data/a?version=abc", "", 400, `parameter \"version\"`},
		{http.MethodPost, "/v1/kv/delete/a", `{}`, 400, "No version number provided"},
		{http.MethodPost, "/v1/kv/undelete/a", `{"versions":[]}`, 400, "No version number provided"},
		{http.MethodPost, "/v1/kv/destroy/a", `{}`, 400, "no version number provided"},
		{http.MethodPost, "/v1/kv/destroy/a", `{"versions":["x"]}`, 400, "expected a list of version numbers"},
		{http.MethodPost, "/v1/kv/metadata/a", `{"custom_metadata":{"":"v"}}`, 400, "custom_metadata validation failed: length of key"},
		{http.MethodPost, "/v1/kv/metadata/a", `{"max_versions":"many"}`, 400, `parameter \"max_versions\"`},
		{http.MethodPost, "/v1/kv/data/", `{"data":{"k":"v"}}`, 400, "is not a secret path"},
		{http.MethodGet, "/v1/kv/nothing/a", "", 404, "no handler for route"},
		{http.MethodPatch, "/v1/kv/config", `{}`, 405, "not supported"},
		{http.MethodGet, "/v1/kv/metadata/none", "", 404, ""},
	} {
		code, body := tc.do(tt.method, tt.path, tc.root, tt.body)
		if code != tt.status || !strings.Contains(body, tt.want) || !strings.Contains(body, `"errors"`) {
			t.Errorf("%s %s %s: %d %s; want %d with %q", tt.method, tt.path, tt.body, code, body, tt.status, tt.want)
		}
	}
}

// TestKVv2Config reads and writes the mount's config, which every secret
// on the mount follows.
func TestKVv2Config(t *testing.T) {
	_, c := newKVv2Cluster(t)
	ctx := t.Context()
	sec, err := c.Logical().Read("kv/config")
	if err != nil || sec.Data["delete_version_after"] != "0s" || sec.Data["cas_required"] != false {
		t.Fatalf("default config = %+v, %v", sec, err)
	}
	if _, err := c.Logical().Write("kv/config", map[string]any{"max_versions": 2, "cas_required": true, "delete_version_after": "1h"}); err != nil {
		t.Fatalf("write config: %v", err)
	}
	sec, err = c.Logical().Read("kv/config")
	if err != nil || fmt.Sprint(sec.Data["max_versions"]) != "2" || sec.Data["cas_required"] != true || sec.Data["delete_version_after"] != "1h0m0s" {
		t.Fatalf("config = %+v, %v", sec, err)
	}
	kv := c.KVv2("kv")
	if _, err := kv.Put(ctx, "s", map[string]any{"k": "1"}); err == nil {
		t.Fatal("write without cas on a cas_required mount succeeded")
	}
	for i := 0; i < 3; i++ {
		if _, err := kv.Put(ctx, "s", map[string]any{"k": i}, vaultapi.WithCheckAndSet(i)); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	m, err := kv.GetMetadata(ctx, "s")
	if err != nil || len(m.Versions) != 2 || m.OldestVersion != 2 {
		t.Fatalf("metadata under max_versions 2 = %+v, %v", m, err)
	}
	// A negative delete_version_after disables it.
	if _, err := c.Logical().Write("kv/config", map[string]any{"delete_version_after": -1}); err != nil {
		t.Fatal(err)
	}
	s, err := kv.Put(ctx, "s", map[string]any{"k": "x"}, vaultapi.WithCheckAndSet(3))
	if err != nil || !s.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("Put with delete_version_after disabled = %+v, %v", s, err)
	}
}

// TestKVv1OnMountedPath serves KV v1 on a mount enabled at run time, next to
// the default secret/.
func TestKVv1OnMountedPath(t *testing.T) {
	_, c := newKVv2Cluster(t)
	ctx := t.Context()
	if err := c.Sys().Mount("apps/v1", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	kv1 := c.KVv1("apps/v1")
	if err := kv1.Put(ctx, "x/y", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("KVv1 Put: %v", err)
	}
	s, err := kv1.Get(ctx, "x/y")
	if err != nil || s.Data["k"] != "v" {
		t.Fatalf("KVv1 Get = %+v, %v", s, err)
	}
	if err := kv1.Delete(ctx, "x/y"); err != nil {
		t.Fatalf("KVv1 Delete: %v", err)
	}
	if _, err := kv1.Get(ctx, "x/y"); !errors.Is(err, vaultapi.ErrSecretNotFound) {
		t.Fatalf("KVv1 Get after Delete: %v", err)
	}
}

// TestMountACL checks KV v2 paths against Vault-shaped policies (data/,
// metadata/, delete/...), with create versus update told apart.
func TestMountACL(t *testing.T) {
	tc, c := newKVv2Cluster(t)
	if err := c.Sys().PutPolicy("writer", `
path "kv/data/app/*"     { capabilities = ["create", "read"] }
path "kv/metadata/app/*" { capabilities = ["list", "read"] }
path "kv/metadata/app"   { capabilities = ["list"] }
`); err != nil {
		t.Fatal(err)
	}
	w := tc.client(tc.token("writer"))
	kv := w.KVv2("kv")
	if _, err := kv.Put(t.Context(), "app/one", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("create with create capability: %v", err)
	}
	if _, err := kv.Put(t.Context(), "app/one", map[string]any{"k": "v2"}); err == nil {
		t.Fatal("update without the update capability succeeded")
	}
	if _, err := kv.Get(t.Context(), "app/one"); err != nil {
		t.Fatalf("read: %v", err)
	}
	if list, err := w.Logical().List("kv/metadata/app"); err != nil || list == nil {
		t.Fatalf("list: %+v, %v", list, err)
	}
	for _, p := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/kv/destroy/app/one", `{"versions":[1]}`},
		{http.MethodDelete, "/v1/kv/metadata/app/one", ""},
		{http.MethodGet, "/v1/kv/data/other", ""},
		{http.MethodPost, "/v1/kv/config", `{"max_versions":1}`},
		{http.MethodGet, "/v1/secret/x", ""},
	} {
		if code, _ := tc.do(p.method, p.path, w.Token(), p.body); code != http.StatusForbidden {
			t.Errorf("%s %s with the writer policy: %d, want 403", p.method, p.path, code)
		}
	}
	if code, _ := tc.do(http.MethodGet, "/v1/kv/data/app/one", "", ""); code != http.StatusForbidden {
		t.Errorf("read without a token: %d, want 403", code)
	}
}

// TestMountsSealed answers 503 on mount paths while sealed, like every path.
func TestMountsSealed(t *testing.T) {
	tc, c := newKVv2Cluster(t)
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/kv/data/a", "/v1/secret/a", "/v1/sys/mounts", "/v1/sys/mounts/kv"} {
		if code, _ := tc.do(http.MethodGet, p, tc.root, ""); code != http.StatusServiceUnavailable {
			t.Errorf("GET %s while sealed: %d, want 503", p, code)
		}
	}
}

// TestKVv2DeleteVersionAfter: a version whose delete_version_after has
// passed reads as deleted (404 with its metadata), and undelete restores it.
func TestKVv2DeleteVersionAfter(t *testing.T) {
	tc, c := newKVv2Cluster(t)
	ctx := t.Context()
	kv := c.KVv2("kv")
	if err := kv.PutMetadata(ctx, "s", vaultapi.KVMetadataPutInput{DeleteVersionAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, err := kv.Put(ctx, "s", map[string]any{"k": "v"})
	if err != nil || s.VersionMetadata.DeletionTime.Sub(s.VersionMetadata.CreatedTime) != time.Hour {
		t.Fatalf("Put = %+v, %v; want a deletion time one hour after creation", s, err)
	}
	if s, err := kv.Get(ctx, "s"); err != nil || s.Data["k"] != "v" {
		t.Fatalf("Get before the deletion time = %+v, %v", s, err)
	}
	tc.now.offset = 2 * time.Hour
	code, body := tc.do(http.MethodGet, "/v1/kv/data/s", tc.root, "")
	if code != http.StatusNotFound || !strings.Contains(body, `"data":null`) || !strings.Contains(body, `"version":1`) {
		t.Fatalf("read after the deletion time: %d %s; want 404 with the version's metadata", code, body)
	}
	if err := kv.Undelete(ctx, "s", []int{1}); err != nil {
		t.Fatal(err)
	}
	if s, err := kv.Get(ctx, "s"); err != nil || s.Data["k"] != "v" {
		t.Fatalf("Get after undelete = %+v, %v", s, err)
	}
}

// TestKVv2Patch merges into the current version as `vault kv patch` does,
// under the patch capability.
func TestKVv2Patch(t *testing.T) {
	tc, c := newKVv2Cluster(t)
	ctx := t.Context()
	kv := c.KVv2("kv")
	if _, err := kv.Patch(ctx, "p", map[string]any{"a": "1"}); err == nil {
		t.Fatal("Patch of a secret that does not exist succeeded")
	}
	if _, err := kv.Put(ctx, "p", map[string]any{"a": "1", "b": "2", "nested": map[string]any{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	s, err := kv.Patch(ctx, "p", map[string]any{"b": nil, "c": "3", "nested": map[string]any{"y": "2"}})
	if err != nil || s.VersionMetadata.Version != 2 {
		t.Fatalf("Patch = %+v, %v", s, err)
	}
	s, err = kv.Get(ctx, "p")
	if err != nil || fmt.Sprint(s.Data) != "map[a:1 c:3 nested:map[x:1 y:2]]" {
		t.Fatalf("after Patch = %+v, %v", s, err)
	}
	if _, err := kv.Patch(ctx, "p", map[string]any{"a": "x"}, vaultapi.WithCheckAndSet(1)); err == nil {
		t.Fatal("Patch with a stale cas succeeded")
	}
	if err := kv.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if code, _ := tc.do(http.MethodPatch, "/v1/kv/data/p", tc.root, `{"data":{"a":"2"}}`); code != http.StatusNotFound {
		t.Fatalf("PATCH of a deleted current version: %d, want 404", code)
	}
	// PATCH needs the patch capability, not update.
	if err := c.Sys().PutPolicy("updater", `path "kv/data/*" { capabilities = ["create", "update", "read"] }`); err != nil {
		t.Fatal(err)
	}
	if code, _ := tc.do(http.MethodPatch, "/v1/kv/data/p", tc.token("updater"), `{"data":{"a":"2"}}`); code != http.StatusForbidden {
		t.Fatalf("PATCH without the patch capability: %d, want 403", code)
	}
}

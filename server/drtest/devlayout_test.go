package drtest

import (
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestDevKVv2Layout: -dev -dev-kv-v2 serves secret/ as KV version 2, the
// layout of `vault server -dev`, so `vault kv put secret/x` works as there.
func TestDevKVv2Layout(t *testing.T) {
	if e := testserver.StorageEngine(); e != testserver.EngineSQLite {
		t.Skip("-dev keeps its data in a temporary SQLite file whatever the engine: the SQLite run covers it, not " + e)
	}
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-dev", "-dev-kv-v2", "-dev-root-token-id", "dev-root"}})
	c := &cluster{t: t, name: "dev", srv: srv, root: "dev-root"}
	m, err := c.rootClient().Sys().GetMount("secret")
	if err != nil || m.Type != "kv" || m.Options["version"] != "2" {
		t.Fatalf("secret/ mount = %+v, %v; want kv version 2", m, err)
	}
	kv := c.rootClient().KVv2("secret")
	if _, err := kv.Put(t.Context(), "app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("KVv2 put on secret/: %v", err)
	}
	if s, err := kv.Get(t.Context(), "app"); err != nil || s.Data["k"] != "v" || s.VersionMetadata.Version != 1 {
		t.Fatalf("KVv2 get = %+v, %v", s, err)
	}
}

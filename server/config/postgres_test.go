package config

import (
	"strings"
	"testing"
	"time"
)

// TestPostgresStorage: a storage "postgresql" block in Vault's spelling
// (ha_enabled as a string) gives a Postgres config with the lock defaults;
// VAULT_PG_CONNECTION_URL overrides connection_url as in Vault.
func TestPostgresStorage(t *testing.T) {
	path := writeFile(t, `storage "postgresql" {
  connection_url = "postgres://vault:s3cret@127.0.0.1:5432/vault"
  table_prefix   = "vault_"
  ha_enabled     = "true"
  max_parallel   = "20"
}
`)
	cfg, err := Parse([]string{"-config", path}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Postgres{ConnectionURL: "postgres://vault:s3cret@127.0.0.1:5432/vault", TablePrefix: "vault_", MaxParallel: 20, HAEnabled: true, LockTTL: DefaultLockTTL, LockRenewInterval: DefaultLockRenewInterval}
	if cfg.Postgres == nil || *cfg.Postgres != want || cfg.DBPath != "" {
		t.Fatalf("Postgres = %+v (db %q), want %+v", cfg.Postgres, cfg.DBPath, want)
	}
	cfg, err = Parse([]string{"-config", path}, env(map[string]string{"VAULT_PG_CONNECTION_URL": "postgres://other@127.0.0.1/x"}))
	if err != nil || cfg.Postgres.ConnectionURL != "postgres://other@127.0.0.1/x" {
		t.Fatalf("env override: %+v, %v", cfg.Postgres, err)
	}
	path = writeFile(t, `storage "postgresql" {
  connection_url      = "postgres://127.0.0.1/v"
  lock_ttl            = "3s"
  lock_renew_interval = "500ms"
}
`)
	if cfg, err = Parse([]string{"-config", path}, env(nil)); err != nil {
		t.Fatal(err)
	}
	if cfg.Postgres.HAEnabled || cfg.Postgres.LockTTL != 3*time.Second || cfg.Postgres.LockRenewInterval != 500*time.Millisecond {
		t.Fatalf("timings: %+v", cfg.Postgres)
	}
}

// TestPostgresStorageErrors: every mistake is named, and the connection URL
// (which may hold a password) never appears in a message.
func TestPostgresStorageErrors(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		args       []string
		want       []string
	}{
		{"no url", `storage "postgresql" { ha_enabled = true }`, nil, []string{"no connection_url", "VAULT_PG_CONNECTION_URL"}},
		{"and -db", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d" }`, []string{"-db", "x.db"}, []string{"-db", "both name a database"}},
		{"and -dev", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d" }`, []string{"-dev"}, []string{"-dev"}},
		{"unknown key", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d"
 path = "x" }`, nil, []string{`"path"`, "connection_url, ha_enabled"}},
		{"bad ha_enabled", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d"
 ha_enabled = "maybe" }`, nil, []string{"ha_enabled", "true or false"}},
		{"bad ttl", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d"
 lock_ttl = "1h" }`, nil, []string{"lock_ttl", "100ms to 10m"}},
		{"renew too slow", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d"
 lock_ttl = "2s"
 lock_renew_interval = "1500ms" }`, nil, []string{"at most half of lock_ttl"}},
		{"bad max_parallel", `storage "postgresql" { connection_url = "postgres://u:s3cret@h/d"
 max_parallel = "0" }`, nil, []string{"max_parallel", "1 to 1000"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(append([]string{"-config", writeFile(t, tt.file)}, tt.args...), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

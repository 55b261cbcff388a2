package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvCompatProvider names HashiCorp's terraform-provider-vault binary for
// TestCompatVaultProvider (`make test-compat` installs it into ./bin).
const EnvCompatProvider = "VAULTREPL_COMPAT_PROVIDER"

// TestCompatVaultProvider applies testdata/compat with HashiCorp's
// terraform-provider-vault and the real CLI against a live server: a KV v2
// mount, a KV v2 secret with custom metadata, a KV v1 secret, a policy, a
// token, and data sources on sys/replication/dr/status and the KV v2
// secret. Then a plan must be empty (nothing drifts, nothing is re-created)
// and destroy must remove it all.
func TestCompatVaultProvider(t *testing.T) {
	bin := os.Getenv(EnvCompatProvider)
	if bin == "" {
		t.Skipf("set %s to a terraform-provider-vault binary to run it (make test-compat builds one into ./bin)", EnvCompatProvider)
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(bin) != "terraform-provider-vault" {
		t.Fatalf("%s=%s: the CLI loads a dev_overrides provider by its name, terraform-provider-vault", EnvCompatProvider, bin)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", EnvCompatProvider, err)
	}
	tf := newCLIFor(t, filepath.Dir(bin), "hashicorp/vault")
	t.Logf("CLI: %s (%s)", tf.path, tf.version)
	c := startCluster(t, "compat")
	tf.addSecret(c.key)

	dir := filepath.Join(t.TempDir(), "compat")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "compat", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), src, 0o600); err != nil {
		t.Fatal(err)
	}

	tf.apply(t, dir, map[string]any{"address": c.addr(), "token": rootToken})
	outs := tf.outputs(t, dir)
	if outs["dr_mode"] != "disabled" || fmt.Sprint(outs["app_version"]) != "1" || outs["app_read"] != true {
		t.Fatalf("outputs = %v; want dr_mode disabled, app_version 1 and app_read true", outs)
	}
	// What the server holds, asked through the API rather than the state.
	ctx := context.Background()
	if data, current, _, err := c.readKVv2Data("compat-kv", "app/db"); err != nil || data["password"] != "correct-horse" || current != 1 {
		t.Fatalf("compat-kv/data/app/db on the server: %v (current_version %v), %v", data, current, err)
	}
	if s, err := c.root.Read(ctx, "secret/compat/v1"); err != nil || s == nil || s.Data["api_key"] != "k-123" {
		t.Fatalf("secret/compat/v1 on the server: %+v, %v", s, err)
	}

	// A second plan is empty: no resource drifts or is re-created.
	tf.run(t, dir, "plan", "-detailed-exitcode", "-input=false", "-no-color")

	tf.run(t, dir, "destroy", "-auto-approve", "-input=false", "-no-color")
	if s, err := c.root.Read(ctx, "sys/mounts/compat-kv"); err == nil && s != nil {
		t.Fatalf("compat-kv/ still mounted after destroy: %+v", s.Data)
	}
	if s, err := c.root.Read(ctx, "secret/compat/v1"); err != nil || s != nil {
		t.Fatalf("secret/compat/v1 after destroy: %+v, %v", s, err)
	}
	if s, err := c.root.Read(ctx, "sys/policies/acl/compat-reader"); err != nil || s != nil {
		t.Fatalf("policy after destroy: %+v, %v", s, err)
	}
}

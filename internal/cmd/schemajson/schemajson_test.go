package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-version"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/vaultrepl/terraform-provider-vaultrepl/provider"
)

// TestSchemaHasWhatOldTerraformCannotShow: the converted schema holds the
// ephemeral resources and the write-only flags, which Terraform 1.8's
// `providers schema -json` leaves out, and survives terraform-json's own
// decoding (what tfplugindocs does with the file).
func TestSchemaHasWhatOldTerraformCannotShow(t *testing.T) {
	schemas, err := providerSchemas(context.Background(), providerAddress, provider.New("test"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(schemas)
	if err != nil {
		t.Fatal(err)
	}
	var back tfjson.ProviderSchemas
	if err := back.UnmarshalJSON(raw); err != nil {
		t.Fatalf("terraform-json refuses the output: %v", err)
	}
	ps := back.Schemas[providerAddress]
	if ps == nil {
		t.Fatalf("no schema under %s", providerAddress)
	}
	for _, name := range []string{"vaultrepl_dr_secondary_token", "vaultrepl_dr_operation_token"} {
		if ps.EphemeralResourceSchemas[name] == nil {
			t.Errorf("ephemeral resource %s missing", name)
		}
	}
	for res, attr := range map[string]string{
		"vaultrepl_dr_secondary": "token_wo", "vaultrepl_dr_promotion": "key_shares_wo",
	} {
		a := ps.ResourceSchemas[res].Block.Attributes[attr]
		if a == nil || !a.WriteOnly || !a.Sensitive {
			t.Errorf("%s.%s: %+v, want a sensitive write-only attribute", res, attr, a)
		}
	}
	if len(ps.ResourceSchemas) < 4 || len(ps.DataSourceSchemas) < 2 || ps.ConfigSchema == nil {
		t.Errorf("schema incomplete: %d resources, %d data sources", len(ps.ResourceSchemas), len(ps.DataSourceSchemas))
	}
}

// TestSchemaEqualsTerraform compares the output with what Terraform itself
// writes for the built provider (`terraform providers schema -json`, with a
// dev_overrides CLI configuration). It needs TF_ACC and a Terraform that
// knows ephemeral resources and write-only arguments (1.11 or later),
// found as VAULTREPL_TF_CLI or terraform on PATH.
func TestSchemaEqualsTerraform(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to compare with `terraform providers schema -json`")
	}
	cliPath := os.Getenv("VAULTREPL_TF_CLI")
	if cliPath == "" {
		cliPath = "terraform"
	}
	cliPath, err := exec.LookPath(cliPath)
	if err != nil {
		t.Skipf("no terraform CLI: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, cliPath, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", cliPath, err)
	}
	m := regexp.MustCompile(`^Terraform v(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Skipf("%s is not Terraform: %s", cliPath, strings.SplitN(string(out), "\n", 2)[0])
	}
	if v := version.Must(version.NewVersion(string(m[1]))); v.LessThan(version.Must(version.NewVersion("1.11.0"))) {
		t.Skipf("Terraform %s cannot show ephemeral resources and write-only arguments: need 1.11 or later", v)
	}

	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(plugins, "terraform-provider-vaultrepl"), ".")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the provider: %v\n%s", err, b)
	}
	files := map[string]string{
		"cli.tfrc": `provider_installation {
  dev_overrides {
    "` + providerAddress + `" = "` + plugins + `"
  }
  direct {}
}
`,
		"main.tf": `terraform {
  required_providers {
    vaultrepl = { source = "hashicorp/vaultrepl" }
  }
}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, cliPath, "providers", "schema", "-json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+filepath.Join(dir, "cli.tfrc"), "CHECKPOINT_DISABLE=1")
	fromTerraform, err := cmd.Output()
	if err != nil {
		t.Fatalf("terraform providers schema -json: %v", err)
	}
	schemas, err := providerSchemas(ctx, providerAddress, provider.New("test"))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := json.Marshal(schemas)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(fromTerraform, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ours, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("the schema differs from Terraform %s's:\nterraform: %.2000s\nours:      %.2000s", m[1], fromTerraform, ours)
	}
	t.Logf("identical to Terraform %s's `providers schema -json` (%d bytes)", m[1], len(fromTerraform))
}

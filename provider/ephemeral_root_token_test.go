package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// revokedToken is a knownvalue.Check that passes when the value is a
// token that no longer authenticates on c: the ephemeral resource's Close
// revoked it when the run ended.
type revokedToken struct{ c *testCluster }

func (r revokedToken) CheckValue(v any) error {
	tok, ok := v.(string)
	if !ok || tok == "" {
		return fmt.Errorf("token is %T %v, want a non-empty string", v, v != nil)
	}
	_, err := r.c.newClient(tok).Read(context.Background(), "auth/token/lookup-self")
	if !client.IsPermissionDenied(err) {
		return fmt.Errorf("the root token of the run still answers lookup-self after the run (err %v): Close did not revoke it", err)
	}
	return nil
}

func (r revokedToken) String() string { return "a revoked token" }

func rootTokenConfig(addr, share string) string {
	return providerConfig(addr) + fmt.Sprintf(`
ephemeral "vaultrepl_root_token" "own" {
  key_shares = [%q]
}

provider "echo" {
  data = { token = ephemeral.vaultrepl_root_token.own.token }
}

resource "echo" "out" {}
`, share)
}

// TestAccEphemeralRootToken: on a performance secondary, whose tokens
// enabling wiped, the ephemeral root token is generated from the
// PRIMARY's key share in every run (plan and apply), is a working token
// until the run ends (its own revoke-self succeeds) and is revoked then.
// A share of the secondary's former seal fails with advice, and the failed
// attempt is cancelled: the next run generates again.
func TestAccEphemeralRootToken(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePerfPrimary()
	s.perfFollow(p, "ps")
	rec := testserver.Record(t, s.addr())
	revokes := func() (n int) {
		for _, e := range rec.Exchanges() {
			if strings.HasSuffix(e.Path, "/auth/token/revoke-self") && e.Status/100 == 2 {
				n++
			}
		}
		return n
	}
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks: []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"vaultrepl": testAccProtoV6ProviderFactories["vaultrepl"],
			"echo":      echoprovider.NewProviderServer(),
		},
		Steps: []resource.TestStep{
			{
				Config:      rootTokenConfig(rec.URL, s.unsealKey),
				ExpectError: regexp.MustCompile(`(?s)Cannot Generate Root Token.*` + regexp.QuoteMeta(rec.URL) + `.*follows its PRIMARY's`),
			},
			{
				Config: rootTokenConfig(rec.URL, p.unsealKey),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("token"), revokedToken{c: s}),
				},
				Check: serverCheck(func() error {
					if n := revokes(); n < 2 {
						return fmt.Errorf("%d root tokens revoked themselves through the recorder, want at least 2 (plan and apply)", n)
					}
					return nil
				}),
			},
		},
	})
}

// TestAccEphemeralRootTokenStaysOutOfLogs opens vaultrepl_root_token with
// TF_LOG=TRACE for Terraform and the provider (the share given as an
// ephemeral variable, the token used by nothing that logs it) and greps
// the whole log for every root token generated through the recording
// proxy and for the key share; each of those tokens is revoked by then.
func TestAccEphemeralRootTokenStaysOutOfLogs(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TF_LOG", "TRACE")
	p, s := startCluster(t), startCluster(t)
	p.enablePerfPrimary()
	s.perfFollow(p, "ps")
	rec := testserver.Record(t, s.addr())
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerConfig(rec.URL) + `
variable "key_shares" {
  type      = list(string)
  sensitive = true
  ephemeral = true
}

ephemeral "vaultrepl_root_token" "own" {
  key_shares = var.key_shares
}
`,
			ConfigVariables: config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey))},
		}},
	})
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("read the trace log: %v", err)
	}
	log := string(raw)
	if !strings.Contains(log, "generating a root token for this run") {
		t.Fatalf("the trace log (%d bytes) lacks the generation: logging was not captured", len(log))
	}
	tokens := rec.RootTokens()
	if len(tokens) < 2 {
		t.Fatalf("%d root tokens generated through the recorder, want at least 2 (plan and apply)", len(tokens))
	}
	if strings.Contains(log, p.unsealKey) {
		t.Error("the key share appears in the trace log")
	}
	for i, tok := range tokens {
		if strings.Contains(log, tok) {
			t.Errorf("root token %d appears in the trace log", i+1)
		}
		if err := (revokedToken{c: s}).CheckValue(tok); err != nil {
			t.Errorf("root token %d: %v", i+1, err)
		}
	}
	t.Logf("%d root tokens and the key share, none in %d bytes of trace log", len(tokens), len(log))
}

package provider

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// anyServiceToken matches a Vault service token: the provider's token, a
// wrong DR operation token and the one the provider generates from key
// shares all look like this.
var anyServiceToken = regexp.MustCompile(`hvs\.[A-Za-z0-9]{24}`)

func randomBase62(t *testing.T, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = chars[k.Int64()]
	}
	return string(b)
}

// providerConfigToken is a provider block with an explicit token, or with
// none so that VAULT_TOKEN applies (the test harness logs configurations,
// so a secret token must not be written into one).
func providerConfigToken(addr, token string) string {
	tok := ""
	if token != "" {
		tok = fmt.Sprintf("token       = %q", token)
	}
	return fmt.Sprintf(`
provider "vaultrepl" {
  address     = %q
  max_retries = 1
  %s
}
`, addr, tok)
}

// TestAccSecretsStayOutOfLogs runs every secret-handling path (provider
// token, minted and consumed activation tokens, a rejected DR operation
// token, key shares and the operation token generated from them) with
// TF_LOG=TRACE for Terraform and the provider, checks through plan and
// state that the values are sensitive, and greps the whole log: no secret
// may appear, nor any service token at all.
//
// It sets environment variables, so it does not run in parallel.
func TestAccSecretsStayOutOfLogs(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TF_LOG", "TRACE")

	ctx := context.Background()
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	created, err := p.root.Write(ctx, "auth/token/create", map[string]any{"policies": []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	providerToken, _ := created.Auth["client_token"].(string)
	if !anyServiceToken.MatchString(providerToken) {
		t.Fatalf("unexpected token shape (length %d)", len(providerToken))
	}
	t.Setenv(EnvToken, providerToken)
	wrongOpToken := "hvs." + randomBase62(t, 24)
	secondaryActivation := p.secondaryToken("leak-2", "")
	var mintedActivation string

	// 1. On the primary, with the provider token: mint a token.
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerConfigToken(p.addr(), "") + `
resource "vaultrepl_dr_secondary_token" "t" {
  secondary_id = "leak-1"
}
`,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectSensitiveValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("token")),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectSensitiveValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("token")),
			},
			Check: func(st *terraform.State) error {
				mintedActivation, err = stateAttr(st, "vaultrepl_dr_secondary_token.t", "token")
				return err
			},
		}},
	})

	// 2. On the secondary: enable it, refuse a wrong operation token, then
	// promote it with the primary's key share.
	secondary := `
variable "token" {
  type      = string
  sensitive = true
}

resource "vaultrepl_dr_secondary" "s" {
  token = var.token
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          providerConfigToken(s.addr(), devRootToken) + secondary,
				ConfigVariables: config.Variables{"token": config.StringVariable(secondaryActivation)},
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectSensitiveValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token")),
				}},
			},
			{
				// From here on the secondary knows the primary's tokens.
				Config: providerConfigToken(s.addr(), "") + secondary + `
variable "op_token" {
  type      = string
  sensitive = true
}

resource "vaultrepl_dr_promotion" "p" {
  dr_operation_token = var.op_token
}
`,
				ConfigVariables: config.Variables{
					"token":    config.StringVariable(secondaryActivation),
					"op_token": config.StringVariable(wrongOpToken),
				},
				ExpectError: regexp.MustCompile(`DR Operation Token Rejected`),
			},
			{
				// The promoted cluster is no longer managed as a secondary:
				// forget that resource without destroying it.
				Config: providerConfigToken(s.addr(), "") + `
variable "key_shares" {
  type      = list(string)
  sensitive = true
}

removed {
  from = vaultrepl_dr_secondary.s

  lifecycle {
    destroy = false
  }
}

resource "vaultrepl_dr_promotion" "p" {
  key_shares = var.key_shares
}
`,
				ConfigVariables: config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey))},
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectSensitiveValue("vaultrepl_dr_promotion.p", tfjsonpath.New("key_shares")),
				}},
				Check: checkMode(s, "primary"),
			},
		},
	})

	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("read the trace log: %v", err)
	}
	log := string(raw)
	// The log must really hold the provider's and Terraform's trace lines.
	for _, want := range []string{
		"vaultrepl API call",                       // provider, client debug line
		"waiting for the DR secondary to catch up", // provider, wait loop
		"generating a DR operation token",          // provider, promotion
		"DR Operation Token Rejected",              // the diagnostic
		"ApplyResourceChange",                      // Terraform / plugin protocol
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the trace log (%d bytes) lacks %q: logging was not captured", len(log), want)
		}
	}
	for name, secret := range map[string]string{
		"provider token":              providerToken,
		"minted activation token":     mintedActivation,
		"consumed activation token":   secondaryActivation,
		"rejected DR operation token": wrongOpToken,
		"primary's unseal key share":  p.unsealKey,
	} {
		if secret == "" {
			t.Errorf("%s: empty, the test did not capture it", name)
			continue
		}
		if strings.Contains(log, secret) {
			t.Errorf("the %s appears in the trace log", name)
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, secret) {
					t.Logf("offending line: %.400s", strings.ReplaceAll(line, secret, "<<SECRET>>"))
				}
			}
		}
		// JWTs are long; their signature part alone must not leak either.
		if parts := strings.Split(secret, "."); len(parts) == 3 && strings.Contains(log, parts[2]) {
			t.Errorf("the signature of the %s appears in the trace log", name)
		}
	}
	if m := anyServiceToken.FindAllString(log, 3); len(m) > 0 {
		t.Errorf("%d service token(s) appear in the trace log", len(m))
	}
}

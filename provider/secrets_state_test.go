package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// Ephemeral resources need Terraform 1.10 and write-only arguments 1.11:
// below that, SkipBelow skips with a message naming the CLI's version.
var writeOnlyTerraform = []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)}

// secretScan is a state check that looks for secret values in `terraform
// show -json` (the state the check is given) and in every raw state file
// (terraform.tfstate and its backups) under the acceptance tests' working
// directories. secrets is called at check time, so it sees the tokens the
// servers handed out during the step.
type secretScan struct {
	dir string
	// current skips terraform.tfstate.backup: the state before the last
	// apply, which a migration from `token` leaves holding the old value.
	current bool
	secrets func() map[string]string
	// wantType proves the files read are the states of this test.
	wantType string
}

func (s secretScan) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	shown, err := json.Marshal(req.State)
	if err != nil {
		resp.Error = err
		return
	}
	if !strings.Contains(string(shown), s.wantType) {
		resp.Error = fmt.Errorf("terraform show -json holds no %s: not the state under test", s.wantType)
		return
	}
	files := map[string]string{"terraform show -json": string(shown)}
	err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(d.Name(), ".tfstate") {
			return err
		}
		if s.current && d.Name() != "terraform.tfstate" {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[p] = string(raw)
		return nil
	})
	if err != nil {
		resp.Error = err
		return
	}
	raws := 0
	for name, content := range files {
		if name != "terraform show -json" && strings.Contains(content, s.wantType) {
			raws++
		}
	}
	if raws == 0 {
		resp.Error = fmt.Errorf("no raw state file holding %s under %s", s.wantType, s.dir)
		return
	}
	secrets := s.secrets()
	var leaks []string
	for what, secret := range secrets {
		if len(secret) < 8 {
			resp.Error = fmt.Errorf("%s: %q is too short to scan for; the test did not capture it", what, secret)
			return
		}
		for name, content := range files {
			if strings.Contains(content, secret) {
				leaks = append(leaks, fmt.Sprintf("%s in %s", what, name))
			}
		}
	}
	if len(leaks) > 0 {
		resp.Error = fmt.Errorf("secrets in the state: %s", strings.Join(leaks, "; "))
	}
}

// stateDir points the acceptance framework's working directories at a
// folder of the test, where secretScan reads the raw state files. It sets
// an environment variable, so such tests do not run in parallel.
func stateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TF_ACC_TEMP_DIR", dir)
	return dir
}

const writeOnlySecondaryConfig = `
variable "activation_token" {
  type      = string
  ephemeral = true
}

variable "token_version" {
  type = number
}

resource "vaultrepl_dr_secondary" "s" {
  token_wo         = var.activation_token
  token_wo_version = var.token_version
}
`

// TestAccWriteOnly_secondaryToken enables a secondary with token_wo: the
// activation token is in neither `terraform show -json` nor the raw state
// file, the plan after apply is empty, a new token_wo alone plans nothing,
// and a new token_wo_version replaces the secondary (disable, enable with
// the new token: a wipe), as documented.
func TestAccWriteOnly_secondaryToken(t *testing.T) {
	dir := stateDir(t)
	p, s := startCluster(t), startCluster(t)
	clusterID := p.enablePrimary()
	tok1, tok2 := p.secondaryToken("wo-1", ""), p.secondaryToken("wo-2", "")
	scan := secretScan{dir: dir, wantType: "vaultrepl_dr_secondary", secrets: func() map[string]string {
		return map[string]string{"first activation token": tok1, "second activation token": tok2}
	}}
	vars := func(token string, version int) config.Variables {
		return config.Variables{"activation_token": config.StringVariable(token), "token_version": config.IntegerVariable(version)}
	}
	secondaryIs := func(id string) resource.TestCheckFunc {
		return serverCheck(func() error {
			st := s.status()
			if !st.IsSecondary() || st.SecondaryID != id || st.ClusterID != clusterID {
				return fmt.Errorf("cluster %s: mode %s secondary_id %q cluster_id %s, want secondary %q of %s", s.addr(), st.Mode, st.SecondaryID, st.ClusterID, id, clusterID)
			}
			return nil
		})
	}

	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   writeOnlyTerraform,
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          providerConfig(s.addr()) + writeOnlySecondaryConfig,
				ConfigVariables: vars(tok1, 1),
				ConfigStateChecks: []statecheck.StateCheck{
					scan,
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token"), knownvalue.Null()),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token_wo_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("secondary_id"), knownvalue.StringExact("wo-1")),
				},
				Check: secondaryIs("wo-1"),
				// The framework also plans again after the apply and fails
				// on a non-empty plan.
			},
			{
				// Terraform cannot see a write-only value change: nothing happens.
				Config:          providerConfig(s.addr()) + writeOnlySecondaryConfig,
				ConfigVariables: vars(tok2, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{scan},
				Check:             secondaryIs("wo-1"),
			},
			{
				// A new version replaces the secondary with the token of this apply.
				Config:          providerConfig(s.addr()) + writeOnlySecondaryConfig,
				ConfigVariables: vars(tok2, 2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					scan,
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token_wo_version"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("secondary_id"), knownvalue.StringExact("wo-2")),
				},
				Check: resource.ComposeTestCheckFunc(secondaryIs("wo-2"), serverCheck(func() error {
					waitInSync(t, p, s)
					return nil
				})),
			},
		},
	})
}

const ephemeralPromotionConfig = `
variable "key_shares" {
  type      = list(string)
  ephemeral = true
}

variable "credentials_version" {
  type = number
}

ephemeral "vaultrepl_dr_operation_token" "op" {
  key_shares = var.key_shares
}

resource "vaultrepl_dr_promotion" "p" {
  dr_operation_token_wo  = ephemeral.vaultrepl_dr_operation_token.op.token
  credentials_wo_version = var.credentials_version
}
`

// TestAccWriteOnly_promotion promotes with a DR operation token from the
// ephemeral vaultrepl_dr_operation_token (generated on the cluster from the
// primary's key share, for one run) through dr_operation_token_wo. Neither
// the key share nor any operation token the provider generated (found
// through a recording proxy) is in the state; the plan after the apply is
// empty although the promoted cluster no longer yields a token; a new
// credentials_wo_version replaces the promotion, which on a primary is
// only recorded.
func TestAccWriteOnly_promotion(t *testing.T) {
	dir := stateDir(t)
	p, s := startCluster(t), startCluster(t)
	clusterID := p.enablePrimary()
	s.followPrimary(p, "s")
	rec := testserver.Record(t, s.addr())
	scan := secretScan{dir: dir, wantType: "vaultrepl_dr_promotion", secrets: func() map[string]string {
		m := map[string]string{"primary's key share": p.unsealKey}
		for i, tok := range rec.OperationTokens() {
			m[fmt.Sprintf("generated DR operation token %d", i+1)] = tok
		}
		return m
	}}
	vars := func(version int) config.Variables {
		return config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey)), "credentials_version": config.IntegerVariable(version)}
	}

	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   writeOnlyTerraform,
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          providerConfig(rec.URL) + ephemeralPromotionConfig,
				ConfigVariables: vars(1),
				ConfigStateChecks: []statecheck.StateCheck{
					scan,
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("cluster_id"), knownvalue.StringExact(clusterID)),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("dr_operation_token_wo"), knownvalue.Null()),
				},
				Check: resource.ComposeTestCheckFunc(checkMode(s, client.ModePrimary), serverCheck(func() error {
					// The plan and the apply each generated one; none is left
					// half-done.
					if n := len(rec.OperationTokens()); n < 2 {
						return fmt.Errorf("%d DR operation tokens generated through the recorder, want one for the plan and one for the apply", n)
					}
					if gs, err := s.anon.OperationTokenStatus(context.Background()); err != nil || gs.Started {
						return fmt.Errorf("generation attempt left behind: %+v %v", gs, err)
					}
					return nil
				})),
			},
			{
				Config:          providerConfig(rec.URL) + ephemeralPromotionConfig,
				ConfigVariables: vars(2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_promotion.p", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					scan,
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("credentials_wo_version"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
				},
				Check: checkMode(s, client.ModePrimary),
			},
		},
	})
}

const keySharesWOConfig = `
variable "key_shares" {
  type      = list(string)
  ephemeral = true
}

resource "vaultrepl_dr_promotion" "p" {
  key_shares_wo          = var.key_shares
  credentials_wo_version = 1
}
`

// TestAccWriteOnly_promotionKeyShares promotes with key_shares_wo: the
// provider generates the operation token itself; neither the share nor
// that token reaches the state.
func TestAccWriteOnly_promotionKeyShares(t *testing.T) {
	dir := stateDir(t)
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	s.followPrimary(p, "s")
	rec := testserver.Record(t, s.addr())
	scan := secretScan{dir: dir, wantType: "vaultrepl_dr_promotion", secrets: func() map[string]string {
		m := map[string]string{"primary's key share": p.unsealKey}
		for i, tok := range rec.OperationTokens() {
			m[fmt.Sprintf("generated DR operation token %d", i+1)] = tok
		}
		return m
	}}
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   writeOnlyTerraform,
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:            providerConfig(rec.URL) + keySharesWOConfig,
			ConfigVariables:   config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey))},
			ConfigStateChecks: []statecheck.StateCheck{scan},
			Check: resource.ComposeTestCheckFunc(checkMode(s, client.ModePrimary), serverCheck(func() error {
				if n := len(rec.OperationTokens()); n != 1 {
					return fmt.Errorf("%d DR operation tokens generated through the recorder, want the promotion's one", n)
				}
				return nil
			})),
		}},
	})
}

// TestAccEphemeralDRSecondaryToken: a token the run minted and nobody used
// is revoked when the run ends (plans included), and an id the primary
// already admits is neither minted for nor revoked. The echo provider
// carries the ephemeral resource's non-secret results into a state the
// test can read.
func TestAccEphemeralDRSecondaryToken(t *testing.T) {
	p := startCluster(t)
	p.enablePrimary()
	p.secondaryToken("already", "")
	rec := testserver.Record(t, p.addr())
	cfg := providerConfig(rec.URL) + `
ephemeral "vaultrepl_dr_secondary_token" "fresh" {
  secondary_id = "fresh"
  ttl          = "10m"
}

ephemeral "vaultrepl_dr_secondary_token" "already" {
  secondary_id = "already"
}

provider "echo" {
  data = {
    fresh_admitted   = ephemeral.vaultrepl_dr_secondary_token.fresh.already_admitted
    fresh_has_token  = ephemeral.vaultrepl_dr_secondary_token.fresh.token != null
    already_admitted = ephemeral.vaultrepl_dr_secondary_token.already.already_admitted
    already_token    = ephemeral.vaultrepl_dr_secondary_token.already.token == null ? "null" : "set"
    cluster_id       = ephemeral.vaultrepl_dr_secondary_token.fresh.cluster_id
  }
}

resource "echo" "out" {}
`
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks: []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"vaultrepl": testAccProtoV6ProviderFactories["vaultrepl"],
			"echo":      echoprovider.NewProviderServer(),
		},
		Steps: []resource.TestStep{{
			Config: cfg,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("fresh_admitted"), knownvalue.Bool(false)),
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("fresh_has_token"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("already_admitted"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("already_token"), knownvalue.StringExact("null")),
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("cluster_id"), knownvalue.StringExact(p.status().ClusterID)),
			},
			Check: serverCheck(func() error {
				st := p.status()
				if st.HasKnownSecondary("fresh") {
					return fmt.Errorf("the unused token for %q was not revoked when the run ended: known_secondaries %v", "fresh", st.KnownSecondaries)
				}
				if !st.HasKnownSecondary("already") {
					return fmt.Errorf("the secondary admitted before the run was revoked: known_secondaries %v", st.KnownSecondaries)
				}
				// Minted (plan and apply), never for "already".
				if n := len(rec.ActivationTokens()); n < 2 {
					return fmt.Errorf("%d activation tokens minted through the recorder, want at least 2 (plan and apply)", n)
				}
				for _, e := range rec.Exchanges() {
					if strings.HasSuffix(e.Path, "/secondary-token") && strings.Contains(string(e.Request), `"already"`) {
						return fmt.Errorf("a token was minted for the already admitted id")
					}
				}
				return nil
			}),
		}},
	})
}

// TestAccWriteOnly_migrateFromToken moves a secondary created with `token`
// to token_wo: removing token and setting token_wo and a first
// token_wo_version is an update that stores nothing — no replacement, no
// wipe — and the token leaves the current state (the previous state, in
// terraform.tfstate.backup, still has it).
func TestAccWriteOnly_migrateFromToken(t *testing.T) {
	dir := stateDir(t)
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	tok := p.secondaryToken("mig", "")
	scan := secretScan{dir: dir, current: true, wantType: "vaultrepl_dr_secondary", secrets: func() map[string]string {
		return map[string]string{"activation token": tok}
	}}
	old := `
variable "activation_token" {
  type      = string
  sensitive = true
}

resource "vaultrepl_dr_secondary" "s" {
  token = var.activation_token
}
`
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   writeOnlyTerraform,
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          providerConfig(s.addr()) + old,
				ConfigVariables: config.Variables{"activation_token": config.StringVariable(tok)},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectSensitiveValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token")),
				},
			},
			{
				Config:          providerConfig(s.addr()) + writeOnlySecondaryConfig,
				ConfigVariables: config.Variables{"activation_token": config.StringVariable(tok), "token_version": config.IntegerVariable(1)},
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary.s", plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					scan,
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token"), knownvalue.Null()),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token_wo_version"), knownvalue.Int64Exact(1)),
				},
				Check: serverCheck(func() error {
					if st := s.status(); !st.IsSecondary() || st.SecondaryID != "mig" {
						return fmt.Errorf("cluster %s: mode %s secondary_id %q, want still secondary mig", s.addr(), st.Mode, st.SecondaryID)
					}
					return nil
				}),
			},
		},
	})
}

// TestAccEphemeralSecretsStayOutOfLogs runs the ephemeral resources and the
// write-only promotion with TF_LOG=TRACE for Terraform and the provider,
// and greps the whole log for every token the servers handed out (found
// through recording proxies) and the key share.
func TestAccEphemeralSecretsStayOutOfLogs(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TF_LOG", "TRACE")
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	s.followPrimary(p, "s")
	recP, recS := testserver.Record(t, p.addr()), testserver.Record(t, s.addr())

	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   writeOnlyTerraform,
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerConfig(recP.URL) + `
ephemeral "vaultrepl_dr_secondary_token" "t" {
  secondary_id = "logs-1"
}
`,
		}},
	})
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   writeOnlyTerraform,
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:          providerConfig(recS.URL) + ephemeralPromotionConfig,
			ConfigVariables: config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey)), "credentials_version": config.IntegerVariable(1)},
			Check:           checkMode(s, client.ModePrimary),
		}},
	})

	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("read the trace log: %v", err)
	}
	log := string(raw)
	for _, want := range []string{"minting a DR secondary activation token for this run", "generating a DR operation token for this run", "OpenEphemeralResource"} {
		if !strings.Contains(log, want) {
			t.Errorf("the trace log (%d bytes) lacks %q: logging was not captured", len(log), want)
		}
	}
	secrets := map[string]string{"primary's key share": p.unsealKey}
	for i, tok := range recP.ActivationTokens() {
		secrets[fmt.Sprintf("activation token %d", i+1)] = tok
	}
	for i, tok := range recS.OperationTokens() {
		secrets[fmt.Sprintf("DR operation token %d", i+1)] = tok
	}
	if len(secrets) < 4 {
		t.Fatalf("only %d secrets captured, want the key share, 1+ activation tokens and 2 operation tokens", len(secrets))
	}
	for name, secret := range secrets {
		if strings.Contains(log, secret) {
			t.Errorf("the %s appears in the trace log", name)
		}
		if parts := strings.Split(secret, "."); len(parts) == 3 && strings.Contains(log, parts[2]) {
			t.Errorf("the signature of the %s appears in the trace log", name)
		}
	}
	t.Logf("%d secrets, none in %d bytes of trace log", len(secrets), len(log))
}

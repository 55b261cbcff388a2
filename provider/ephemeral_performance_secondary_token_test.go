package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestAccPerformanceEphemeralSecondaryToken: the ephemeral performance
// token mints for a new id (plan and apply) and revokes the unused token
// when the run ends, mints nothing for an admitted id, and touches only
// the performance set: the DR set of the same cluster admits a DR
// secondary of the same id, which stays.
func TestAccPerformanceEphemeralSecondaryToken(t *testing.T) {
	p := startCluster(t)
	perfID := p.enablePerfPrimary()
	p.enablePrimary()
	p.secondaryToken("fresh", "") // a DR secondary id "fresh"
	p.perfSecondaryToken("already")
	rec := testserver.Record(t, p.addr())
	cfg := providerConfig(rec.URL) + `
ephemeral "vaultrepl_performance_secondary_token" "fresh" {
  secondary_id = "fresh"
}

ephemeral "vaultrepl_performance_secondary_token" "already" {
  secondary_id = "already"
}

provider "echo" {
  data = {
    fresh_has_token  = ephemeral.vaultrepl_performance_secondary_token.fresh.token != null
    already_admitted = ephemeral.vaultrepl_performance_secondary_token.already.already_admitted
    cluster_id       = ephemeral.vaultrepl_performance_secondary_token.fresh.cluster_id
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
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("fresh_has_token"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("already_admitted"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue("echo.out", tfjsonpath.New("data").AtMapKey("cluster_id"), knownvalue.StringExact(perfID)),
			},
			Check: serverCheck(func() error {
				perf, dr := p.perfStatus(), p.status()
				switch {
				case perf.HasKnownSecondary("fresh"):
					return fmt.Errorf("the unused performance token for %q was not revoked when the run ended: %v", "fresh", perf.KnownSecondaries)
				case !perf.HasKnownSecondary("already"):
					return fmt.Errorf("the performance secondary admitted before the run was revoked: %v", perf.KnownSecondaries)
				case dr.Mode != client.ModePrimary || !dr.HasKnownSecondary("fresh"):
					return fmt.Errorf("the DR set's secondary %q was touched: mode %s %v", "fresh", dr.Mode, dr.KnownSecondaries)
				}
				minted := 0
				for _, e := range rec.Exchanges() {
					if strings.HasSuffix(e.Path, "/sys/replication/performance/primary/secondary-token") {
						minted++
						if strings.Contains(string(e.Request), `"already"`) {
							return fmt.Errorf("a token was minted for the already admitted id")
						}
					}
				}
				if minted < 2 || len(rec.ActivationTokens()) < 2 {
					return fmt.Errorf("%d performance tokens minted through the recorder (%d recorded), want at least 2 (plan and apply)", minted, len(rec.ActivationTokens()))
				}
				return nil
			}),
		}},
	})
}

package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// TestAccPerformanceSecondaryToken mints a performance activation token,
// imports it, refuses to mint on a cluster that leads only a DR set, and
// revokes the secondary on destroy.
func TestAccPerformanceSecondaryToken(t *testing.T) {
	p, drOnly := startCluster(t), startCluster(t)
	clusterID := p.enablePerfPrimary()
	drOnly.enablePrimary()
	const id = "perf-eu"
	knows := func(want bool) resource.TestCheckFunc {
		return serverCheck(func() error {
			st := p.perfStatus()
			if st.Mode != client.ModePrimary || st.HasKnownSecondary(id) != want {
				return fmt.Errorf("performance primary mode %s known_secondaries %v: want %q listed = %t", st.Mode, st.KnownSecondaries, id, want)
			}
			if dr := p.status(); dr.Mode != client.ModeDisabled {
				return fmt.Errorf("a performance token touched DR: mode %s", dr.Mode)
			}
			return nil
		})
	}
	cfg := func(addr string) string {
		return providerConfig(addr) + fmt.Sprintf(`
resource "vaultrepl_performance_secondary_token" "t" {
  secondary_id = %q
}
`, id)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             knows(false),
		Steps: []resource.TestStep{
			{
				Config: cfg(p.addr()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectSensitiveValue("vaultrepl_performance_secondary_token.t", tfjsonpath.New("token")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectSensitiveValue("vaultrepl_performance_secondary_token.t", tfjsonpath.New("token")),
					statecheck.ExpectKnownValue("vaultrepl_performance_secondary_token.t", tfjsonpath.New("token"), knownvalue.StringRegexp(regexp.MustCompile(`^[\w-]+\.[\w-]+\.[\w-]+$`))),
					statecheck.ExpectKnownValue("vaultrepl_performance_secondary_token.t", tfjsonpath.New("cluster_id"), knownvalue.StringExact(clusterID)),
				},
				Check: knows(true),
			},
			{
				ResourceName:                         "vaultrepl_performance_secondary_token.t",
				ImportState:                          true,
				ImportStateId:                        id,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "secondary_id",
				ImportStateVerifyIgnore:              []string{"token", "ttl"},
			},
		},
	})
	// A DR primary is no performance primary.
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      cfg(drOnly.addr()),
			ExpectError: regexp.MustCompile(`(?s)Cluster Is Not A Performance Primary.*vaultrepl_performance_primary`),
		}},
	})
}

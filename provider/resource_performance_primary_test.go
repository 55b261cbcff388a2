package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// perfPrimaryConfig is a performance primary and both status data sources,
// read after it.
func perfPrimaryConfig(addr string) string {
	return providerConfig(addr) + `
resource "vaultrepl_performance_primary" "p" {}

data "vaultrepl_performance_status" "s" {
  depends_on = [vaultrepl_performance_primary.p]
}

data "vaultrepl_replication_status" "r" {
  depends_on = [vaultrepl_performance_primary.p]
}
`
}

// checkPerfPrimaryMatchesServer asks the server that the cluster is a
// performance primary with the id in state, and still the DR primary of
// drID: one cluster leads both families.
func checkPerfPrimaryMatchesServer(c *testCluster, drID string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, "vaultrepl_performance_primary.p", "cluster_id")
		if err != nil {
			return err
		}
		if st := c.perfStatus(); st.Mode != client.ModePrimary || st.ClusterID != id {
			return fmt.Errorf("server: performance mode %s cluster id %s; state: %s", st.Mode, st.ClusterID, id)
		}
		if st := c.status(); st.Mode != client.ModePrimary || st.ClusterID != drID {
			return fmt.Errorf("server: DR mode %s cluster id %s, want the DR primary of %s", st.Mode, st.ClusterID, drID)
		}
		if id == drID {
			return fmt.Errorf("the performance set has the DR set's id %s", id)
		}
		return nil
	}
}

func TestAccPerformancePrimary_basic(t *testing.T) {
	c := startCluster(t)
	drID := c.enablePrimary()
	var firstID string
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: serverCheck(func() error {
			if st := c.perfStatus(); st.Mode != client.ModeDisabled {
				return fmt.Errorf("after destroy: performance mode %s, want disabled", st.Mode)
			}
			if st := c.status(); st.Mode != client.ModePrimary || st.ClusterID != drID {
				return fmt.Errorf("destroying the performance primary changed DR: mode %s cluster id %s", st.Mode, st.ClusterID)
			}
			return nil
		}),
		Steps: []resource.TestStep{
			{
				Config: perfPrimaryConfig(c.addr()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_performance_primary.p", plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("vaultrepl_performance_primary.p", tfjsonpath.New("destroy_action"), knownvalue.StringExact("disable")),
					statecheck.ExpectKnownValue("data.vaultrepl_performance_status.s", tfjsonpath.New("mode"), knownvalue.StringExact("primary")),
					statecheck.ExpectKnownValue("data.vaultrepl_performance_status.s", tfjsonpath.New("known_secondaries"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue("data.vaultrepl_replication_status.r", tfjsonpath.New("performance_mode"), knownvalue.StringExact("primary")),
					statecheck.ExpectKnownValue("data.vaultrepl_replication_status.r", tfjsonpath.New("dr_mode"), knownvalue.StringExact("primary")),
					statecheck.ExpectKnownValue("data.vaultrepl_replication_status.r", tfjsonpath.New("dr").AtMapKey("cluster_id"), knownvalue.StringExact(drID)),
				},
				Check: resource.ComposeTestCheckFunc(
					checkPerfPrimaryMatchesServer(c, drID),
					resource.TestCheckResourceAttrPair("vaultrepl_performance_primary.p", "cluster_id", "data.vaultrepl_performance_status.s", "cluster_id"),
					resource.TestCheckResourceAttrPair("vaultrepl_performance_primary.p", "cluster_id", "data.vaultrepl_replication_status.r", "performance.cluster_id"),
					func(s *terraform.State) error {
						firstID, _ = stateAttr(s, "vaultrepl_performance_primary.p", "cluster_id")
						return nil
					}),
			},
			{
				ResourceName:                         "vaultrepl_performance_primary.p",
				ImportState:                          true,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "cluster_id",
				ImportStateIdFunc: func(s *terraform.State) (string, error) {
					return stateAttr(s, "vaultrepl_performance_primary.p", "cluster_id")
				},
			},
			{
				// The DR set's id is not a performance set's.
				ResourceName:  "vaultrepl_performance_primary.p",
				ImportState:   true,
				ImportStateId: drID,
				ExpectError:   regexp.MustCompile(`(?s)Cannot Import Performance Primary.*not a performance primary with\s+cluster id`),
			},
			{
				// Out of band: performance replication disabled. The
				// refresh drops the resource; the apply makes a new set.
				PreConfig: func() {
					if _, err := c.root.Replication(client.KindPerformance).DisablePrimary(context.Background()); err != nil {
						t.Fatalf("disable out of band: %v", err)
					}
				},
				Config: perfPrimaryConfig(c.addr()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_performance_primary.p", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeTestCheckFunc(checkPerfPrimaryMatchesServer(c, drID), func(s *terraform.State) error {
					if id, _ := stateAttr(s, "vaultrepl_performance_primary.p", "cluster_id"); id == firstID {
						return fmt.Errorf("re-enabled performance primary kept cluster id %s", id)
					}
					return nil
				}),
			},
		},
	})
}

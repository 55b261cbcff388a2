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

func primaryConfig(addr, destroyAction string) string {
	da := ""
	if destroyAction != "" {
		da = fmt.Sprintf("destroy_action = %q", destroyAction)
	}
	return providerConfig(addr) + fmt.Sprintf(`
resource "vaultrepl_dr_primary" "p" {
  %s
}
`, da)
}

// checkPrimaryMatchesServer asks the server that the cluster is a primary
// with the cluster id in state.
func checkPrimaryMatchesServer(c *testCluster) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, "vaultrepl_dr_primary.p", "cluster_id")
		if err != nil {
			return err
		}
		st := c.status()
		if st.Mode != client.ModePrimary || st.ClusterID != id {
			return fmt.Errorf("server says mode %s cluster id %s; state says cluster id %s", st.Mode, st.ClusterID, id)
		}
		if addr, _ := stateAttr(s, "vaultrepl_dr_primary.p", "primary_cluster_addr"); addr != st.PrimaryClusterAddr {
			return fmt.Errorf("primary_cluster_addr %q in state, %q on the server", addr, st.PrimaryClusterAddr)
		}
		return nil
	}
}

func TestAccDRPrimary_basic(t *testing.T) {
	c := startCluster(t)
	var firstID string
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: serverCheck(func() error {
			// The last step set destroy_action = "demote".
			if st := c.status(); st.Mode != client.ModeSecondary || st.ClusterID == "" {
				return fmt.Errorf("after destroy with destroy_action demote: mode %s cluster id %q, want a demoted secondary", st.Mode, st.ClusterID)
			}
			return nil
		}),
		Steps: []resource.TestStep{
			{
				Config: primaryConfig(c.addr(), ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_primary.p", plancheck.ResourceActionCreate),
					plancheck.ExpectUnknownValue("vaultrepl_dr_primary.p", tfjsonpath.New("cluster_id")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("vaultrepl_dr_primary.p", tfjsonpath.New("destroy_action"), knownvalue.StringExact("disable")),
					statecheck.ExpectKnownValue("vaultrepl_dr_primary.p", tfjsonpath.New("cluster_id"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f-]{36}$`))),
					statecheck.ExpectKnownValue("vaultrepl_dr_primary.p", tfjsonpath.New("primary_cluster_addr"), knownvalue.NotNull()),
				},
				Check: resource.ComposeTestCheckFunc(checkPrimaryMatchesServer(c), func(s *terraform.State) error {
					firstID, _ = stateAttr(s, "vaultrepl_dr_primary.p", "cluster_id")
					return nil
				}),
			},
			{
				ResourceName:                         "vaultrepl_dr_primary.p",
				ImportState:                          true,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "cluster_id",
				ImportStateIdFunc: func(s *terraform.State) (string, error) {
					return stateAttr(s, "vaultrepl_dr_primary.p", "cluster_id")
				},
			},
			{
				// A wrong id is refused at import, with the real one named.
				ResourceName:  "vaultrepl_dr_primary.p",
				ImportState:   true,
				ImportStateId: "00000000-0000-0000-0000-000000000000",
				ExpectError:   regexp.MustCompile(`(?s)Cannot Import DR Primary.*not a DR primary with cluster id`),
			},
			{
				// destroy_action changes in place, nothing is called.
				Config: primaryConfig(c.addr(), "demote"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_primary.p", plancheck.ResourceActionUpdate),
				}},
				Check: checkPrimaryMatchesServer(c),
			},
			{
				// Out of band: replication disabled. The refresh drops the
				// resource and the plan shows it created again.
				PreConfig: func() {
					if _, err := c.root.DisablePrimary(context.Background()); err != nil {
						t.Fatalf("disable out of band: %v", err)
					}
				},
				Config: primaryConfig(c.addr(), "demote"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_primary.p", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeTestCheckFunc(checkPrimaryMatchesServer(c), func(s *terraform.State) error {
					if id, _ := stateAttr(s, "vaultrepl_dr_primary.p", "cluster_id"); id == firstID {
						return fmt.Errorf("re-enabled primary kept cluster id %s", id)
					}
					return nil
				}),
			},
		},
	})
}

func TestAccDRPrimary_destroyActions(t *testing.T) {
	for action, wantMode := range map[string]string{destroyDisable: client.ModeDisabled, destroyLeave: client.ModePrimary} {
		t.Run(action, func(t *testing.T) {
			c := startCluster(t)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				CheckDestroy: serverCheck(func() error {
					if st := c.status(); st.Mode != wantMode {
						return fmt.Errorf("after destroy with destroy_action %s: mode %s, want %s", action, st.Mode, wantMode)
					}
					return nil
				}),
				Steps: []resource.TestStep{{
					Config: primaryConfig(c.addr(), action),
					Check:  checkPrimaryMatchesServer(c),
				}},
			})
		})
	}
}

// TestAccDRPrimary_onSecondary: enabling a primary on a DR secondary is
// refused with one diagnostic that says what to do instead.
func TestAccDRPrimary_onSecondary(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	s.followPrimary(p, "s")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      primaryConfig(s.addr(), ""),
			ExpectError: regexp.MustCompile(`(?s)Cluster Is A DR Secondary.*promote it with vaultrepl_dr_promotion`),
		}, {
			// The same on a cluster that is already a primary: import instead.
			Config:      primaryConfig(p.addr(), ""),
			ExpectError: regexp.MustCompile(`(?s)DR Primary Already Enabled.*terraform import`),
		}},
	})
	if st := s.status(); st.Mode != client.ModeSecondary {
		t.Fatalf("the refused enable changed the secondary: mode %s", st.Mode)
	}
}

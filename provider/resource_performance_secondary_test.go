package provider

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// providerConfigTokenVar is providerConfig with the token in
// var.provider_token: a performance secondary's tokens change under the
// test (enabling wipes them; its own root token comes later).
func providerConfigTokenVar(addr string) string {
	return fmt.Sprintf(`
variable "provider_token" {
  type      = string
  sensitive = true
}

provider "vaultrepl" {
  address     = %q
  token       = var.provider_token
  max_retries = 1
}
`, addr)
}

func perfSecondaryConfig(addr string) string {
	return providerConfigTokenVar(addr) + `
variable "activation" {
  type      = string
  sensitive = true
}

resource "vaultrepl_performance_secondary" "s" {
  token = var.activation

  timeouts = {
    create = "2m"
  }
}
`
}

// TestAccPerformanceSecondary makes a performance pair: the secondary
// serves the primary's data over HTTP with its own token (the primary's is
// refused), import works, and destroying it disables replication and
// keeps its data.
func TestAccPerformanceSecondary(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	clusterID := p.enablePerfPrimary()
	if _, err := p.root.Write(context.Background(), "secret/before", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	activation := p.perfSecondaryToken("s")
	provToken := devRootToken
	vars := config.Variables{"activation": config.StringVariable(activation), "provider_token": lazyString{&provToken}}
	res := "vaultrepl_performance_secondary.s"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: serverCheck(func() error {
			if st := s.perfStatus(); st.Mode != client.ModeDisabled {
				return fmt.Errorf("after destroy: performance mode %s, want disabled", st.Mode)
			}
			if v, err := s.readV(provToken, "secret/before"); err != nil || v != "1" {
				return fmt.Errorf("after destroy the former secondary reads secret/before = %q (%v), want its data kept", v, err)
			}
			return nil
		}),
		Steps: []resource.TestStep{
			{
				Config:          perfSecondaryConfig(s.addr()),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionCreate),
					plancheck.ExpectSensitiveValue(res, tfjsonpath.New("token")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(res, tfjsonpath.New("cluster_id"), knownvalue.StringExact(clusterID)),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("secondary_id"), knownvalue.StringExact("s")),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("state"), knownvalue.StringExact(client.StateStreamWALs)),
				},
				Check: resource.ComposeTestCheckFunc(serverCheck(func() error {
					ps, ss := p.perfStatus(), s.perfStatus()
					if ss.Mode != client.ModeSecondary || ss.ClusterID != clusterID || ss.LastRemoteWAL < ps.LastWAL {
						return fmt.Errorf("secondary: mode %s set %s at %d; primary at %d", ss.Mode, ss.ClusterID, ss.LastRemoteWAL, ps.LastWAL)
					}
					if dr := s.status(); dr.Mode != client.ModeDisabled {
						return fmt.Errorf("a performance secondary became a DR one: %s", dr.Mode)
					}
					// Enabling wiped s's tokens: "root" is refused, and s's
					// own root token, from p's key share, reads p's data.
					if _, err := s.readV(devRootToken, "secret/before"); client.StatusCode(err) != http.StatusForbidden {
						return fmt.Errorf("the wiped root token on the secondary: %v, want 403", err)
					}
					provToken = s.ownRoot(p)
					if v, err := s.readV(provToken, "secret/before"); err != nil || v != "1" {
						return fmt.Errorf("secret/before on the secondary: %q %v", v, err)
					}
					if _, err := p.root.Write(context.Background(), "secret/after", map[string]any{"v": "2"}); err != nil {
						return err
					}
					return waitReads(s, provToken, "secret/after", "2")
				})),
			},
			{
				ResourceName:                         res,
				ConfigVariables:                      vars,
				ImportState:                          true,
				ImportStateId:                        "s",
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "secondary_id",
				ImportStateVerifyIgnore:              []string{"token", "timeouts"},
			},
			{
				ResourceName:    res,
				ConfigVariables: vars,
				ImportState:     true,
				ImportStateId:   "not-s",
				ExpectError:     regexp.MustCompile(`(?s)Cannot Import Performance Secondary.*secondary\s+id\s+"s"`),
			},
			{
				// The provider now holds the secondary's own token: nothing
				// to change, and the destroy disables with it.
				Config:          perfSecondaryConfig(s.addr()),
				ConfigVariables: vars,
				PlanOnly:        true,
			},
		},
	})
}

// TestAccPerformanceSecondary_onPrimary: a performance primary cannot be
// enabled as a secondary; nothing changes on it.
func TestAccPerformanceSecondary_onPrimary(t *testing.T) {
	p := startCluster(t)
	p.enablePerfPrimary()
	activation := p.perfSecondaryToken("self")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: perfSecondaryConfig(p.addr()),
			ConfigVariables: config.Variables{
				"activation": config.StringVariable(activation), "provider_token": config.StringVariable(devRootToken),
			},
			ExpectError: regexp.MustCompile(`(?s)Cluster Is A Performance Primary.*demote\s+it\s+first`),
		}},
	})
	if st := p.perfStatus(); st.Mode != client.ModePrimary {
		t.Fatalf("the refused enable changed the primary: %s", st.Mode)
	}
}

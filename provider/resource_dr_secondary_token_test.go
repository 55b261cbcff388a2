package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

func secondaryTokenConfig(addr, id, ttl string) string {
	return providerConfig(addr) + fmt.Sprintf(`
resource "vaultrepl_dr_secondary_token" "t" {
  secondary_id = %q
  ttl          = %q
}
`, id, ttl)
}

func TestAccDRSecondaryToken_basic(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	clusterID := p.enablePrimary()
	const id = "dr-east"
	var minted string
	knows := func(want bool) resource.TestCheckFunc {
		return serverCheck(func() error {
			st := p.status()
			if st.Mode != client.ModePrimary || st.HasKnownSecondary(id) != want {
				return fmt.Errorf("primary mode %s known_secondaries %v: want %q listed = %t", st.Mode, st.KnownSecondaries, id, want)
			}
			return nil
		})
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             knows(false),
		Steps: []resource.TestStep{
			{
				Config: secondaryTokenConfig(p.addr(), id, "15m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary_token.t", plancheck.ResourceActionCreate),
					plancheck.ExpectSensitiveValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("token")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectSensitiveValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("token")),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("token"), knownvalue.StringRegexp(regexp.MustCompile(`^[\w-]+\.[\w-]+\.[\w-]+$`))),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("cluster_id"), knownvalue.StringExact(clusterID)),
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("ttl"), knownvalue.StringExact("15m")),
				},
				Check: resource.ComposeTestCheckFunc(knows(true), func(st *terraform.State) error {
					var err error
					minted, err = stateAttr(st, "vaultrepl_dr_secondary_token.t", "token")
					if err != nil {
						return err
					}
					claims, err := client.ParseActivationToken(minted)
					if err != nil || claims.Addr != p.addr() {
						return fmt.Errorf("token claims %+v (%v), want addr %s", claims, err, p.addr())
					}
					return nil
				}),
			},
			{
				ResourceName:                         "vaultrepl_dr_secondary_token.t",
				ImportState:                          true,
				ImportStateId:                        id,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "secondary_id",
				// The token cannot be read back; ttl is only known to config.
				ImportStateVerifyIgnore: []string{"token", "ttl"},
			},
			{
				// The secondary consumes its token: the token still "exists"
				// (known_secondaries), so nothing is minted again.
				PreConfig: func() {
					if _, err := s.root.EnableSecondary(context.Background(), client.Activation{Token: minted}); err != nil {
						t.Fatalf("consume the token: %v", err)
					}
					waitInSync(t, p, s)
				},
				Config:   secondaryTokenConfig(p.addr(), id, "15m"),
				PlanOnly: true,
			},
			{
				// ttl changes in place and mints nothing.
				Config: secondaryTokenConfig(p.addr(), id, "20m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary_token.t", plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("vaultrepl_dr_secondary_token.t", tfjsonpath.New("token"), knownvalue.StringFunc(func(v string) error {
						if v != minted {
							return fmt.Errorf("the token changed on a ttl update")
						}
						return nil
					})),
				},
			},
			{
				// Out of band: the secondary is revoked. The plan mints a new token.
				PreConfig: func() {
					if _, err := p.root.RevokeSecondary(context.Background(), id); err != nil {
						t.Fatalf("revoke out of band: %v", err)
					}
				},
				Config: secondaryTokenConfig(p.addr(), id, "20m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary_token.t", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeTestCheckFunc(knows(true), func(st *terraform.State) error {
					tok, err := stateAttr(st, "vaultrepl_dr_secondary_token.t", "token")
					if err != nil || tok == minted || tok == "" {
						return fmt.Errorf("expected a newly minted token (%v)", err)
					}
					return nil
				}),
			},
			{
				// Changing the id replaces: revoke the old one, admit the new one.
				Config: secondaryTokenConfig(p.addr(), "dr-west", "20m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary_token.t", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: serverCheck(func() error {
					if st := p.status(); st.HasKnownSecondary(id) || !st.HasKnownSecondary("dr-west") {
						return fmt.Errorf("known_secondaries %v, want only dr-west", st.KnownSecondaries)
					}
					return nil
				}),
			},
		},
	})
}

// TestAccDRSecondaryToken_errors: bad ttl (plan time), a cluster that is not
// a primary, an id already admitted.
func TestAccDRSecondaryToken_errors(t *testing.T) {
	p := startCluster(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      secondaryTokenConfig(p.addr(), "x", "soon"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid Duration`),
			},
			{
				Config:      secondaryTokenConfig(p.addr(), "not valid!", "30m"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)secondary_id.*must be letters`),
			},
			{
				Config:      secondaryTokenConfig(p.addr(), "x", "30m"),
				ExpectError: regexp.MustCompile(`(?s)Cluster Is Not A DR Primary.*vaultrepl_dr_primary`),
			},
			{
				PreConfig: func() {
					p.enablePrimary()
					p.secondaryToken("x", "")
				},
				Config:      secondaryTokenConfig(p.addr(), "x", "30m"),
				ExpectError: regexp.MustCompile(`(?s)Secondary Already Admitted.*terraform import`),
			},
		},
	})
	if strings.Contains(fmt.Sprint(p.status().KnownSecondaries), "not valid") {
		t.Fatal("an invalid id reached the server")
	}
}

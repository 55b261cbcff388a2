package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// secondaryConfig makes the provider's cluster a secondary with the
// activation token in var.token (and var.op_token when opToken is set).
func secondaryConfig(addr string, opToken bool) string {
	op := ""
	if opToken {
		op = "dr_operation_token = var.op_token"
	}
	return providerConfig(addr) + fmt.Sprintf(`
variable "token" {
  type      = string
  sensitive = true
}

variable "op_token" {
  type      = string
  sensitive = true
  default   = null
}

resource "vaultrepl_dr_secondary" "s" {
  token = var.token
  %s

  timeouts = {
    create = "2m"
  }
}
`, op)
}

func tokenVars(token string) config.Variables {
	return config.Variables{"token": config.StringVariable(token)}
}

// checkSecondaryOf asks both servers that s follows p as secondary id and
// has caught up with it.
func checkSecondaryOf(p, s *testCluster, id string) resource.TestCheckFunc {
	return serverCheck(func() error {
		ps, ss := p.status(), s.status()
		if ss.Mode != client.ModeSecondary || ss.SecondaryID != id || ss.ClusterID != ps.ClusterID {
			return fmt.Errorf("secondary mode %s id %q cluster %s; want secondary %q of %s", ss.Mode, ss.SecondaryID, ss.ClusterID, id, ps.ClusterID)
		}
		return nil
	})
}

func secondaryStateChecks(p *testCluster, id string) []statecheck.StateCheck {
	return []statecheck.StateCheck{
		statecheck.ExpectSensitiveValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token")),
		statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("state"), knownvalue.StringExact(client.StateStreamWALs)),
		statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("secondary_id"), knownvalue.StringExact(id)),
		statecheck.ExpectKnownValue("vaultrepl_dr_secondary.s", tfjsonpath.New("cluster_id"), knownvalue.StringExact(p.status().ClusterID)),
	}
}

func TestAccDRSecondary_basic(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	if _, err := p.root.Write(context.Background(), "secret/on-primary", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.root.Write(context.Background(), "secret/only-on-secondary", map[string]any{"v": "wiped"}); err != nil {
		t.Fatal(err)
	}
	tok1, tok2, tok3 := p.secondaryToken("s1", ""), p.secondaryToken("s2", ""), p.secondaryToken("s3", "")

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: serverCheck(func() error {
			if st := s.status(); st.Mode != client.ModeDisabled {
				return fmt.Errorf("after destroy the cluster is %s, want disabled", st.Mode)
			}
			return nil
		}),
		Steps: []resource.TestStep{
			{
				Config:          secondaryConfig(s.addr(), false),
				ConfigVariables: tokenVars(tok1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary.s", plancheck.ResourceActionCreate),
					plancheck.ExpectSensitiveValue("vaultrepl_dr_secondary.s", tfjsonpath.New("token")),
				}},
				ConfigStateChecks: secondaryStateChecks(p, "s1"),
				Check: resource.ComposeTestCheckFunc(checkSecondaryOf(p, s, "s1"), serverCheck(func() error {
					// Create returned only once the roots matched.
					if ps, ss := p.status(), s.status(); ss.MerkleRoot != ps.MerkleRoot {
						return fmt.Errorf("merkle roots differ: %s vs %s", ss.MerkleRoot, ps.MerkleRoot)
					}
					return nil
				})),
			},
			{
				ResourceName:                         "vaultrepl_dr_secondary.s",
				ImportState:                          true,
				ImportStateId:                        "s1",
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "secondary_id",
				ImportStateVerifyIgnore:              []string{"token", "timeouts"},
				ConfigVariables:                      tokenVars(tok1),
			},
			{
				// A new token replaces the resource, and the plan says so.
				Config:          secondaryConfig(s.addr(), false),
				ConfigVariables: tokenVars(tok2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: secondaryStateChecks(p, "s2"),
				Check:             checkSecondaryOf(p, s, "s2"),
			},
			{
				// Out of band: replication disabled on the secondary. The
				// refresh drops it and the plan shows a create (the warning
				// says that applying wipes the cluster).
				PreConfig: func() {
					if _, err := s.root.DisableSecondary(context.Background(), ""); err != nil {
						t.Fatalf("disable out of band: %v", err)
					}
				},
				Config:             secondaryConfig(s.addr(), false),
				ConfigVariables:    tokenVars(tok2),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary.s", plancheck.ResourceActionCreate),
				}},
			},
			{
				Config:          secondaryConfig(s.addr(), false),
				ConfigVariables: tokenVars(tok3),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_secondary.s", plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: secondaryStateChecks(p, "s3"),
				Check:             checkSecondaryOf(p, s, "s3"),
			},
		},
	})
	// Enabling wiped what only the secondary had.
	if _, err := p.root.DisablePrimary(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sec, err := s.root.Read(context.Background(), "secret/only-on-secondary"); err != nil || sec != nil {
		t.Fatalf("the secondary's own secret survived enabling: %+v %v", sec, err)
	}
	if sec, err := s.root.Read(context.Background(), "secret/on-primary"); err != nil || sec == nil || sec.Data["v"] != "1" {
		t.Fatalf("the primary's secret did not reach the secondary: %+v %v", sec, err)
	}
}

// TestAccDRSecondary_updatePrimary: a cluster that already is a secondary
// (here of the same primary, under another id) is re-pointed with
// update-primary, which needs dr_operation_token, and is never wiped.
func TestAccDRSecondary_updatePrimary(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	s.followPrimary(p, "old")
	tok := p.secondaryToken("new", "")
	op := s.opToken(p.unsealKey)

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: serverCheck(func() error {
			if st := s.status(); st.Mode != client.ModeDisabled {
				return fmt.Errorf("after destroy the cluster is %s, want disabled", st.Mode)
			}
			return nil
		}),
		Steps: []resource.TestStep{
			{
				// Without dr_operation_token the provider refuses; it never
				// disables and re-enables (a wipe) on its own.
				Config:          secondaryConfig(s.addr(), false),
				ConfigVariables: tokenVars(tok),
				ExpectError:     regexp.MustCompile(`(?s)DR Operation Token Required To Re-point Secondary.*never disables and re-enables`),
			},
			{
				Config: secondaryConfig(s.addr(), true),
				ConfigVariables: config.Variables{
					"token": config.StringVariable(tok), "op_token": config.StringVariable(op),
				},
				ConfigStateChecks: append(secondaryStateChecks(p, "new"),
					statecheck.ExpectSensitiveValue("vaultrepl_dr_secondary.s", tfjsonpath.New("dr_operation_token"))),
				Check: checkSecondaryOf(p, s, "new"),
			},
		},
	})
}

// TestAccDRSecondary_badTokens: a used and an expired activation token give
// one clear diagnostic each and leave the cluster untouched.
func TestAccDRSecondary_badTokens(t *testing.T) {
	p, s, other := startCluster(t), startCluster(t), startCluster(t)
	p.enablePrimary()
	used := p.secondaryToken("used", "")
	if _, err := other.root.EnableSecondary(context.Background(), client.Activation{Token: used}); err != nil {
		t.Fatalf("consume the token: %v", err)
	}
	expired := p.secondaryToken("expired", "1s")
	if _, err := s.root.Write(context.Background(), "secret/keep", map[string]any{"v": "kept"}); err != nil {
		t.Fatal(err)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          secondaryConfig(s.addr(), false),
				ConfigVariables: tokenVars(used),
				ExpectError:     regexp.MustCompile(`(?s)Cannot Enable DR Secondary.*(already used|refused the activation token)`),
			},
			{
				// The 1s token has expired once the primary says so.
				PreConfig: func() {
					testserver.Eventually(t, "the 1s activation token expired", 10*time.Second, func() (bool, string) {
						valid, err := p.anon.WrappingTokenValid(context.Background(), expired)
						return err == nil && !valid, fmt.Sprintf("valid %t, err %v", valid, err)
					})
				},
				Config:          secondaryConfig(s.addr(), false),
				ConfigVariables: tokenVars(expired),
				ExpectError:     regexp.MustCompile(`(?s)Cannot Enable DR Secondary.*expired`),
			},
		},
	})
	if st := s.status(); st.Mode != client.ModeDisabled {
		t.Fatalf("a refused token changed the cluster: mode %s", st.Mode)
	}
	if sec, err := s.root.Read(context.Background(), "secret/keep"); err != nil || sec == nil {
		t.Fatalf("a refused token wiped the cluster: %+v %v", sec, err)
	}
}

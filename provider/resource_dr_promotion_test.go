package provider

import (
	"context"
	"fmt"
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

func promotionWithSharesConfig(addr string) string {
	return providerConfig(addr) + `
variable "key_shares" {
  type      = list(string)
  sensitive = true
}

resource "vaultrepl_dr_promotion" "p" {
  key_shares = var.key_shares
}
`
}

func promotionWithTokenConfig(addr string) string {
	return providerConfig(addr) + `
variable "op_token" {
  type      = string
  sensitive = true
}

resource "vaultrepl_dr_promotion" "p" {
  dr_operation_token = var.op_token
  force              = false

  timeouts = {
    create = "1m"
  }
}
`
}

func checkMode(c *testCluster, want string) resource.TestCheckFunc {
	return serverCheck(func() error {
		if st := c.status(); st.Mode != want {
			return fmt.Errorf("cluster %s is %s, want %s", c.addr(), st.Mode, want)
		}
		return nil
	})
}

// TestAccDRPromotion_keyShares promotes with the primary's key shares (the
// provider generates and decodes the DR operation token), then shows that a
// later demotion is only reported in current_mode, never re-promoted.
func TestAccDRPromotion_keyShares(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	clusterID := p.enablePrimary()
	if _, err := p.root.Write(context.Background(), "secret/acked", map[string]any{"v": "before failover"}); err != nil {
		t.Fatal(err)
	}
	s.followPrimary(p, "s")
	vars := config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey))}

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		// Destroying a promotion changes nothing: the cluster stays as the
		// last step left it (demoted out of band).
		CheckDestroy: checkMode(s, client.ModeSecondary),
		Steps: []resource.TestStep{
			{
				Config:          promotionWithSharesConfig(s.addr()),
				ConfigVariables: vars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("vaultrepl_dr_promotion.p", plancheck.ResourceActionCreate),
					plancheck.ExpectSensitiveValue("vaultrepl_dr_promotion.p", tfjsonpath.New("key_shares")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectSensitiveValue("vaultrepl_dr_promotion.p", tfjsonpath.New("key_shares")),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("cluster_id"), knownvalue.StringExact(clusterID)),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("force"), knownvalue.Bool(false)),
				},
				Check: resource.ComposeTestCheckFunc(checkMode(s, client.ModePrimary), serverCheck(func() error {
					// The promoted cluster serves what the primary acknowledged,
					// and no generation attempt is left behind.
					sec, err := s.root.Read(context.Background(), "secret/acked")
					if err != nil || sec == nil || sec.Data["v"] != "before failover" {
						return fmt.Errorf("acknowledged secret on the promoted cluster: %+v %v", sec, err)
					}
					if gs, err := s.anon.OperationTokenStatus(context.Background()); err != nil || gs.Started {
						return fmt.Errorf("generation attempt left behind: %+v %v", gs, err)
					}
					return nil
				})),
			},
			{
				// Out of band: the promoted cluster is demoted. The refresh
				// shows it in current_mode and plans nothing.
				PreConfig: func() {
					if _, err := s.root.DemotePrimary(context.Background()); err != nil {
						t.Fatalf("demote out of band: %v", err)
					}
				},
				RefreshState: true,
				Check:        resource.TestCheckResourceAttr("vaultrepl_dr_promotion.p", "current_mode", client.ModeSecondary),
			},
			{
				Config:          promotionWithSharesConfig(s.addr()),
				ConfigVariables: vars,
				PlanOnly:        true, // an empty plan: no second promotion
			},
		},
	})
}

// TestAccDRPromotion_operationToken: argument conflicts are caught at plan
// time, a wrong operation token is refused with one diagnostic and changes
// nothing, a right one promotes.
func TestAccDRPromotion_operationToken(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	s.followPrimary(p, "s")
	op := s.opToken(p.unsealKey)
	const wrong = "hvs.WRONGwrongWRONGwrongWRON"

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkMode(s, client.ModePrimary),
		Steps: []resource.TestStep{
			{
				Config: providerConfig(s.addr()) + `
resource "vaultrepl_dr_promotion" "p" {
  dr_operation_token = "x"
  key_shares         = ["y"]
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid Attribute Combination`),
			},
			{
				Config: providerConfig(s.addr()) + `
resource "vaultrepl_dr_promotion" "p" {
  force = true
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Missing Attribute Configuration.*dr_operation_token,key_shares`),
			},
			{
				Config:          promotionWithTokenConfig(s.addr()),
				ConfigVariables: config.Variables{"op_token": config.StringVariable(wrong)},
				ExpectError:     regexp.MustCompile(`(?s)DR Operation Token Rejected.*Nothing was changed`),
			},
			{
				PreConfig: func() {
					if st := s.status(); st.Mode != client.ModeSecondary {
						t.Fatalf("a refused promotion changed the cluster: %s", st.Mode)
					}
				},
				Config:          promotionWithTokenConfig(s.addr()),
				ConfigVariables: config.Variables{"op_token": config.StringVariable(op)},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectSensitiveValue("vaultrepl_dr_promotion.p", tfjsonpath.New("dr_operation_token")),
					statecheck.ExpectKnownValue("vaultrepl_dr_promotion.p", tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
				},
				Check: checkMode(s, client.ModePrimary),
			},
		},
	})
}

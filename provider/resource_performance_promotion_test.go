package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

const perfPromotionConfig = `
resource "vaultrepl_performance_promotion" "p" {
  timeouts = {
    create = "1m"
  }
}
`

// TestAccPerformancePromotion_recordsAndRefuses: on a performance primary
// the promotion is only recorded (what follows a DR promotion of a
// performance primary's DR secondary); a DR secondary and a cluster
// outside any performance set are refused.
func TestAccPerformancePromotion_recordsAndRefuses(t *testing.T) {
	p, d := startCluster(t), startCluster(t)
	perfID := p.enablePerfPrimary()
	p.enablePrimary()
	res := "vaultrepl_performance_promotion.p"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkPerfMode(p, client.ModePrimary),
		Steps: []resource.TestStep{{
			Config: providerConfig(p.addr()) + perfPromotionConfig,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(res, tfjsonpath.New("promoted"), knownvalue.Bool(false)),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("cluster_id"), knownvalue.StringExact(perfID)),
			},
		}},
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      providerConfig(d.addr()) + perfPromotionConfig,
			ExpectError: regexp.MustCompile(`(?s)Cluster Is Not A Performance Secondary.*nothing\s+to\s+promote`),
		}},
	})
	d.followPrimary(p, "d")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      providerConfig(d.addr()) + perfPromotionConfig,
			ExpectError: regexp.MustCompile(`(?s)Cluster Is A DR Secondary.*vaultrepl_dr_promotion\s+first`),
		}},
	})
}

func checkPerfMode(c *testCluster, want string) resource.TestCheckFunc {
	return serverCheck(func() error {
		if st := c.perfStatus(); st.Mode != want {
			return fmt.Errorf("cluster %s has performance mode %s, want %s", c.addr(), st.Mode, want)
		}
		return nil
	})
}

// TestAccPerformancePromotion_promotes promotes a performance secondary
// with its own token.
func TestAccPerformancePromotion_promotes(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	perfID := p.enablePerfPrimary()
	sRoot := s.perfFollow(p, "s")
	res := "vaultrepl_performance_promotion.p"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkPerfMode(s, client.ModePrimary),
		Steps: []resource.TestStep{{
			Config:          providerConfigTokenVar(s.addr()) + perfPromotionConfig,
			ConfigVariables: config.Variables{"provider_token": config.StringVariable(sRoot)},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(res, tfjsonpath.New("promoted"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("cluster_id"), knownvalue.StringExact(perfID)),
			},
			Check: checkPerfMode(s, client.ModePrimary),
		}},
	})
}

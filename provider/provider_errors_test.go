package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// The provider's cluster cannot answer: one clear diagnostic naming the
// address and what to do, raised by the first resource or data source that
// needs the cluster (Configure itself stays lazy).

func TestAccProvider_unreachable(t *testing.T) {
	addr := fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      providerConfig(addr) + drStatusDataConfig,
			ExpectError: regexp.MustCompile(`(?s)Cannot Reach Vault Cluster.*` + regexp.QuoteMeta(addr) + `.*Check that the server is running`),
		}, {
			Config:      primaryConfig(addr, ""),
			ExpectError: regexp.MustCompile(`(?s)Cannot Reach Vault Cluster.*` + regexp.QuoteMeta(addr)),
		}},
	})
}

func TestAccProvider_sealed(t *testing.T) {
	c := startCluster(t)
	if err := c.root.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      primaryConfig(c.addr(), ""),
			ExpectError: regexp.MustCompile(`(?s)Vault Cluster Is Sealed.*` + regexp.QuoteMeta(c.addr()) + `.*Unseal it`),
		}, {
			// Unsealed, the same configuration applies.
			PreConfig: func() {
				if _, err := c.anon.Unseal(context.Background(), c.unsealKey); err != nil {
					t.Fatal(err)
				}
			},
			Config: primaryConfig(c.addr(), ""),
			Check:  checkPrimaryMatchesServer(c),
		}},
	})
}

func TestAccProvider_uninitialized(t *testing.T) {
	srv := testserver.Start(t, serverBuilder.Binary(t), testserver.Options{})
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      providerConfig(srv.Addr) + drStatusDataConfig,
			ExpectError: regexp.MustCompile(`(?s)Vault Cluster Not Initialized.*` + regexp.QuoteMeta(srv.Addr) + `.*Initialize it`),
		}},
	})
}

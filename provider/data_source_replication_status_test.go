package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func TestAccReplicationStatusDataSource(t *testing.T) {
	c := startCluster(t)
	cfg := providerConfig(c.addr()) + `
data "vaultrepl_replication_status" "x" {}
`
	ds := "data.vaultrepl_replication_status.x"
	var clusterID string
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr_mode"), knownvalue.StringExact("disabled")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("performance_mode"), knownvalue.StringExact("disabled")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr").AtMapKey("mode"), knownvalue.StringExact("disabled")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr").AtMapKey("cluster_id"), knownvalue.Null()),
				},
			},
			{
				PreConfig: func() { clusterID = c.enablePrimary() },
				Config:    cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr_mode"), knownvalue.StringExact("primary")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("performance_mode"), knownvalue.StringExact("disabled")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr").AtMapKey("mode"), knownvalue.StringExact("primary")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr").AtMapKey("cluster_id"), knownvalue.StringFunc(func(v string) error {
						if v != clusterID {
							return fmt.Errorf("dr.cluster_id %s, want %s", v, clusterID)
						}
						return nil
					})),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr").AtMapKey("known_secondaries"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("dr").AtMapKey("merkle_root"), knownvalue.StringRegexp(merkleRootRe)),
				},
			},
		},
	})
}

package provider

import (
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

const drStatusDataConfig = `
data "vaultrepl_dr_status" "x" {}
`

var merkleRootRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestAccDRStatusDataSource(t *testing.T) {
	p, s, d := startCluster(t), startCluster(t), startCluster(t)
	clusterID := p.enablePrimary()
	s.followPrimary(p, "dr-b")
	testserver.Eventually(t, "the primary sees dr-b connected", 10*time.Second, func() (bool, string) {
		st := p.status()
		return len(st.Secondaries) == 1 && st.Secondaries[0].ConnectionStatus == "connected", st.Mode
	})
	testserver.Eventually(t, "dr-b sees its primary connected", 10*time.Second, func() (bool, string) {
		st := s.status()
		return len(st.Primaries) == 1 && st.Primaries[0].ConnectionStatus == "connected" && st.ConnectionState == "ready", st.ConnectionState
	})
	ds := "data.vaultrepl_dr_status.x"
	at := tfjsonpath.New[string]

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: providerConfig(p.addr()) + drStatusDataConfig,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, at("mode"), knownvalue.StringExact("primary")),
					statecheck.ExpectKnownValue(ds, at("cluster_id"), knownvalue.StringExact(clusterID)),
					statecheck.ExpectKnownValue(ds, at("state"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(ds, at("merkle_root"), knownvalue.StringRegexp(merkleRootRe)),
					statecheck.ExpectKnownValue(ds, at("last_wal"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(ds, at("last_reindex_epoch"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(ds, at("primary_cluster_addr"), knownvalue.StringExact(p.status().PrimaryClusterAddr)),
					statecheck.ExpectKnownValue(ds, at("known_secondaries"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("dr-b")})),
					statecheck.ExpectKnownValue(ds, at("secondaries"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"node_id":                    knownvalue.StringExact("dr-b"),
							"api_address":                knownvalue.StringExact(s.addr()),
							"cluster_address":            knownvalue.NotNull(),
							"connection_status":          knownvalue.StringExact("connected"),
							"last_heartbeat":             knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT`)),
							"last_heartbeat_duration_ms": knownvalue.StringRegexp(regexp.MustCompile(`^\d+$`)),
							"clock_skew_ms":              knownvalue.StringRegexp(regexp.MustCompile(`^-?\d+$`)),
						}),
					})),
					statecheck.ExpectKnownValue(ds, at("last_remote_wal"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("secondary_id"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("primaries"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("known_primary_cluster_addrs"), knownvalue.Null()),
				},
			},
			{
				Config: providerConfig(s.addr()) + drStatusDataConfig,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, at("mode"), knownvalue.StringExact("secondary")),
					statecheck.ExpectKnownValue(ds, at("cluster_id"), knownvalue.StringExact(clusterID)),
					statecheck.ExpectKnownValue(ds, at("state"), knownvalue.StringExact("stream-wals")),
					statecheck.ExpectKnownValue(ds, at("connection_state"), knownvalue.StringExact("ready")),
					statecheck.ExpectKnownValue(ds, at("secondary_id"), knownvalue.StringExact("dr-b")),
					statecheck.ExpectKnownValue(ds, at("merkle_root"), knownvalue.StringRegexp(merkleRootRe)),
					statecheck.ExpectKnownValue(ds, at("last_remote_wal"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(ds, at("known_primary_cluster_addrs"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(ds, at("primaries"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"node_id":           knownvalue.Null(),
							"api_address":       knownvalue.StringExact(p.addr()),
							"cluster_address":   knownvalue.StringExact(p.status().PrimaryClusterAddr),
							"connection_status": knownvalue.StringExact("connected"),
							"last_heartbeat":    knownvalue.NotNull(),
						}),
					})),
					statecheck.ExpectKnownValue(ds, at("last_wal"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("known_secondaries"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("secondaries"), knownvalue.Null()),
				},
			},
			{
				Config: providerConfig(d.addr()) + drStatusDataConfig,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, at("mode"), knownvalue.StringExact("disabled")),
					statecheck.ExpectKnownValue(ds, at("cluster_id"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("merkle_root"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, at("known_secondaries"), knownvalue.Null()),
				},
			},
		},
	})
}

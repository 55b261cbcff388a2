package provider

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

func promotionWithHistoryConfig(addr string) string {
	return promotionWithSharesConfig(addr) + `
data "vaultrepl_dr_failover_history" "h" {
  depends_on = [vaultrepl_dr_promotion.p]
}
`
}

// TestAccDRPromotion_evidence: the primary is SIGKILLed, the secondary is
// promoted through the provider; recovery time is null until the first
// write lands, a refresh then fills it in with the server's figure, and the
// history data source lists the same failover.
func TestAccDRPromotion_evidence(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePrimary()
	if _, err := p.root.Write(context.Background(), "secret/acked", map[string]any{"v": "before failover"}); err != nil {
		t.Fatal(err)
	}
	s.followPrimary(p, "s")
	p.srv.Kill()
	killed := time.Now()
	vars := config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey))}
	var firstWrite time.Time
	const res = "vaultrepl_dr_promotion.p"

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          promotionWithHistoryConfig(s.addr()),
				ConfigVariables: vars,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(res, tfjsonpath.New("current_mode"), knownvalue.StringExact(client.ModePrimary)),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("failover_id"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("recovery_point"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("lost_primary_last_heartbeat"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("unreplicated_entries"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("first_write_at"), knownvalue.Null()),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("recovery_time_seconds"), knownvalue.Null()),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("discarded_writes"), knownvalue.Null()),
					statecheck.ExpectKnownValue("data.vaultrepl_dr_failover_history.h", tfjsonpath.New("failovers"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue("data.vaultrepl_dr_failover_history.h", tfjsonpath.New("discarded"), knownvalue.ListSizeExact(0)),
				},
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttrPair(res, "failover_id", "data.vaultrepl_dr_failover_history.h", "failovers.0.id"),
					resource.TestCheckResourceAttrPair(res, "recovery_point", "data.vaultrepl_dr_failover_history.h", "failovers.0.recovery_point"),
					checkHeartbeatBefore(res, killed),
				),
			},
			{
				// The first write lands; the next refresh fills in the
				// recovery time, and the plan stays empty.
				PreConfig: func() {
					if _, err := s.root.Write(context.Background(), "secret/after", map[string]any{"v": "first write"}); err != nil {
						t.Fatalf("first write after the promotion: %v", err)
					}
					firstWrite = time.Now()
					testserver.Eventually(t, "the server records the first write", 10*time.Second, func() (bool, string) {
						h, err := s.root.FailoverHistory(context.Background())
						if err != nil || len(h.Failovers) == 0 {
							return false, fmt.Sprint(err)
						}
						return h.Failovers[0].RecoveryTimeSeconds != nil, "no recovery time yet"
					})
				},
				Config:          promotionWithHistoryConfig(s.addr()),
				ConfigVariables: vars,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(res, tfjsonpath.New("first_write_at"), knownvalue.NotNull()),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("recovery_time_seconds"), knownvalue.NotNull()),
				},
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttrPair(res, "recovery_time_seconds", "data.vaultrepl_dr_failover_history.h", "failovers.0.recovery_time_seconds"),
					func(st *terraform.State) error {
						got, err := stateAttr(st, res, "recovery_time_seconds")
						if err != nil {
							return err
						}
						rto, err := strconv.ParseFloat(got, 64)
						if err != nil {
							return err
						}
						// The last heartbeat came before the kill and the first
						// write committed before this test saw its answer.
						if limit := firstWrite.Sub(killed).Seconds() + 1; rto <= 0 || rto > limit {
							return fmt.Errorf("recovery_time_seconds %g, want in (0, %g]", rto, limit)
						}
						return nil
					},
				),
			},
		},
	})
}

// checkHeartbeatBefore checks that the recorded last heartbeat of the lost
// primary is no later than its kill.
func checkHeartbeatBefore(res string, killed time.Time) resource.TestCheckFunc {
	return func(st *terraform.State) error {
		v, err := stateAttr(st, res, "lost_primary_last_heartbeat")
		if err != nil {
			return err
		}
		hb, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return err
		}
		if hb.After(killed) {
			return fmt.Errorf("last heartbeat %s after the kill at %s", hb, killed)
		}
		return nil
	}
}

// TestAccDRPromotion_discardedWrites: the link to the primary stalls, the
// primary acknowledges five writes that cannot replicate and is killed.
// After the promotion the old primary is restarted and re-pointed; a
// refresh then exports exactly those five writes as discarded.
func TestAccDRPromotion_discardedWrites(t *testing.T) {
	ctx := context.Background()
	p, s := startCluster(t), startCluster(t)
	link := testserver.ThrottledProxy(t, p.srv.Cluster, 1<<30)
	if _, err := p.root.EnablePrimary(ctx, link.Addr); err != nil {
		t.Fatal(err)
	}
	s.followPrimary(p, "s")
	link.SetRate(0)
	const lost = 5
	for i := range lost {
		if _, err := p.root.Write(ctx, fmt.Sprintf("secret/lost/%d", i), map[string]any{"v": i}); err != nil {
			t.Fatal(err)
		}
	}
	p.srv.Kill()
	link.Close()
	vars := config.Variables{"key_shares": config.ListVariable(config.StringVariable(p.unsealKey))}
	const res = "vaultrepl_dr_promotion.p"

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:          promotionWithSharesConfig(s.addr()),
				ConfigVariables: vars,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(res, tfjsonpath.New("discarded_writes"), knownvalue.Null()),
				},
			},
			{
				PreConfig: func() {
					old := restartOldPrimary(t, p)
					if _, err := old.root.DemotePrimary(ctx); err != nil {
						t.Fatalf("demote the old primary: %v", err)
					}
					op := old.opToken(p.unsealKey)
					if _, err := old.anon.UpdatePrimary(ctx, op, client.Activation{Token: s.secondaryToken("old", "")}); err != nil {
						t.Fatalf("re-point the old primary: %v", err)
					}
					testserver.Eventually(t, "the new primary learns what the old one discarded", 30*time.Second, func() (bool, string) {
						h, err := s.root.FailoverHistory(ctx)
						if err != nil || len(h.Failovers) == 0 {
							return false, fmt.Sprint(err)
						}
						return h.Failovers[0].Discarded != nil, "not yet"
					})
				},
				Config:          promotionWithSharesConfig(s.addr()),
				ConfigVariables: vars,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(res, tfjsonpath.New("discarded_writes"), knownvalue.Int64Exact(lost)),
					statecheck.ExpectKnownValue(res, tfjsonpath.New("discarded_seconds"), knownvalue.NotNull()),
				},
			},
		},
	})
}

// restartOldPrimary starts a killed dev cluster again on its database
// (without -dev: it is initialised) and unseals it.
func restartOldPrimary(t *testing.T, p *testCluster) *testCluster {
	t.Helper()
	srv := testserver.Start(t, serverBuilder.Binary(t), testserver.Options{DB: p.srv.DB, Args: []string{"-heartbeat-interval", "200ms"}})
	c := &testCluster{t: t, srv: srv, unsealKey: p.unsealKey}
	c.root, c.anon = c.newClient(devRootToken), c.newClient("")
	t.Cleanup(func() {
		if t.Failed() {
			out := srv.Output()
			t.Logf("== restarted old primary %s output (tail):\n%s", srv.Addr, out[max(0, len(out)-6000):])
		}
	})
	if _, err := c.anon.Unseal(context.Background(), p.unsealKey); err != nil {
		t.Fatalf("unseal the old primary: %v", err)
	}
	return c
}

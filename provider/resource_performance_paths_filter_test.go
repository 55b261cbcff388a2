package provider

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
)

func pathsFilterConfig(addr, mode, paths string) string {
	return providerConfig(addr) + fmt.Sprintf(`
resource "vaultrepl_performance_paths_filter" "f" {
  secondary_id = "s"
  mode         = %q
  paths        = %s
}
`, mode, paths)
}

// waitReads polls, over HTTP on c with token, until path reads want ("" =
// absent).
func waitReads(c *testCluster, token, path, want string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := c.readV(token, path)
		if err == nil && v == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s reads %q (%v) after 30s, want %q", path, c.addr(), v, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAccPerformancePathsFilter: a deny filter set on the primary takes a
// mount's data off the performance secondary (checked on the secondary
// over HTTP), switching to allow keeps the other mounts' data flowing,
// import reads it back, and destroying it brings the mount's data back.
func TestAccPerformancePathsFilter(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	p.enablePerfPrimary()
	ctx := context.Background()
	if _, err := p.root.Write(ctx, "sys/mounts/kv-b", map[string]any{"type": "kv"}); err != nil {
		t.Fatal(err)
	}
	for path, v := range map[string]string{"kv-b/x": "filtered", "secret/a": "a"} {
		if _, err := p.root.Write(ctx, path, map[string]any{"v": v}); err != nil {
			t.Fatal(err)
		}
	}
	sRoot := s.perfFollow(p, "s")
	if v, err := s.readV(sRoot, "kv-b/x"); err != nil || v != "filtered" {
		t.Fatalf("before any filter the secondary reads kv-b/x = %q %v", v, err)
	}
	onServer := func(mode string, paths ...string) resource.TestCheckFunc {
		return serverCheck(func() error {
			f, err := p.root.ReadPathsFilter(ctx, "s")
			if err != nil || f == nil || f.Mode != mode || !slices.Equal(slices.Sorted(slices.Values(f.Paths)), paths) {
				return fmt.Errorf("filter on the primary: %+v %v; want %s %v", f, err, mode, paths)
			}
			return nil
		})
	}
	res := "vaultrepl_performance_paths_filter.f"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: serverCheck(func() error {
			if f, err := p.root.ReadPathsFilter(ctx, "s"); err != nil || f != nil {
				return fmt.Errorf("filter after destroy: %+v %v", f, err)
			}
			return waitReads(s, sRoot, "kv-b/x", "filtered")
		}),
		Steps: []resource.TestStep{
			{
				Config: pathsFilterConfig(p.addr(), "deny", `["kv-b/"]`),
				Check: resource.ComposeTestCheckFunc(onServer("deny", "kv-b/"), serverCheck(func() error {
					if err := waitReads(s, sRoot, "kv-b/x", ""); err != nil {
						return err
					}
					// The rest still replicates.
					if _, err := p.root.Write(ctx, "secret/while", map[string]any{"v": "w"}); err != nil {
						return err
					}
					return waitReads(s, sRoot, "secret/while", "w")
				})),
			},
			{
				ResourceName:                         res,
				ImportState:                          true,
				ImportStateId:                        "s",
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "secondary_id",
			},
			{
				// In place; "secret" is the server's "secret/" (no drift).
				Config: pathsFilterConfig(p.addr(), "allow", `["secret"]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeTestCheckFunc(onServer("allow", "secret/"), serverCheck(func() error {
					if _, err := p.root.Write(ctx, "secret/allowed", map[string]any{"v": "ok"}); err != nil {
						return err
					}
					if err := waitReads(s, sRoot, "secret/allowed", "ok"); err != nil {
						return err
					}
					return waitReads(s, sRoot, "kv-b/x", "")
				})),
			},
		},
	})
}

package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

func promotionBehindConfig(addr string) string {
	return providerConfig(addr) + `
variable "op_token" {
  type      = string
  sensitive = true
}

variable "force" {
  type = bool
}

resource "vaultrepl_dr_promotion" "p" {
  dr_operation_token = var.op_token
  force              = var.force

  timeouts = {
    create = "5s"
  }
}
`
}

// recoverStream asks c (a secondary) to drop its replication stream and
// open a new one at once (sys/replication/recover).
func (c *testCluster) recoverStream() {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPut, c.addr()+"/v1/sys/replication/recover", strings.NewReader("{}"))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", devRootToken)
	resp, err := c.srv.HTTPClient().Do(req)
	if err != nil {
		c.t.Fatalf("recover on %s: %v", c.addr(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("recover on %s: %d %s", c.addr(), resp.StatusCode, body)
	}
}

// behindDiagnostic matches Terraform's output when the only error is the
// provider's "behind" diagnostic: it names the create timeout as the limit,
// quotes the server's answer (how far behind, promote with force=true) and
// suggests force = true. Between its parts the output may hold no "r:", so
// no other "Error:" heading (Terraform wraps the provider's prose, hence \s+).
var behindDiagnostic = func() *regexp.Regexp {
	const noError = `(?:[^r]|r+[^r:])*`
	return regexp.MustCompile(`\A` + noError +
		`Error: DR Secondary Is Behind Its Primary` + noError +
		`refused\s+the\s+promotion` + noError +
		`did\s+not\s+catch\s+up\s+within\s+5s:` + noError +
		`this secondary is \d+ WAL entries behind its primary \(primary at \d+, applied \d+` + noError +
		`promote with force=true` + noError +
		`set\s+force\s+=\s+true\s+to\s+promote\s+now` + noError + `\z`)
}()

// TestAccDRPromotion_refusedWhileBehind: a secondary that is measurably
// behind its primary refuses a promotion without force; the provider retries
// within its create timeout and then fails with one diagnostic that carries
// the server's message and suggests force. With force the same resource
// promotes.
//
// The secondary is made behind with real behaviour only: its database is
// held locked from the test process (a stalled disk), so it cannot apply
// what it receives. After a write on the primary and a stream restart, the
// new stream's start frame tells the secondary the primary's WAL index,
// which it cannot reach.
func TestAccDRPromotion_refusedWhileBehind(t *testing.T) {
	p, s := startCluster(t), startCluster(t)
	clusterID := p.enablePrimary()
	s.followPrimary(p, "s")
	// Generating the operation token writes the secondary's storage (as
	// key_shares would during the apply): do it before the lock.
	op := s.opToken(p.unsealKey)
	waitInSync(t, p, s)

	release := s.srv.LockWrites(t)

	if _, err := p.root.Write(context.Background(), "secret/late", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	target := p.status().LastWAL

	// The primary logs each stream it opens once the start frame has been
	// sent; the secondary shows stream-wals once it has read it.
	const connected = `msg="secondary connected" secondary_id=s`
	opened := strings.Count(p.srv.Output(), connected)
	s.recoverStream()
	testserver.Eventually(t, "the secondary's new stream has started", 15*time.Second, func() (bool, string) {
		if n := strings.Count(p.srv.Output(), connected); n <= opened {
			return false, "primary opened no new stream"
		}
		st := s.status()
		return st.State == client.StateStreamWALs, "secondary state " + st.State
	})
	if st := s.status(); st.Mode != client.ModeSecondary || st.LastRemoteWAL >= target {
		t.Fatalf("secondary not measurably behind: mode %s, applied WAL %d, primary at %d", st.Mode, st.LastRemoteWAL, target)
	}

	vars := func(force bool) config.Variables {
		return config.Variables{"op_token": config.StringVariable(op), "force": config.BoolVariable(force)}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkMode(s, client.ModePrimary),
		Steps: []resource.TestStep{
			{
				Config:          promotionBehindConfig(s.addr()),
				ConfigVariables: vars(false),
				ExpectError:     behindDiagnostic,
			},
			{
				PreConfig: func() {
					if st := s.status(); st.Mode != client.ModeSecondary || st.ClusterID != clusterID {
						t.Fatalf("a refused promotion changed the cluster: mode %s cluster_id %s", st.Mode, st.ClusterID)
					}
					// Promoting writes the secondary's storage.
					release()
				},
				Config:          promotionBehindConfig(s.addr()),
				ConfigVariables: vars(true),
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr("vaultrepl_dr_promotion.p", "current_mode", client.ModePrimary),
					serverCheck(func() error {
						if st := s.status(); st.Mode != client.ModePrimary || st.ClusterID != clusterID {
							return fmt.Errorf("after a forced promotion: mode %s cluster_id %s", st.Mode, st.ClusterID)
						}
						return nil
					}),
				),
			},
		},
	})
}

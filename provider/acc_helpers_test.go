package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// Acceptance tests start their own vaultrepl-server processes (dev mode:
// initialised, unsealed, root token "root", one key share; heartbeats every
// 200ms) and point a single-cluster configuration at one of them. Every
// alias of an in-process provider would be configured in one process (last
// Configure wins), so each configuration talks to exactly one cluster; what
// the other cluster must do (mint a token, make a secondary) the test does
// with the client.

var serverBuilder testserver.Builder

const devRootToken = "root"

type testCluster struct {
	t         *testing.T
	srv       *testserver.Server
	root      *client.Client
	anon      *client.Client
	unsealKey string // hex; the dev server's only key share
}

var unsealKeyRe = regexp.MustCompile(`Unseal Key: ([0-9a-f]+)`)

// startCluster runs a dev-mode server for this test.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	srv := testserver.Start(t, serverBuilder.Binary(t), testserver.Options{
		Args: []string{"-dev", "-dev-root-token-id", devRootToken, "-heartbeat-interval", "200ms"},
	})
	c := &testCluster{t: t, srv: srv}
	testserver.Eventually(t, "the unseal key in the dev banner", 10*time.Second, func() (bool, string) {
		m := unsealKeyRe.FindStringSubmatch(srv.Output())
		if m == nil {
			return false, srv.Output()
		}
		c.unsealKey = m[1]
		return true, ""
	})
	c.root = c.newClient(devRootToken)
	c.anon = c.newClient("")
	t.Cleanup(func() {
		if t.Failed() {
			out := srv.Output()
			if len(out) > 6000 {
				out = out[len(out)-6000:]
			}
			t.Logf("== server %s output (tail):\n%s", srv.Addr, out)
		}
	})
	return c
}

func (c *testCluster) newClient(token string) *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Address: c.srv.Addr, Token: token, MaxRetries: 2, RetryWaitMin: 50 * time.Millisecond, RetryWaitMax: 200 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func (c *testCluster) addr() string { return c.srv.Addr }

func (c *testCluster) status() *client.DRStatus {
	c.t.Helper()
	st, err := c.anon.DRStatus(context.Background())
	if err != nil {
		c.t.Fatalf("DR status of %s: %v", c.addr(), err)
	}
	return st
}

func (c *testCluster) enablePrimary() string {
	c.t.Helper()
	if _, err := c.root.EnablePrimary(context.Background(), ""); err != nil {
		c.t.Fatalf("enable primary on %s: %v", c.addr(), err)
	}
	return c.status().ClusterID
}

func (c *testCluster) secondaryToken(id, ttl string) string {
	c.t.Helper()
	tok, _, err := c.root.SecondaryToken(context.Background(), id, ttl, "")
	if err != nil {
		c.t.Fatalf("secondary-token %s on %s: %v", id, c.addr(), err)
	}
	return tok
}

// followPrimary makes c a secondary of p (which must be a primary) under id
// and waits until it is in sync.
func (c *testCluster) followPrimary(p *testCluster, id string) {
	c.t.Helper()
	tok := p.secondaryToken(id, "")
	if _, err := c.root.EnableSecondary(context.Background(), client.Activation{Token: tok}); err != nil {
		c.t.Fatalf("enable secondary %s: %v", c.addr(), err)
	}
	waitInSync(c.t, p, c)
}

func (c *testCluster) opToken(shares ...string) string {
	c.t.Helper()
	tok, err := c.anon.GenerateDROperationToken(context.Background(), shares)
	if err != nil {
		c.t.Fatalf("generate DR operation token on %s: %v", c.addr(), err)
	}
	return tok
}

func waitInSync(t *testing.T, p, s *testCluster) {
	t.Helper()
	testserver.Eventually(t, s.addr()+" in sync with "+p.addr(), 30*time.Second, func() (bool, string) {
		ps, ss := p.status(), s.status()
		return ss.Mode == client.ModeSecondary && ss.State == client.StateStreamWALs && ss.MerkleRoot == ps.MerkleRoot,
			fmt.Sprintf("secondary %s/%s root %s, primary root %s", ss.Mode, ss.State, ss.MerkleRoot, ps.MerkleRoot)
	})
}

// providerConfig is the provider block for one cluster.
func providerConfig(addr string) string {
	return fmt.Sprintf(`
provider "vaultrepl" {
  address     = %q
  token       = %q
  max_retries = 1
}
`, addr, devRootToken)
}

// serverCheck turns a question to the server into a TestCheckFunc /
// CheckDestroy: the answer comes from the cluster, not from the state.
func serverCheck(f func() error) func(*terraform.State) error {
	return func(*terraform.State) error { return f() }
}

// stateAttr reads an attribute of a resource from the test state.
func stateAttr(s *terraform.State, name, attr string) (string, error) {
	rs, ok := s.RootModule().Resources[name]
	if !ok {
		return "", fmt.Errorf("%s not in state", name)
	}
	v, ok := rs.Primary.Attributes[attr]
	if !ok {
		return "", fmt.Errorf("%s has no attribute %s", name, attr)
	}
	return v, nil
}

// --- performance replication ----------------------------------------------

func (c *testCluster) perfStatus() *client.DRStatus {
	c.t.Helper()
	st, err := c.anon.Replication(client.KindPerformance).Status(context.Background())
	if err != nil {
		c.t.Fatalf("performance status of %s: %v", c.addr(), err)
	}
	return st
}

func (c *testCluster) enablePerfPrimary() string {
	c.t.Helper()
	if _, err := c.root.Replication(client.KindPerformance).EnablePrimary(context.Background(), ""); err != nil {
		c.t.Fatalf("enable performance primary on %s: %v", c.addr(), err)
	}
	return c.perfStatus().ClusterID
}

func (c *testCluster) perfSecondaryToken(id string) string {
	c.t.Helper()
	tok, _, err := c.root.Replication(client.KindPerformance).SecondaryToken(context.Background(), id, "", "")
	if err != nil {
		c.t.Fatalf("performance secondary-token %s on %s: %v", id, c.addr(), err)
	}
	return tok
}

// perfFollow makes c a performance secondary of p under id, waits until it
// has caught up and returns c's own root token, generated from p's key
// share: enabling wiped c's tokens, "root" included.
func (c *testCluster) perfFollow(p *testCluster, id string) string {
	c.t.Helper()
	if _, err := c.root.Replication(client.KindPerformance).EnableSecondary(context.Background(), client.Activation{Token: p.perfSecondaryToken(id)}); err != nil {
		c.t.Fatalf("enable performance secondary %s: %v", c.addr(), err)
	}
	waitPerfCaughtUp(c.t, p, c)
	return c.ownRoot(p)
}

// ownRoot generates a root token on c, a performance secondary of p, with
// p's key share, as `vault operator generate-root` does.
func (c *testCluster) ownRoot(p *testCluster) string {
	c.t.Helper()
	tok, err := c.anon.GenerateRootToken(context.Background(), []string{p.unsealKey})
	if err != nil {
		c.t.Fatalf("generate a root token on %s with its primary's share: %v", c.addr(), err)
	}
	return tok
}

// waitPerfCaughtUp waits until s streams WALs at p's last WAL index.
func waitPerfCaughtUp(t *testing.T, p, s *testCluster) {
	t.Helper()
	testserver.Eventually(t, s.addr()+" caught up with performance primary "+p.addr(), 30*time.Second, func() (bool, string) {
		ps, ss := p.perfStatus(), s.perfStatus()
		return ss.Mode == client.ModeSecondary && ss.State == client.StateStreamWALs && ss.LastRemoteWAL >= ps.LastWAL,
			fmt.Sprintf("secondary %s/%s at %d, primary at %d", ss.Mode, ss.State, ss.LastRemoteWAL, ps.LastWAL)
	})
}

// readV reads a secret's "v" on c over HTTP with token; "" when absent.
func (c *testCluster) readV(token, path string) (string, error) {
	s, err := c.newClient(token).Read(context.Background(), path)
	if err != nil || s == nil {
		return "", err
	}
	v, _ := s.Data["v"].(string)
	return v, nil
}

// lazyString is a configuration variable whose value is read when the
// step runs, not when the test case is built: a token made by an earlier
// step's check (a performance secondary's own root token).
type lazyString struct{ v *string }

func (l lazyString) MarshalJSON() ([]byte, error) { return json.Marshal(*l.v) }

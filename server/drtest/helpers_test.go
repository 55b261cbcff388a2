package drtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/helper/roottoken"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

var builder testserver.Builder

// TestMain stops the PostgreSQL server of a run with
// VAULTREPL_TEST_STORAGE=postgresql (the same suite on the other engine).
func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

// cluster is one live server process with its root token and key shares.
type cluster struct {
	t    *testing.T
	name string
	srv  *testserver.Server
	root string
	keys []string
}

// startCluster starts, initialises (5 shares, threshold 3) and unseals a
// server. Heartbeats run every 200ms so tests converge quickly.
func startCluster(t *testing.T, name string) *cluster {
	t.Helper()
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-heartbeat-interval", "200ms"}})
	return initCluster(t, name, srv)
}

// initCluster initialises (5 shares, threshold 3) and unseals srv.
func initCluster(t *testing.T, name string, srv *testserver.Server) *cluster {
	t.Helper()
	c := &cluster{t: t, name: name, srv: srv}
	res, err := c.client("").Sys().Init(&vaultapi.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("%s: init: %v", name, err)
	}
	c.root, c.keys = res.RootToken, res.Keys
	c.unseal(c.keys)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("== %s output:\n%s", name, lastLines(srv.Output(), 60))
		}
	})
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *cluster) client(token string) *vaultapi.Client {
	c.t.Helper()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = c.srv.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 30 * time.Second
	// The server's own client trusts its CA when the API serves TLS.
	cfg.HttpClient = c.srv.HTTPClient()
	cfg.HttpClient.Timeout = cfg.Timeout
	cl, err := vaultapi.NewClient(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

func (c *cluster) rootClient() *vaultapi.Client { return c.client(c.root) }

func (c *cluster) unseal(keys []string) {
	c.t.Helper()
	for _, k := range keys[:3] {
		st, err := c.client("").Sys().Unseal(k)
		if err != nil {
			c.t.Fatalf("%s: unseal: %v", c.name, err)
		}
		if !st.Sealed {
			return
		}
	}
	c.t.Fatalf("%s: still sealed", c.name)
}

// write puts a secret and fails the test on error.
func (c *cluster) write(token, path string, data map[string]any) {
	c.t.Helper()
	if _, err := c.client(token).Logical().Write(path, data); err != nil {
		c.t.Fatalf("%s: write %s: %v", c.name, path, err)
	}
}

// status reads sys/replication/dr/status through the official client.
func (c *cluster) status() *vaultapi.ReplicationStatusGenericResponse {
	c.t.Helper()
	st, err := c.client("").Sys().ReplicationDRStatusWithContext(context.Background())
	if err != nil {
		c.t.Fatalf("%s: DR status: %v", c.name, err)
	}
	return st
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	wait := 20 * time.Millisecond
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, limit, last)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// waitInSync waits until secondary streams from primary with equal roots.
func waitInSync(t *testing.T, primary, secondary *cluster) {
	t.Helper()
	eventually(t, secondary.name+" in sync with "+primary.name, 30*time.Second, func() (bool, string) {
		p, s := primary.status(), secondary.status()
		ok := s.State == "stream-wals" && s.MerkleRoot == p.MerkleRoot && s.LastRemoteWAL == p.LastWAL && s.Mode == "secondary"
		return ok, fmt.Sprintf("primary wal %d root %s; secondary mode %s state %s wal %d root %s", p.LastWAL, p.MerkleRoot, s.Mode, s.State, s.LastRemoteWAL, s.MerkleRoot)
	})
}

// secondaryToken mints a wrapped activation token on the primary.
func (c *cluster) secondaryToken(token, id string, extra map[string]any) string {
	c.t.Helper()
	data := map[string]any{"id": id}
	for k, v := range extra {
		data[k] = v
	}
	sec, err := c.client(token).Logical().Write("sys/replication/dr/primary/secondary-token", data)
	if err != nil {
		c.t.Fatalf("%s: secondary-token: %v", c.name, err)
	}
	if sec.WrapInfo == nil || sec.WrapInfo.Token == "" {
		c.t.Fatalf("%s: secondary-token answered no wrap_info: %+v", c.name, sec)
	}
	return sec.WrapInfo.Token
}

// drOperationToken generates a DR operation token on c from the given
// shares and decodes it the way `vault operator generate-root -dr-token
// -decode` does.
func (c *cluster) drOperationToken(keys []string) string {
	c.t.Helper()
	sys := c.client("").Sys()
	st, err := sys.GenerateDROperationTokenInit("", "")
	if err != nil {
		c.t.Fatalf("%s: generate-operation-token attempt: %v", c.name, err)
	}
	if len(st.OTP) != 28 || st.OTPLength != 28 || !st.Started {
		c.t.Fatalf("%s: attempt answer %+v", c.name, st)
	}
	otp := st.OTP
	for _, k := range keys[:3] {
		st, err = sys.GenerateDROperationTokenUpdate(k, st.Nonce)
		if err != nil {
			c.t.Fatalf("%s: generate-operation-token update: %v", c.name, err)
		}
		if st.Complete {
			break // a threshold below three (after a rekey)
		}
	}
	if !st.Complete || st.EncodedToken == "" {
		c.t.Fatalf("%s: generation not complete: %+v", c.name, st)
	}
	tok, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		c.t.Fatalf("%s: decode DR operation token: %v", c.name, err)
	}
	return tok
}

// raw sends a request without the client, for exact status codes.
func (c *cluster) raw(method, path, token, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.Addr+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// generateRoot generates a root token on c from the given shares through
// sys/generate-root and decodes it as `vault operator generate-root -decode`
// does.
func (c *cluster) generateRoot(keys []string) string {
	c.t.Helper()
	sys := c.client("").Sys()
	st, err := sys.GenerateRootInit("", "")
	if err != nil {
		c.t.Fatalf("%s: generate-root attempt: %v", c.name, err)
	}
	otp := st.OTP
	for _, k := range keys[:3] {
		if st, err = sys.GenerateRootUpdate(k, st.Nonce); err != nil {
			c.t.Fatalf("%s: generate-root update: %v", c.name, err)
		}
	}
	if !st.Complete || st.EncodedToken == "" {
		c.t.Fatalf("%s: root generation not complete: %+v", c.name, st)
	}
	tok, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		c.t.Fatalf("%s: decode root token: %v", c.name, err)
	}
	return tok
}

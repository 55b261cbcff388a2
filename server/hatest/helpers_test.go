package hatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

var builder testserver.Builder

func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

// haCluster is n server processes on one PostgreSQL database.
type haCluster struct {
	mu    sync.Mutex
	skip  map[int]bool // nodes killed or paused (fault_test.go)
	t     *testing.T
	nodes []*testserver.Server
	root  string
	key   string
	pg    *testserver.PostgresStorage
}

// startHA starts n nodes, initialises the cluster through node 0 (a
// standby forwards sys/init to whichever node took the lock) and unseals
// every node on its own.
func startHA(t *testing.T, n int, ttl, renew string) *haCluster {
	t.Helper()
	pg := &testserver.PostgresStorage{URL: testserver.PostgresURL(t), TablePrefix: "vault_", HA: true, LockTTL: ttl, LockRenewInterval: renew}
	c := &haCluster{t: t, pg: pg}
	for range n {
		c.nodes = append(c.nodes, testserver.Start(t, builder.Binary(t), testserver.Options{Postgres: pg}))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range c.nodes {
				t.Logf("== node %d output (last lines):\n%s", i, lastLines(s.Output(), 40))
			}
		}
	})
	var res struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	// The retries are for a cluster without an active node yet (503, not
	// forwarded). An init that started is waited for, however slow a busy
	// machine makes it: one whose answer a short timeout dropped would leave
	// the cluster initialised with its keys lost, and every retry refused.
	waitFor(t, 20*time.Second, "sys/init through node 0", func() error {
		code, body, err := callWith(initClient, c.nodes[0].Addr, http.MethodPut, "sys/init", "", `{"secret_shares":1,"secret_threshold":1}`)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %s %v", code, body, err)
		}
		return json.Unmarshal([]byte(body), &res)
	})
	c.root, c.key = res.RootToken, res.Keys[0]
	for i := range c.nodes {
		c.unseal(i)
	}
	c.active(20 * time.Second)
	return c
}

func (c *haCluster) unseal(i int) {
	c.t.Helper()
	code, body, err := call(c.nodes[i].Addr, http.MethodPut, "sys/unseal", "", fmt.Sprintf(`{"key":%q}`, c.key))
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"sealed":false`) {
		c.t.Fatalf("unseal node %d: %d %s %v", i, code, body, err)
	}
}

// leaderView is one node's sys/leader.
type leaderView struct {
	HAEnabled     bool      `json:"ha_enabled"`
	IsSelf        bool      `json:"is_self"`
	LeaderAddress string    `json:"leader_address"`
	LeaderCluster string    `json:"leader_cluster_address"`
	ActiveTime    time.Time `json:"active_time"`
}

func (c *haCluster) leader(i int) (leaderView, error) {
	var v leaderView
	code, body, err := call(c.nodes[i].Addr, http.MethodGet, "sys/leader", "", "")
	if err != nil {
		return v, err
	}
	if code != http.StatusOK {
		return v, fmt.Errorf("sys/leader: %d %s", code, body)
	}
	return v, json.Unmarshal([]byte(body), &v)
}

// active waits until exactly one live node says it is active and returns
// its index.
func (c *haCluster) active(limit time.Duration) int {
	c.t.Helper()
	idx := -1
	waitFor(c.t, limit, "one active node", func() error {
		var err error
		idx, err = c.activeNow()
		return err
	})
	return idx
}

// activeNow asks every live node once: the one active node, or an error.
func (c *haCluster) activeNow() (int, error) {
	idx := -1
	for i, s := range c.nodes {
		if s == nil || c.isDown(i) {
			continue
		}
		v, err := c.leader(i)
		if err != nil {
			continue // killed or paused node
		}
		if v.IsSelf {
			if idx >= 0 {
				return -1, fmt.Errorf("nodes %d and %d both active", idx, i)
			}
			idx = i
		}
	}
	if idx < 0 {
		return -1, fmt.Errorf("no active node")
	}
	return idx, nil
}

func (c *haCluster) write(i int, key, value string) (int, string, error) {
	return call(c.nodes[i].Addr, http.MethodPut, "secret/"+key, c.root, fmt.Sprintf(`{"value":%q}`, value))
}

func (c *haCluster) read(i int, key string) (string, bool, error) {
	return readKey(c.nodes[i].Addr, c.root, key)
}

// readKey reads secret/key through the node at addr.
func readKey(addr, token, key string) (string, bool, error) {
	code, body, err := call(addr, http.MethodGet, "secret/"+key, token, "")
	if err != nil {
		return "", false, err
	}
	if code == http.StatusNotFound {
		return "", false, nil
	}
	if code != http.StatusOK {
		return "", false, fmt.Errorf("read %s: %d %s", key, code, body)
	}
	var r struct {
		Data struct {
			Value string `json:"value"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return "", false, err
	}
	return r.Data.Value, true, nil
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// initClient waits longer: sys/init makes the root key and the keyring.
var initClient = &http.Client{Timeout: time.Minute}

// call makes one API request and returns the status and body.
func call(addr, method, path, token, body string) (int, string, error) {
	return callWith(httpClient, addr, method, path, token, body)
}

func callWith(client *http.Client, addr, method, path, token, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), client.Timeout)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, addr+"/v1/"+path, rd)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// waitFor polls cond until it returns nil or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, limit, err)
		}
		time.Sleep(25 * time.Millisecond) // polling interval of a bounded wait
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

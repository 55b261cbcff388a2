package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestMain stops the PostgreSQL server TestAccHADRPair starts (on first
// use only: the other tests never start one).
func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

// haCluster is the nodes of one HA cluster on one PostgreSQL database,
// initialised with one key share.
type haCluster struct {
	t     *testing.T
	name  string
	nodes []*testserver.Server
	root  string // the cluster's own root token
	key   string // its only unseal key share
}

// startHACluster starts n nodes sharing a fresh PostgreSQL database (lock
// ttl 3s, so a lost active node is replaced within seconds), initialises
// the cluster through node 0 (a standby forwards sys/init) and unseals
// every node on its own.
func startHACluster(t *testing.T, name string, n int) *haCluster {
	t.Helper()
	pg := &testserver.PostgresStorage{URL: testserver.PostgresURL(t), TablePrefix: "vault_", HA: true, LockTTL: "3s", LockRenewInterval: "500ms"}
	c := &haCluster{t: t, name: name}
	for range n {
		c.nodes = append(c.nodes, testserver.Start(t, serverBuilder.Binary(t), testserver.Options{
			Postgres: pg, Args: []string{"-heartbeat-interval", "200ms"},
		}))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range c.nodes {
				out := s.Output()
				if len(out) > 6000 {
					out = out[len(out)-6000:]
				}
				t.Logf("== cluster %s node %d (%s) output (tail):\n%s", name, i, s.Addr, out)
			}
		}
	})
	var res struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	testserver.Eventually(t, name+": sys/init through node 0", 30*time.Second, func() (bool, string) {
		code, body, err := haCall(c.nodes[0].Addr, http.MethodPut, "sys/init", "", `{"secret_shares":1,"secret_threshold":1}`)
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("%d %s %v", code, body, err)
		}
		return json.Unmarshal([]byte(body), &res) == nil && len(res.Keys) == 1, body
	})
	c.root, c.key = res.RootToken, res.Keys[0]
	for i, s := range c.nodes {
		code, body, err := haCall(s.Addr, http.MethodPut, "sys/unseal", "", fmt.Sprintf(`{"key":%q}`, c.key))
		if err != nil || code != http.StatusOK || !strings.Contains(body, `"sealed":false`) {
			t.Fatalf("%s: unseal node %d: %d %s %v", name, i, code, body, err)
		}
	}
	c.active(30 * time.Second)
	return c
}

// active waits until exactly one node says it is the active node (its
// sys/leader is_self) and returns its index.
func (c *haCluster) active(limit time.Duration) int {
	c.t.Helper()
	found := -1
	testserver.Eventually(c.t, c.name+": one active node", limit, func() (bool, string) {
		found = -1
		var seen []string
		for i, s := range c.nodes {
			code, body, err := haCall(s.Addr, http.MethodGet, "sys/leader", "", "")
			var l struct {
				IsSelf bool `json:"is_self"`
			}
			if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
				seen = append(seen, fmt.Sprintf("node %d: %d %v", i, code, err))
				continue
			}
			if l.IsSelf {
				if found >= 0 {
					return false, fmt.Sprintf("nodes %d and %d both active", found, i)
				}
				found = i
			}
		}
		return found >= 0, fmt.Sprintf("no active node: %v", seen)
	})
	return found
}

// standby returns the index of a node that is not the active one.
func (c *haCluster) standby() int { return (c.active(30*time.Second) + 1) % len(c.nodes) }

func (c *haCluster) client(i int, token string) *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Address: c.nodes[i].Addr, Token: token, MaxRetries: 2,
		RetryWaitMin: 50 * time.Millisecond, RetryWaitMax: 200 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func (c *haCluster) status(i int) (*client.DRStatus, error) {
	return c.client(i, "").DRStatus(context.Background())
}

// haCall is one API request with a bounded timeout.
func haCall(addr, method, path, token, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, addr+"/v1/"+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(raw), err
}

// TestAccHADRPair is the provider on HA clusters (issue 11, acceptance 3):
// a DR pair of two three-node PostgreSQL HA clusters P and S, built by the
// real CLI and provider binary with every provider alias pointing at a
// STANDBY node, so that every replication call the provider makes is
// forwarded to the cluster's active node. Under a write load spread over
// P's nodes, P's active node is SIGKILLed: a standby of P takes over and
// S's active node resumes the stream from its WAL index (no merkle sync
// logged on any node of S) and converges with the new active node. Then
// the whole of P is killed (SIGKILL, every node) and S is promoted with
// examples/failover/2-promote-secondary, again through a standby of S.
// Every secret P acknowledged (written through its standbys too) must be
// readable on the promoted S.
func TestAccHADRPair(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run the HA DR pair test with the real CLI (make test-e2e)")
	}
	begin := time.Now()
	ctx := context.Background()
	root := moduleRoot(t)
	tf := newCLI(t, root)
	t.Logf("CLI: %s (%s)", tf.path, tf.version)

	start := time.Now()
	p, s := startHACluster(t, "P", 3), startHACluster(t, "S", 3)
	tf.addSecret(p.root, p.key, s.root, s.key)
	pStandby, sStandby := p.standby(), s.standby()
	t.Logf("clusters up in %s (server build and PostgreSQL start included): P active %s, provider's standby %s; S active %s, provider's standby %s",
		time.Since(start).Round(time.Millisecond), p.nodes[p.active(time.Second)].Addr, p.nodes[pStandby].Addr, s.nodes[s.active(time.Second)].Addr, s.nodes[sStandby].Addr)

	// Secrets acknowledged by P, written through its standby.
	acked := &ackedSecrets{m: map[string]string{}}
	write := func(label string, n int) {
		t.Helper()
		cl := p.client(pStandby, p.root)
		for i := range n {
			path := fmt.Sprintf("secret/ha/%s-%d", label, i)
			val := fmt.Sprintf("%s value %d", label, i)
			if _, err := cl.Write(ctx, path, map[string]any{"v": val}); err != nil {
				t.Fatalf("write %s through P's standby: %v", path, err)
			}
			acked.add(path, val)
		}
	}
	write("before-topology", 5)

	dir := filepath.Join(t.TempDir(), "ha")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "ha", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	tf.apply(t, dir, map[string]any{
		"primary_address": p.nodes[pStandby].Addr, "primary_token": p.root,
		"secondary_address": s.nodes[sStandby].Addr, "secondary_token": s.root,
	})
	outs := tf.outputs(t, dir)
	clusterID := outputString(t, outs, "cluster_id")
	expectStates(t, outs, "dr-1")
	t.Logf("DR pair applied through standbys in %s", time.Since(start).Round(time.Millisecond))
	// The providers' nodes were standbys throughout: no takeover made
	// them active behind the test's back.
	if p.isActive(pStandby) || s.isActive(sStandby) {
		t.Fatal("a takeover happened during the apply: the provider did not talk to standbys only")
	}

	write("after-topology", 5)
	pActive := p.active(10 * time.Second)
	waitSInSync(t, p, s, pActive, clusterID)
	// A second plan is empty: nothing drifts through the forwarding.
	tf.run(t, dir, "plan", "-detailed-exitcode", "-input=false", "-no-color")

	killActiveUnderLoad(t, p, s, pActive, clusterID, acked)

	// The whole of P is lost.
	for _, n := range p.nodes {
		n.Kill()
	}
	sStandby = s.standby()
	start = time.Now()
	promote := stepDir(t, root, "2-promote-secondary")
	tf.apply(t, promote, map[string]any{"address": s.nodes[sStandby].Addr, "token": p.root, "unseal_keys": []string{p.key}})
	if mode := outputString(t, tf.outputs(t, promote), "mode"); mode != client.ModePrimary {
		t.Fatalf("output mode = %s, want primary", mode)
	}
	t.Logf("S promoted through its standby in %s", time.Since(start).Round(time.Millisecond))

	for i := range s.nodes {
		st, err := s.status(i)
		if err != nil || st.Mode != client.ModePrimary || st.ClusterID != clusterID {
			t.Fatalf("S node %d after the promotion: %+v %v, want primary of %s", i, st, err, clusterID)
		}
	}
	// Every acknowledged secret, read through S's nodes in turn (two of
	// three reads are forwarded by a standby).
	i := 0
	for path, want := range acked.m {
		n := i % len(s.nodes)
		i++
		sec, err := s.client(n, p.root).Read(ctx, path)
		var got string
		if sec != nil {
			got, _ = sec.Data["v"].(string)
		}
		if err != nil || got != want {
			t.Fatalf("%s through S node %d: %q %v, want %q", path, n, got, err, want)
		}
	}
	if _, err := s.client(sStandby, p.root).Write(ctx, "secret/ha/after-promotion", map[string]any{"v": "y"}); err != nil {
		t.Fatalf("write on the promoted S through its standby: %v", err)
	}
	t.Logf("all %d secrets P acknowledged read on the promoted S; whole test %s", len(acked.m), time.Since(begin).Round(time.Millisecond))
}

// ackedSecrets are the writes a cluster acknowledged, path to value.
type ackedSecrets struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *ackedSecrets) add(path, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[path] = value
}

func (a *ackedSecrets) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}

// isActive says whether node i answers sys/leader with is_self.
func (c *haCluster) isActive(i int) bool {
	code, body, err := haCall(c.nodes[i].Addr, http.MethodGet, "sys/leader", "", "")
	var l struct {
		IsSelf bool `json:"is_self"`
	}
	return err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &l) == nil && l.IsSelf
}

// waitSInSync waits until every node of S reports (a standby's answer is
// forwarded) the WAL index and merkle root that P's node pNode reports:
// S holds exactly P's data.
func waitSInSync(t *testing.T, p, s *haCluster, pNode int, clusterID string) {
	t.Helper()
	testserver.Eventually(t, "S in sync with P", 60*time.Second, func() (bool, string) {
		ps, err := p.status(pNode)
		if err != nil || ps.Mode != client.ModePrimary || ps.ClusterID != clusterID {
			return false, fmt.Sprintf("P node %d: %+v %v", pNode, ps, err)
		}
		for i := range s.nodes {
			ss, err := s.status(i)
			if err != nil || ss.Mode != client.ModeSecondary || ss.ClusterID != clusterID || ss.State != client.StateStreamWALs ||
				ss.MerkleRoot != ps.MerkleRoot || ss.LastRemoteWAL != ps.LastWAL {
				return false, fmt.Sprintf("S node %d: %+v %v; P last_wal %d merkle_root %s", i, ss, err, ps.LastWAL, ps.MerkleRoot)
			}
		}
		return true, ""
	})
}

// loadWriters write concurrently to P while its active node is killed.
const loadWriters = 4

// killActiveUnderLoad SIGKILLs P's active node pActive while loadWriters
// writers spread writes over P's live nodes, waits for a standby of P to take over
// and acknowledge 100 more writes, then for S to converge with the new
// active node; no node of S may log a merkle sync after the kill (S's
// active node resumed the stream from its WAL index).
func killActiveUnderLoad(t *testing.T, p, s *haCluster, pActive int, clusterID string, acked *ackedSecrets) {
	t.Helper()
	var killed atomic.Int32
	killed.Store(-1)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w := range loadWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond) // fast failures must not use up the attempts
			defer tick.Stop()
			for i := 0; i < 5000 && ctx.Err() == nil; i++ {
				<-tick.C
				n := (i + w) % len(p.nodes)
				if int32(n) == killed.Load() { //nolint:gosec // three nodes
					continue
				}
				path, val := fmt.Sprintf("secret/ha/load-%d-%d", w, i), fmt.Sprintf("load value %d/%d", w, i)
				code, _, err := haCall(p.nodes[n].Addr, http.MethodPut, path, p.root, fmt.Sprintf(`{"v":%q}`, val))
				if err == nil && code == http.StatusNoContent {
					acked.add(path, val)
				}
			}
		}()
	}
	atStart := acked.len()
	testserver.Eventually(t, "load under way", 30*time.Second, func() (bool, string) {
		return acked.len() >= atStart+100, fmt.Sprintf("%d writes acknowledged", acked.len()-atStart)
	})
	before := make([]int, len(s.nodes))
	for i, n := range s.nodes {
		before[i] = len(n.Output())
	}
	start := time.Now()
	p.nodes[pActive].Kill()
	killed.Store(int32(pActive)) //nolint:gosec // three nodes
	atKill := acked.len()
	next := activeAmong(t, p, pActive)
	t.Logf("P's active node %d SIGKILLed during load (%d writes acknowledged): node %d active after %s",
		pActive, atKill-atStart, next, time.Since(start).Round(time.Millisecond))
	testserver.Eventually(t, "100 writes acknowledged after the takeover", 30*time.Second, func() (bool, string) {
		return acked.len() >= atKill+100, fmt.Sprintf("%d acknowledged since the kill", acked.len()-atKill)
	})
	stop()
	wg.Wait()
	waitSInSync(t, p, s, next, clusterID)
	t.Logf("S converged with P's new active node %s after the kill; %d writes acknowledged under load", time.Since(start).Round(time.Millisecond), acked.len()-atStart)
	for i, n := range s.nodes {
		if out := n.Output()[before[i]:]; loggedMerkleSync(out) {
			t.Errorf("S node %d logged a merkle sync after P's failover (it should resume from its WAL index):\n%s", i, lastLines(out, 30))
		}
	}
	// The check above can fail: activation began with a merkle sync (a
	// new secondary), which S's active node logged in those very words.
	var atActivation bool
	for i, n := range s.nodes {
		atActivation = atActivation || loggedMerkleSync(n.Output()[:before[i]])
	}
	if !atActivation {
		t.Error("no node of S logged the merkle sync that activation began with: the check for one after the kill looks for the wrong words")
	}
}

func loggedMerkleSync(out string) bool {
	return strings.Contains(out, "merkle sync needed") || strings.Contains(out, `msg="merkle sync"`)
}

// activeAmong waits until one live node of c (not dead) says it is active
// and returns its index.
func activeAmong(t *testing.T, c *haCluster, dead int) int {
	t.Helper()
	found := -1
	testserver.Eventually(t, c.name+": a standby takes over", 30*time.Second, func() (bool, string) {
		for i := range c.nodes {
			if i != dead && c.isActive(i) {
				found = i
				return true, ""
			}
		}
		return false, "no live node is active"
	})
	return found
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

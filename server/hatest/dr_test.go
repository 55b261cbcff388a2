package hatest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/helper/roottoken"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// drStatus is the part of sys/replication/dr/status the test compares.
type drStatus struct {
	Mode          string `json:"mode"`
	State         string `json:"state"`
	LastWAL       uint64 `json:"last_wal"`
	LastRemoteWAL uint64 `json:"last_remote_wal"`
	MerkleRoot    string `json:"merkle_root"`
}

func readDRStatus(addr string) (drStatus, error) {
	var r struct {
		Data drStatus `json:"data"`
	}
	code, body, err := call(addr, http.MethodGet, "sys/replication/dr/status", "", "")
	if err != nil {
		return r.Data, err
	}
	if code != http.StatusOK {
		return r.Data, fmt.Errorf("dr status: %d %s", code, body)
	}
	return r.Data, json.Unmarshal([]byte(body), &r)
}

// TestDRSecondaryHAClusterResumes: a single-node SQLite DR primary and a
// two-node PostgreSQL HA secondary (a mixed topology). The secondary's
// active node is SIGKILLed during load; its standby takes the lock, resumes
// the stream from the stored WAL index (no merkle sync logged on either
// node after the kill) and converges with the primary.
func TestDRSecondaryHAClusterResumes(t *testing.T) {
	primary := testserver.Start(t, builder.Binary(t), testserver.Options{DB: filepath.Join(t.TempDir(), "primary.db")})
	var res struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	code, body, err := callWith(initClient, primary.Addr, http.MethodPut, "sys/init", "", `{"secret_shares":1,"secret_threshold":1}`)
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("init primary: %d %s %v", code, body, err)
	}
	if code, body, err := call(primary.Addr, http.MethodPut, "sys/unseal", "", fmt.Sprintf(`{"key":%q}`, res.Keys[0])); err != nil || code != http.StatusOK {
		t.Fatalf("unseal primary: %d %s %v", code, body, err)
	}
	root := res.RootToken
	sec := startHA(t, 2, "3s", "500ms")

	if code, body, err := call(primary.Addr, http.MethodPut, "sys/replication/dr/primary/enable", root, `{}`); err != nil || code >= 300 {
		t.Fatalf("enable primary: %d %s %v", code, body, err)
	}
	code, body, err = call(primary.Addr, http.MethodPut, "sys/replication/dr/primary/secondary-token", root, `{"id":"ha-secondary"}`)
	var tok struct {
		WrapInfo struct {
			Token string `json:"token"`
		} `json:"wrap_info"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.WrapInfo.Token == "" {
		t.Fatalf("secondary-token: %d %s %v", code, body, err)
	}
	// Through the standby: forwarded to the active node.
	act := sec.active(10 * time.Second)
	standby := 1 - act
	if code, body, err := call(sec.nodes[standby].Addr, http.MethodPut, "sys/replication/dr/secondary/enable", sec.root, fmt.Sprintf(`{"token":%q}`, tok.WrapInfo.Token)); err != nil || code >= 300 {
		t.Fatalf("enable secondary through the standby: %d %s %v", code, body, err)
	}
	waitConverged(t, primary.Addr, sec.nodes[standby].Addr)

	// Load on the primary while the secondary's active node dies.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 400 {
			_, _, _ = call(primary.Addr, http.MethodPut, fmt.Sprintf("secret/load/%d", i), root, `{"value":"x"}`)
		}
	}()
	waitFor(t, 30*time.Second, "load under way", func() error {
		st, err := readDRStatus(primary.Addr)
		if err != nil || st.LastWAL < 100 {
			return fmt.Errorf("primary wal %d %v", st.LastWAL, err)
		}
		return nil
	})
	// Activation began with a merkle sync ("new secondary"); only what is
	// logged from here on counts.
	before := []int{len(sec.nodes[0].Output()), len(sec.nodes[1].Output())}
	start := time.Now()
	sec.nodes[act].Kill()
	sec.down(act, true)
	waitFor(t, 30*time.Second, "the standby to take over", func() error {
		idx, err := sec.activeNow()
		if err != nil {
			return err
		}
		if idx != standby {
			return fmt.Errorf("node %d active", idx)
		}
		return nil
	})
	t.Logf("secondary cluster takeover after SIGKILL: %s", time.Since(start).Round(time.Millisecond))
	wg.Wait()
	waitConverged(t, primary.Addr, sec.nodes[standby].Addr)
	for i, n := range sec.nodes {
		if out := n.Output()[before[i]:]; strings.Contains(out, "merkle sync needed") || strings.Contains(out, `msg="merkle sync"`) {
			t.Errorf("secondary node %d ran a merkle sync:\n%s", i, lastLines(out, 30))
		}
	}
}

// waitConverged waits until the secondary streams WALs at the primary's
// index with the same merkle root.
func waitConverged(t *testing.T, primary, secondary string) {
	t.Helper()
	waitFor(t, 60*time.Second, "secondary converged with the primary", func() error {
		p, err := readDRStatus(primary)
		if err != nil {
			return err
		}
		s, err := readDRStatus(secondary)
		if err != nil {
			return err
		}
		if s.Mode != "secondary" || s.State != "stream-wals" || s.LastRemoteWAL != p.LastWAL || s.MerkleRoot != p.MerkleRoot {
			return fmt.Errorf("primary %+v, secondary %+v", p, s)
		}
		return nil
	})
}

// TestDRPrimaryHAClusterFailover: a three-node PostgreSQL HA DR primary and
// a single-node SQLite secondary. The secondary learns the primary's node
// addresses from the stream (known_primary_cluster_addrs); when the
// primary's active node is SIGKILLed during load, a standby takes over and
// the secondary reconnects to it and resumes from its WAL index: no merkle
// sync is logged after the kill and it converges with the new active node.
func TestDRPrimaryHAClusterFailover(t *testing.T) {
	prim := startHA(t, 3, "3s", "500ms")
	secondary := testserver.Start(t, builder.Binary(t), testserver.Options{DB: filepath.Join(t.TempDir(), "secondary.db"), Args: []string{"-heartbeat-interval", "300ms"}})
	var res struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	code, body, err := callWith(initClient, secondary.Addr, http.MethodPut, "sys/init", "", `{"secret_shares":1,"secret_threshold":1}`)
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("init secondary: %d %s %v", code, body, err)
	}
	if code, body, err := call(secondary.Addr, http.MethodPut, "sys/unseal", "", fmt.Sprintf(`{"key":%q}`, res.Keys[0])); err != nil || code != http.StatusOK {
		t.Fatalf("unseal secondary: %d %s %v", code, body, err)
	}
	act := prim.active(10 * time.Second)
	if code, body, err := call(prim.nodes[act].Addr, http.MethodPut, "sys/replication/dr/primary/enable", prim.root, `{}`); err != nil || code >= 300 {
		t.Fatalf("enable primary: %d %s %v", code, body, err)
	}
	code, body, err = call(prim.nodes[act].Addr, http.MethodPut, "sys/replication/dr/primary/secondary-token", prim.root, `{"id":"sqlite-secondary"}`)
	var tok struct {
		WrapInfo struct {
			Token string `json:"token"`
		} `json:"wrap_info"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.WrapInfo.Token == "" {
		t.Fatalf("secondary-token: %d %s %v", code, body, err)
	}
	if code, body, err := call(secondary.Addr, http.MethodPut, "sys/replication/dr/secondary/enable", res.RootToken, fmt.Sprintf(`{"token":%q}`, tok.WrapInfo.Token)); err != nil || code >= 300 {
		t.Fatalf("enable secondary: %d %s %v", code, body, err)
	}
	waitConverged(t, prim.nodes[act].Addr, secondary.Addr)
	waitFor(t, 30*time.Second, "the secondary to learn the primary's nodes", func() error {
		code, body, err := call(secondary.Addr, http.MethodGet, "sys/replication/dr/status", "", "")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %v", code, err)
		}
		for _, n := range prim.nodes {
			cl := strings.TrimPrefix(n.Cluster, "https://")
			if !strings.Contains(body, cl) {
				return fmt.Errorf("%s missing from %s", cl, body)
			}
		}
		return nil
	})

	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Writes through any live primary node (a standby forwards), until
		// stopped or 20000 attempts.
		tick := time.NewTicker(5 * time.Millisecond) // fast failures must not use up the attempts
		defer tick.Stop()
		for i := 0; i < 20000 && ctx.Err() == nil; i++ {
			<-tick.C
			n := i % len(prim.nodes)
			if prim.isDown(n) {
				continue
			}
			_, _, _ = opCall(prim.nodes[n].Addr, http.MethodPut, fmt.Sprintf("secret/load/%d", i), prim.root, `{"value":"x"}`)
		}
	}()
	waitFor(t, 30*time.Second, "load under way", func() error {
		st, err := readDRStatus(prim.nodes[act].Addr)
		if err != nil || st.LastWAL < 50 {
			return fmt.Errorf("primary wal %d %v", st.LastWAL, err)
		}
		return nil
	})
	before := len(secondary.Output())
	start := time.Now()
	prim.nodes[act].Kill()
	prim.down(act, true)
	next := prim.active(30 * time.Second)
	t.Logf("primary cluster takeover after SIGKILL: node %d after %s", next, time.Since(start).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "more load on the new active node", func() error {
		st, err := readDRStatus(prim.nodes[next].Addr)
		if err != nil {
			return err
		}
		_, _, _ = call(prim.nodes[next].Addr, http.MethodPut, "secret/after-kill", prim.root, fmt.Sprintf(`{"value":"%d"}`, st.LastWAL))
		return nil
	})
	stop()
	wg.Wait()
	waitConverged(t, prim.nodes[next].Addr, secondary.Addr)
	t.Logf("secondary converged with the new active node %s after the kill", time.Since(start).Round(time.Millisecond))
	if out := secondary.Output()[before:]; strings.Contains(out, "merkle sync needed") || strings.Contains(out, `msg="merkle sync"`) {
		t.Errorf("the secondary ran a merkle sync after the primary's failover:\n%s", lastLines(out, 30))
	}
}

// TestDRBetweenHAClusters (acceptance 3, promotion through the API): a DR
// pair of two three-node PostgreSQL HA clusters. The primary's active node
// is SIGKILLed during load: the secondary cluster follows the new active
// node from its WAL index without a merkle sync and converges. Then the
// whole primary cluster is killed and the secondary is promoted with a DR
// operation token sent to one of its standbys; every acknowledged write is
// readable on it afterwards.
func TestDRBetweenHAClusters(t *testing.T) {
	prim := startHA(t, 3, "3s", "500ms")
	sec := startHA(t, 3, "3s", "500ms")
	act := prim.active(10 * time.Second)
	if code, body, err := call(prim.nodes[act].Addr, http.MethodPut, "sys/replication/dr/primary/enable", prim.root, `{}`); err != nil || code >= 300 {
		t.Fatalf("enable primary: %d %s %v", code, body, err)
	}
	code, body, err := call(prim.nodes[(act+1)%3].Addr, http.MethodPut, "sys/replication/dr/primary/secondary-token", prim.root, `{"id":"ha-b"}`)
	var tok struct {
		WrapInfo struct {
			Token string `json:"token"`
		} `json:"wrap_info"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.WrapInfo.Token == "" {
		t.Fatalf("secondary-token through a standby: %d %s %v", code, body, err)
	}
	secAct := sec.active(10 * time.Second)
	if code, body, err := call(sec.nodes[(secAct+1)%3].Addr, http.MethodPut, "sys/replication/dr/secondary/enable", sec.root, fmt.Sprintf(`{"token":%q}`, tok.WrapInfo.Token)); err != nil || code >= 300 {
		t.Fatalf("enable secondary: %d %s %v", code, body, err)
	}
	waitConverged(t, prim.nodes[act].Addr, sec.nodes[secAct].Addr)

	acked := map[string]bool{}
	var ackedMu sync.Mutex
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond) // fast failures must not use up the attempts
		defer tick.Stop()
		for i := 0; i < 20000 && ctx.Err() == nil; i++ {
			<-tick.C
			n := i % len(prim.nodes)
			if prim.isDown(n) {
				continue
			}
			key := fmt.Sprintf("load/%d", i)
			code, _, err := opCall(prim.nodes[n].Addr, http.MethodPut, "secret/"+key, prim.root, `{"value":"x"}`)
			if err == nil && code == http.StatusNoContent {
				ackedMu.Lock()
				acked[key] = true
				ackedMu.Unlock()
			}
		}
	}()
	waitFor(t, 30*time.Second, "load under way", func() error {
		st, err := readDRStatus(prim.nodes[act].Addr)
		if err != nil || st.LastWAL < 50 {
			return fmt.Errorf("primary wal %d %v", st.LastWAL, err)
		}
		return nil
	})
	before := make([]int, len(sec.nodes))
	for i, n := range sec.nodes {
		before[i] = len(n.Output())
	}
	start := time.Now()
	prim.nodes[act].Kill()
	prim.down(act, true)
	next := prim.active(30 * time.Second)
	t.Logf("primary cluster takeover after SIGKILL: %s", time.Since(start).Round(time.Millisecond))
	ackedMu.Lock()
	atKill := len(acked)
	ackedMu.Unlock()
	waitFor(t, 30*time.Second, "50 writes acknowledged after the takeover", func() error {
		ackedMu.Lock()
		defer ackedMu.Unlock()
		if len(acked) < atKill+50 {
			return fmt.Errorf("%d acknowledged, %d at the kill", len(acked), atKill)
		}
		return nil
	})
	stop()
	wg.Wait()
	waitConverged(t, prim.nodes[next].Addr, sec.nodes[sec.active(10*time.Second)].Addr)
	t.Logf("secondary cluster converged %s after the kill; %d writes acknowledged", time.Since(start).Round(time.Millisecond), len(acked))
	for i, n := range sec.nodes {
		if out := n.Output()[before[i]:]; strings.Contains(out, "merkle sync needed") || strings.Contains(out, `msg="merkle sync"`) {
			t.Errorf("secondary node %d ran a merkle sync after the primary's failover:\n%s", i, lastLines(out, 30))
		}
	}

	// The whole primary cluster goes; the secondary is promoted through a standby.
	for i, n := range prim.nodes {
		if !prim.isDown(i) {
			n.Kill()
			prim.down(i, true)
		}
	}
	secAct = sec.active(10 * time.Second)
	via := sec.nodes[(secAct+1)%3].Addr
	opToken := drOperationToken(t, via, prim.key)
	if code, body, err := call(via, http.MethodPut, "sys/replication/dr/secondary/promote", "", fmt.Sprintf(`{"dr_operation_token":%q}`, opToken)); err != nil || code >= 300 {
		t.Fatalf("promote through a standby: %d %s %v", code, body, err)
	}
	waitFor(t, 30*time.Second, "the promoted cluster to be a primary", func() error {
		st, err := readDRStatus(via)
		if err != nil || st.Mode != "primary" {
			return fmt.Errorf("%+v %v", st, err)
		}
		return nil
	})
	missing := 0
	for key := range acked {
		if _, ok, err := readKey(sec.nodes[(secAct+2)%3].Addr, prim.root, key); err != nil || !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes missing on the promoted cluster", missing, len(acked))
	}
	if code, body, err := call(via, http.MethodPut, "secret/after-promotion", prim.root, `{"value":"y"}`); err != nil || code != http.StatusNoContent {
		t.Fatalf("write on the promoted cluster: %d %s %v", code, body, err)
	}
	t.Logf("promoted; all %d acknowledged writes present", len(acked))
}

// drOperationToken generates a DR operation token from the primary's key
// share through addr and decodes it as `vault operator generate-root
// -dr-token -decode` does.
func drOperationToken(t *testing.T, addr, key string) string {
	t.Helper()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cl, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.ClearToken()
	st, err := cl.Sys().GenerateDROperationTokenInit("", "")
	if err != nil {
		t.Fatalf("generate-operation-token attempt: %v", err)
	}
	otp := st.OTP
	if st, err = cl.Sys().GenerateDROperationTokenUpdate(key, st.Nonce); err != nil {
		t.Fatalf("generate-operation-token update: %v", err)
	}
	if !st.Complete {
		t.Fatalf("generation not complete: %+v", st)
	}
	tok, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		t.Fatalf("decode DR operation token: %v", err)
	}
	return tok
}

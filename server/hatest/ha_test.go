package hatest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHAClusterBasics: three nodes on one database form one cluster. One
// is active; the standbys report it in sys/leader, answer sys/health with
// 429 (200 with ?standbyok=true), forward reads and writes to it, and
// sys/ha-status lists all three. sys/step-down and a clean shutdown hand
// the lock over within about a second; SIGKILL within the lease. Each
// takeover time is logged.
func TestHAClusterBasics(t *testing.T) {
	c := startHA(t, 3, "3s", "500ms")
	act := c.active(10 * time.Second)
	activeView, err := c.leader(act)
	if err != nil {
		t.Fatal(err)
	}
	if !activeView.HAEnabled || activeView.LeaderAddress != c.nodes[act].Addr || activeView.ActiveTime.IsZero() {
		t.Fatalf("active node's sys/leader: %+v (node addr %s)", activeView, c.nodes[act].Addr)
	}
	for i := range c.nodes {
		if i == act {
			continue
		}
		v, err := c.leader(i)
		if err != nil || v.IsSelf || !v.HAEnabled || v.LeaderAddress != c.nodes[act].Addr || v.LeaderCluster != activeView.LeaderCluster || !v.ActiveTime.IsZero() {
			t.Fatalf("standby %d sys/leader: %+v %v", i, v, err)
		}
		if code, body, _ := call(c.nodes[i].Addr, http.MethodGet, "sys/health", "", ""); code != http.StatusTooManyRequests || !strings.Contains(body, `"standby":true`) {
			t.Fatalf("standby %d sys/health: %d %s", i, code, body)
		}
		if code, _, _ := call(c.nodes[i].Addr, http.MethodGet, "sys/health?standbyok=true", "", ""); code != http.StatusOK {
			t.Fatalf("standby %d sys/health?standbyok=true: %d", i, code)
		}
		// A write through a standby is forwarded; every node reads it.
		key := fmt.Sprintf("via-standby-%d", i)
		if code, body, err := c.write(i, key, "v"); err != nil || code != http.StatusNoContent {
			t.Fatalf("write through standby %d: %d %s %v", i, code, body, err)
		}
		for j := range c.nodes {
			if v, ok, err := c.read(j, key); err != nil || !ok || v != "v" {
				t.Fatalf("read %s on node %d: %q %v %v", key, j, v, ok, err)
			}
		}
	}
	if code, body, _ := call(c.nodes[act].Addr, http.MethodGet, "sys/health", "", ""); code != http.StatusOK || !strings.Contains(body, `"standby":false`) {
		t.Fatalf("active sys/health: %d %s", code, body)
	}
	// Nodes announce themselves every retry interval: poll until all three are listed.
	waitFor(t, 10*time.Second, "sys/ha-status lists three nodes", func() error {
		code, body, err := call(c.nodes[(act+1)%3].Addr, http.MethodGet, "sys/ha-status", c.root, "")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("sys/ha-status: %d %s %v", code, body, err)
		}
		var hs struct {
			Data struct {
				Nodes []struct {
					APIAddress string `json:"api_address"`
					ActiveNode bool   `json:"active_node"`
				} `json:"nodes"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &hs); err != nil || len(hs.Data.Nodes) != 3 {
			return fmt.Errorf("sys/ha-status nodes: %s %v", body, err)
		}
		for _, n := range hs.Data.Nodes {
			if n.ActiveNode != (n.APIAddress == c.nodes[act].Addr) {
				return fmt.Errorf("sys/ha-status marks the wrong node active: %s (active %s)", body, c.nodes[act].Addr)
			}
		}
		return nil
	})

	// sys/step-down through a standby reaches the active node.
	start := time.Now()
	if code, body, err := call(c.nodes[(act+1)%3].Addr, http.MethodPut, "sys/step-down", c.root, ""); err != nil || code != http.StatusNoContent {
		t.Fatalf("sys/step-down: %d %s %v", code, body, err)
	}
	next := c.takeover(act, start, "sys/step-down")
	// Clean shutdown (SIGTERM) releases the lock.
	start = time.Now()
	if err := c.nodes[next].Stop(); err != nil {
		t.Fatalf("stop node %d: %v", next, err)
	}
	c.nodes[next] = nil
	third := c.takeover(next, start, "clean shutdown")
	// SIGKILL: the lease (3s) must run out first.
	start = time.Now()
	c.nodes[third].Kill()
	c.nodes[third] = nil
	c.takeover(third, start, "SIGKILL")
}

// takeover waits until a node other than old is active and accepts a
// write, and logs how long that took since start.
func (c *haCluster) takeover(old int, start time.Time, why string) int {
	c.t.Helper()
	var idx int
	waitFor(c.t, 20*time.Second, "takeover after "+why, func() error {
		var err error
		if idx, err = c.activeNow(); err != nil {
			return err
		}
		if idx == old {
			return fmt.Errorf("node %d still active", old)
		}
		code, body, err := c.write(idx, "takeover", why)
		if err != nil || code != http.StatusNoContent {
			return fmt.Errorf("write on new active node %d: %d %s %v", idx, code, body, err)
		}
		return nil
	})
	c.t.Logf("takeover after %s: node %d active and writing after %s", why, idx, time.Since(start).Round(time.Millisecond))
	return idx
}

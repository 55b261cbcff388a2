package hatest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

const (
	faultTTL     = 3 * time.Second
	faultWriters = 8
	faultKeys    = 16
	// opInterval paces each writer so the history stays small enough for
	// the linearizability check while load runs through every fault.
	opInterval = 20 * time.Millisecond
	opTimeout  = 2 * time.Second
)

// TestHAFaultsLinearizable (acceptance 2): three nodes under 8 concurrent
// writers that talk to any node. The active node is SIGKILLed three times
// (and restarted as a standby), then SIGSTOPped for longer than the lease
// and resumed. Every acknowledged unique write is present afterwards, and
// the whole history (invoke and return times, key, value, result) is
// linearizable as a set of registers (porcupine); a failing history is
// written out as porcupine's HTML visualisation. Takeover times are logged.
func TestHAFaultsLinearizable(t *testing.T) {
	c := startHA(t, 3, faultTTL.String(), "500ms")
	hist := newHistory()
	var acked sync.Map // unique key -> value, acknowledged writes
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range faultWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.writer(ctx, w, hist, &acked)
		}()
	}

	for round := range 3 {
		act := c.active(20 * time.Second)
		start := time.Now()
		c.nodes[act].Kill()
		c.down(act, true)
		c.measureTakeover(act, start, fmt.Sprintf("SIGKILL %d", round+1))
		c.nodes[act].Restart()
		c.unseal(act)
		c.down(act, false)
	}
	act := c.active(20 * time.Second)
	start := time.Now()
	c.nodes[act].Pause()
	c.down(act, true)
	c.measureTakeover(act, start, "SIGSTOP")
	// Stay paused past a whole lease after the takeover, then wake up.
	waitFor(t, 2*faultTTL, "a lease past the takeover", func() error {
		if time.Since(start) < 2*faultTTL {
			return fmt.Errorf("paused for %s", time.Since(start))
		}
		return nil
	})
	c.nodes[act].Resume()
	c.down(act, false)
	waitFor(t, 20*time.Second, "the resumed node to be a standby", func() error {
		v, err := c.leader(act)
		if err != nil {
			return err
		}
		if v.IsSelf {
			return fmt.Errorf("resumed node %d still says it is active", act)
		}
		return nil
	})
	// A little more load on the settled cluster, bounded by op count.
	more := hist.count() + 200
	waitFor(t, 30*time.Second, "load after the faults", func() error {
		if n := hist.count(); n < more {
			return fmt.Errorf("%d operations so far", n)
		}
		return nil
	})
	stop()
	wg.Wait()

	// Final reads from every node join the history.
	final := c.active(20 * time.Second)
	for k := range faultKeys {
		key := fmt.Sprintf("reg%d", k)
		call := hist.now()
		v, ok, err := c.read(final, key)
		if err != nil {
			t.Fatalf("final read %s: %v", key, err)
		}
		if !ok {
			v = ""
		}
		hist.add(faultWriters, kvInput{Key: key}, kvOutput{Value: v}, call, hist.now())
	}
	missing, checked := 0, 0
	acked.Range(func(k, v any) bool {
		key, _ := k.(string)
		want, _ := v.(string)
		got, ok, err := c.read(final, key)
		if err != nil || !ok || got != want {
			missing++
			t.Errorf("acknowledged write %s=%s: got %q present %v err %v", k, v, got, ok, err)
		}
		checked++
		return missing < 10
	})
	t.Logf("%d acknowledged unique writes checked, %d missing", checked, missing)
	c.checkStoredHistory()
	t.Logf("history: %d operations, %d writes with unknown outcome", hist.count(), hist.unknown)
	res, info := porcupine.CheckOperationsVerbose(registerModel, hist.ops, 2*time.Minute)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("vaultrepl-ha-history-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
			t.Errorf("write visualisation: %v", err)
		}
		t.Fatalf("history is not linearizable (result %v): visualisation in %s", res, path)
	}
}

// down marks node i as unreachable (skipped by activeNow) or back.
func (c *haCluster) down(i int, isDown bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.skip == nil {
		c.skip = map[int]bool{}
	}
	c.skip[i] = isDown
}

func (c *haCluster) isDown(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skip[i]
}

// measureTakeover waits until a node other than old is active and takes
// a write, and logs the time since the fault.
func (c *haCluster) measureTakeover(old int, start time.Time, why string) {
	c.t.Helper()
	c.takeover(old, start, why)
}

func (h *history) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// writer runs one client: each operation goes to a random live node, a
// read or a write of a register, and every fourth write also a unique key.
func (c *haCluster) writer(ctx context.Context, id int, hist *history, acked *sync.Map) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano()))) //nolint:gosec // test load
	tick := time.NewTicker(opInterval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		node := rng.IntN(len(c.nodes))
		if c.isDown(node) {
			node = (node + 1) % len(c.nodes)
		}
		addr := c.nodes[node].Addr
		key := fmt.Sprintf("reg%d", rng.IntN(faultKeys))
		switch {
		case seq%4 == 3:
			ukey := fmt.Sprintf("unique/%d/%d", id, seq)
			if code, _, err := opCall(addr, http.MethodPut, "secret/"+ukey, c.root, `{"value":"u"}`); err == nil && code == http.StatusNoContent {
				acked.Store(ukey, "u")
			}
		case rng.IntN(2) == 0:
			value := fmt.Sprintf("w%d-%d", id, seq)
			in := kvInput{Write: true, Key: key, Value: value}
			call := hist.now()
			code, body, err := opCall(addr, http.MethodPut, "secret/"+key, c.root, fmt.Sprintf(`{"value":%q}`, value))
			switch {
			case err == nil && code == http.StatusNoContent:
				hist.add(id, in, kvOutput{}, call, hist.now())
			case definitelyFailed(code, body, err):
				// nothing was written: not part of the history
			default:
				hist.addUnknown(id, in, call)
			}
		default:
			call := hist.now()
			code, body, err := opCall(addr, http.MethodGet, "secret/"+key, c.root, "")
			if err != nil {
				continue // a failed read has no effect
			}
			switch code {
			case http.StatusOK:
				hist.add(id, kvInput{Key: key}, kvOutput{Value: valueOf(body)}, call, hist.now())
			case http.StatusNotFound:
				hist.add(id, kvInput{Key: key}, kvOutput{}, call, hist.now())
			}
		}
	}
}

// definitelyFailed: answers that say nothing was written, or a request
// that never reached a server (connection refused).
func definitelyFailed(code int, body string, err error) bool {
	if err != nil {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	if code >= 400 && code < 500 {
		return true
	}
	for _, s := range []string{"nothing was written", "no active node", "was not forwarded", "already forwarded", "Vault is sealed"} {
		if strings.Contains(body, s) {
			return true
		}
	}
	return false
}

func valueOf(body string) string {
	const marker = `"value":"`
	i := strings.Index(body, marker)
	if i < 0 {
		return ""
	}
	rest := body[i+len(marker):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

var opClient = &http.Client{Timeout: opTimeout}

// opCall is call with the writers' shorter timeout.
func opCall(addr, method, path, token, body string) (int, string, error) {
	return callWith(opClient, addr, method, path, token, body)
}

// checkStoredHistory opens the cluster's tables directly (the servers
// still run, as standbys' readers would) and checks what fencing protects
// beyond the registers' values: the WAL is gap-free up to the stored
// position (two nodes never numbered entries from stale positions) and
// every merkle bucket matches the data (no stale node overwrote a bucket).
func (c *haCluster) checkStoredHistory() {
	c.t.Helper()
	ctx := context.Background()
	s, err := storage.OpenPostgres(ctx, storage.PostgresConfig{ConnURL: c.pg.URL, TablePrefix: c.pg.TablePrefix}, storage.Options{})
	if err != nil {
		c.t.Fatalf("open the cluster's tables: %v", err)
	}
	defer func() { _ = s.Close() }()
	last := s.Position().LastWAL
	oldest, err := s.OldestWAL(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	next := oldest
	for next <= last && next > 0 {
		batch, err := s.WALSince(ctx, next-1, 1000)
		if err != nil {
			c.t.Fatal(err)
		}
		if len(batch) == 0 {
			c.t.Fatalf("WAL ends at %d, position says %d", next-1, last)
		}
		for _, e := range batch {
			if e.Index != next {
				c.t.Fatalf("WAL gap: entry %d follows %d", e.Index, next-1)
			}
			next++
		}
	}
	wrong, err := s.Reindex(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	if wrong != 0 {
		c.t.Fatalf("%d merkle buckets did not match the data", wrong)
	}
	c.t.Logf("stored history: WAL %d..%d gap-free, merkle index matches the data", oldest, last)
}

package drtest

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// setupPair makes a primary with one converged secondary.
func setupPair(t *testing.T, primaryClusterAddr string) (a, b *cluster) {
	t.Helper()
	a, b = startCluster(t, "A"), startCluster(t, "B")
	pairUp(t, a, b, primaryClusterAddr)
	return a, b
}

// pairUp makes a the primary (advertising primaryClusterAddr, if set) and
// b its converged secondary.
func pairUp(t *testing.T, a, b *cluster, primaryClusterAddr string) {
	t.Helper()
	body := map[string]any{}
	if primaryClusterAddr != "" {
		body["primary_cluster_addr"] = primaryClusterAddr
	}
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", body); err != nil {
		t.Fatalf("enable primary: %v", err)
	}
	token := a.secondaryToken(a.root, "b", nil)
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatalf("enable secondary: %v", err)
	}
	waitInSync(t, a, b)
}

// storedKeys lists the load's keys straight from a stopped cluster's
// database (file or PostgreSQL), so the check does not depend on the API.
func storedKeys(t *testing.T, c *cluster) []string {
	t.Helper()
	var s *storage.Store
	var err error
	if pg := c.srv.Postgres; pg != nil {
		s, err = storage.OpenPostgres(context.Background(), storage.PostgresConfig{ConnURL: pg.URL, TablePrefix: pg.TablePrefix}, storage.Options{})
	} else {
		s, err = storage.Open(context.Background(), c.srv.DB, storage.Options{})
	}
	if err != nil {
		t.Fatalf("open %s database: %v", c.name, err)
	}
	defer func() { _ = s.Close() }()
	keys, err := s.List(context.Background(), "logical/secret/load/")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func countLines(s, substr string) int { return strings.Count(s, substr) }

// TestKillSecondaryDuringLoad: a secondary SIGKILLed five times under a
// concurrent write load resumes from its own WAL index each time (no new
// merkle sync) and converges with nothing lost or invented.
func TestKillSecondaryDuringLoad(t *testing.T) {
	a, b := setupPair(t, "")
	l := startLoad(t, 8, 2000, func() (string, string) { return a.srv.Addr, a.root })
	for i := range 5 {
		l.waitAcked(40)
		b.srv.Kill()
		l.waitAcked(40) // the primary keeps writing while the secondary is down
		b.srv.Restart()
		b.unseal(a.keys) // a secondary unseals with its primary's shares
		eventually(t, "restarted secondary streams again", 30*time.Second, func() (bool, string) {
			s := b.status()
			return s.State == "stream-wals", "state " + s.State
		})
		t.Logf("kill %d: %d writes acknowledged so far", i+1, l.ackedCount())
	}
	l.stop()
	waitInSync(t, a, b)
	if n := countLines(a.srv.Output(), "secondary needs a merkle sync"); n != 1 {
		t.Fatalf("primary ran %d merkle syncs for b, want only the first one (resume must stream from b's index)", n)
	}
	attempted, acked := l.snapshot()
	a.srv.Kill()
	b.srv.Kill()
	checkKeys(t, "primary", storedKeys(t, a), attempted, acked)
	checkKeys(t, "secondary", storedKeys(t, b), attempted, acked)
}

// TestKillPrimaryDuringLoad: every write the primary acknowledged survives
// its SIGKILL, and the secondary converges after the restart.
func TestKillPrimaryDuringLoad(t *testing.T) {
	a, b := setupPair(t, "")
	l := startLoad(t, 8, 2000, func() (string, string) { return a.srv.Addr, a.root })
	l.waitAcked(150)
	a.srv.Kill()
	a.srv.Restart()
	a.unseal(a.keys)
	l.waitAcked(150)
	l.stop()
	waitInSync(t, a, b)
	attempted, acked := l.snapshot()
	a.srv.Kill()
	b.srv.Kill()
	checkKeys(t, "primary", storedKeys(t, a), attempted, acked)
	checkKeys(t, "secondary", storedKeys(t, b), attempted, acked)
}

// proxy forwards TCP to a target and can cut every connection.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.up {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}

// TestStreamCutAndRestore: a cut stream shows in both sides' status, the
// secondary retries with backoff, and after the link returns it resumes
// from its index and converges.
func TestStreamCutAndRestore(t *testing.T) {
	// The secondary dials the primary through a proxy the test controls.
	a := startCluster(t, "A")
	px := startProxy(t, a.srv.Cluster)
	b := startCluster(t, "B")
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{"primary_cluster_addr": px.ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	token := a.secondaryToken(a.root, "b", nil)
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, a, b)
	l := startLoad(t, 4, 2000, func() (string, string) { return a.srv.Addr, a.root })
	l.waitAcked(50)

	px.cut()
	eventually(t, "secondary notices the cut", 15*time.Second, func() (bool, string) {
		s := b.status()
		ok := s.State != "stream-wals" && len(s.Primaries) == 1 && s.Primaries[0].ConnectionStatus == "disconnected"
		return ok, "state " + s.State
	})
	eventually(t, "primary notices the cut", 15*time.Second, func() (bool, string) {
		p := a.status()
		ok := len(p.Secondaries) == 1 && p.Secondaries[0].ConnectionStatus == "disconnected"
		return ok, formatInfo(p.Secondaries)
	})
	l.waitAcked(50) // writes go on while the link is down
	if p, s := a.status(), b.status(); s.LastRemoteWAL >= p.LastWAL {
		t.Fatalf("secondary at %d is not behind the primary at %d during the cut", s.LastRemoteWAL, p.LastWAL)
	}

	px.restore()
	l.stop()
	waitInSync(t, a, b)
	if n := countLines(a.srv.Output(), "secondary needs a merkle sync"); n != 1 {
		t.Fatalf("%d merkle syncs, want only the first: the secondary must resume from its index", n)
	}
	eventually(t, "primary sees b connected again", 15*time.Second, func() (bool, string) {
		p := a.status()
		return len(p.Secondaries) == 1 && p.Secondaries[0].ConnectionStatus == "connected", formatInfo(p.Secondaries)
	})
}

// TestPromoteDuringLoad: the secondary is promoted while the old primary
// still takes writes; the old primary is demoted and re-pointed. Roles swap
// and the data converges: everything acknowledged before the promotion and
// everything the new primary acknowledged is there; writes the old primary
// took after the promotion are the documented loss window.
func TestPromoteDuringLoad(t *testing.T) {
	a, b := setupPair(t, "")
	var mu sync.Mutex
	target := a
	l := startLoad(t, 6, 3000, func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return target.srv.Addr, a.root
	})
	l.waitAcked(100)
	// Everything acknowledged up to here must survive: wait until b has it.
	_, ackedBefore := l.snapshot()
	posA := a.status().LastWAL
	eventually(t, "b applies what A acknowledged", 30*time.Second, func() (bool, string) {
		s := b.status()
		return s.LastRemoteWAL >= posA, "b at " + itoa(s.LastRemoteWAL)
	})
	opToken := b.drOperationToken(a.keys)
	if _, err := b.client("").Logical().Write("sys/replication/dr/secondary/promote", map[string]any{"dr_operation_token": opToken, "force": true}); err != nil {
		t.Fatalf("promote during load: %v", err)
	}
	mu.Lock()
	target = b
	mu.Unlock()
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/demote", map[string]any{}); err != nil {
		t.Fatalf("demote: %v", err)
	}
	l.waitAcked(100) // the new primary takes the load
	token := b.secondaryToken(a.root, "a", nil)
	opA := a.drOperationToken(a.keys)
	if _, err := a.client("").Logical().Write("sys/replication/dr/secondary/update-primary", map[string]any{"token": token, "dr_operation_token": opA}); err != nil {
		t.Fatalf("update-primary: %v", err)
	}
	l.waitAcked(50)
	l.stop()
	waitInSync(t, b, a)
	if sa, sb := a.status(), b.status(); sa.Mode != "secondary" || sb.Mode != "primary" {
		t.Fatalf("roles: A %s, B %s", sa.Mode, sb.Mode)
	}
	attempted, acked := l.snapshot()
	a.srv.Kill()
	b.srv.Kill()
	keysA, keysB := storedKeys(t, a), storedKeys(t, b)
	if strings.Join(keysA, ",") != strings.Join(keysB, ",") {
		t.Fatalf("after convergence A has %d keys and B %d", len(keysA), len(keysB))
	}
	// Must hold: acknowledged before promotion, and whatever B acknowledged.
	must := map[string]bool{}
	for k := range ackedBefore {
		must[k] = true
	}
	have := map[string]bool{}
	for _, k := range keysB {
		have[k] = true
	}
	for k := range acked {
		if !have[k] && must[k] {
			t.Fatalf("write %q acknowledged before the promotion is lost", k)
		}
	}
	checkKeys(t, "converged", keysB, attempted, map[string]bool{})
	t.Logf("%d writes acknowledged in all, %d kept; %d acknowledged only by the old primary after the promotion point were discarded by design",
		len(acked), len(keysB), countMissing(acked, have))
}

func countMissing(acked, have map[string]bool) int {
	n := 0
	for k := range acked {
		if !have[k] {
			n++
		}
	}
	return n
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

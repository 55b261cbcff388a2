package drtest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestHeartbeatRoundTripExcludesInterval runs a DR pair whose heartbeats
// come every 2 seconds. The round trip each side reports must be a loopback
// round trip (far below the interval), not the time a heartbeat waited for a
// timer, and both sides must report a clock skew of about zero (they share
// this host's clock) — the secondary's too, which was never set before.
// With echoes sent on the secondary's own timer, the primary's figure was
// spread over the whole interval.
func TestHeartbeatRoundTripExcludesInterval(t *testing.T) {
	const interval = 2 * time.Second
	const bound = interval / 4 // far above a loopback round trip, far below the interval
	start := func(name string) *cluster {
		srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-heartbeat-interval", interval.String()}})
		return initCluster(t, name, srv)
	}
	a, b := start("A"), start("B")
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	token := a.secondaryToken(a.root, "b", nil)
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, a, b)

	// Three successive heartbeats as the primary records them, each with
	// the secondary's view at the same time.
	var seen []string
	for len(seen) < 3 {
		var p, s vaultapi.ClusterInfo
		eventually(t, fmt.Sprintf("heartbeat %d after %v", len(seen)+1, seen), 4*interval, func() (bool, string) {
			ps, ss := a.status(), b.status()
			if len(ps.Secondaries) != 1 || len(ss.Primaries) != 1 {
				return false, formatInfo(ps.Secondaries)
			}
			p, s = ps.Secondaries[0], ss.Primaries[0]
			fresh := p.LastHeartBeatDurationMillis != "" && s.ClockSkewMillis != "" &&
				(len(seen) == 0 || p.LastHeartBeat != seen[len(seen)-1])
			return fresh, formatInfo(ps.Secondaries) + formatInfo(ss.Primaries)
		})
		seen = append(seen, p.LastHeartBeat)
		for what, v := range map[string]string{
			"primary's round trip":   p.LastHeartBeatDurationMillis,
			"secondary's round trip": s.LastHeartBeatDurationMillis,
			"primary's clock skew":   p.ClockSkewMillis,
			"secondary's clock skew": s.ClockSkewMillis,
		} {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s = %q, not a number of milliseconds", what, v)
			}
			if d := time.Duration(n) * time.Millisecond; d < -bound || d > bound {
				t.Errorf("heartbeat %d: %s = %v, want within %v (the interval is %v)", len(seen), what, d, bound, interval)
			}
		}
	}
}

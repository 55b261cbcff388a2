package replication

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestRoundTripFromStamps: the round trip leaves out the peer's holding time
// and the skew follows the peer's clock, whatever they are.
func TestRoundTripFromStamps(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	for _, tt := range []struct {
		name                 string
		out, hold, back, off int64 // ms: leg there, peer's holding, leg back, peer clock - ours
		wantRTT, wantSkew    time.Duration
	}{
		{"same clock, no holding", 2, 0, 2, 0, 4 * time.Millisecond, 0},
		{"held a whole interval", 2, 5000, 2, 0, 4 * time.Millisecond, 0},
		{"peer 3s ahead", 1, 700, 1, 3000, 2 * time.Millisecond, 3 * time.Second},
		{"peer 250ms behind, slow link", 40, 10, 40, -250, 80 * time.Millisecond, -250 * time.Millisecond},
		// Unequal legs put half the difference into the skew: the bound NTP has.
		{"unequal legs", 10, 0, 2, 0, 12 * time.Millisecond, 4 * time.Millisecond},
	} {
		t0 := ms(1_000_000)
		t1 := t0 + ms(tt.out) + ms(tt.off)
		t2 := t1 + ms(tt.hold)
		t3 := t2 - ms(tt.off) + ms(tt.back)
		rtt, skew := roundTrip(t0, t1, t2, t3)
		if rtt != tt.wantRTT || skew != tt.wantSkew {
			t.Errorf("%s: roundTrip = %v, %v; want %v, %v", tt.name, rtt, skew, tt.wantRTT, tt.wantSkew)
		}
	}
}

// heartbeatManager is a Manager on a fresh store whose clock runs offset
// from the real one, as a peer's clock would.
func heartbeatManager(t *testing.T, offset time.Duration) *Manager {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(ctx, s, nil, Options{HeartbeatInterval: time.Hour, Now: func() time.Time { return time.Now().Add(offset) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		_ = s.Close()
	})
	return m
}

// TestHeartbeatBothSidesMeasure runs one echo and one heartbeat between a
// primary's real handler and a secondary's real sender over loopback HTTP,
// with the secondary's clock 3s behind and the echo held back for 300ms on
// the secondary (as a timer would hold it): both sides' round trips leave the
// holding out, and both sides' skews are the real offset, measured from
// their own timestamps. The heartbeat interval is an hour, so nothing here
// comes from a timer.
func TestHeartbeatBothSidesMeasure(t *testing.T) {
	const offset = -3 * time.Second // the secondary's clock minus the primary's
	const hold = 300 * time.Millisecond
	primary, secondary := heartbeatManager(t, 0), heartbeatManager(t, offset)
	prt := &primaryRuntime{live: map[string]*liveSecondary{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		primary.serveHeartbeat(w, r, "s1", prt)
	}))
	t.Cleanup(srv.Close)
	c := &peerClient{http: srv.Client(), base: srv.URL, idle: time.Minute, metrics: newMetrics()}
	srt := &secondaryRuntime{}

	// The primary stamps a heartbeat frame; the secondary receives it now
	// and echoes it after holding it.
	frameSent := primary.now().UnixNano()
	e := echoStamp{sent: frameSent, recv: secondary.now().UnixNano()}
	time.Sleep(hold) // the holding being left out, not synchronisation
	secondary.postHeartbeat(context.Background(), srt, c, e)

	prt.mu.Lock()
	ls := prt.live["s1"]
	prt.mu.Unlock()
	if ls == nil || ls.lastHeartbeat.IsZero() {
		t.Fatal("the primary recorded no heartbeat")
	}
	srt.mu.Lock()
	sRTT, sSkew := srt.rtt, srt.skew
	srt.mu.Unlock()
	t.Logf("primary: rtt %v skew %v; secondary: rtt %v skew %v", ls.rtt, ls.skew, sRTT, sSkew)

	// A round trip on loopback is far below the holding time; with the
	// holding counted it would be over it.
	for side, rtt := range map[string]time.Duration{"primary": ls.rtt, "secondary": sRTT} {
		if rtt <= 0 || rtt >= hold {
			t.Errorf("%s round trip %v: want > 0 and below the %v the echo was held", side, rtt, hold)
		}
	}
	// Each skew is within its own round trip of the real offset (the NTP
	// bound); the secondary sees the primary's clock, the other way round.
	for side, got := range map[string]struct{ skew, want, rtt time.Duration }{
		"primary":   {ls.skew, offset, ls.rtt},
		"secondary": {sSkew, -offset, sRTT},
	} {
		if d := got.skew - got.want; d > got.rtt || d < -got.rtt {
			t.Errorf("%s skew %v, want %v within the round trip %v", side, got.skew, got.want, got.rtt)
		}
	}
}

// TestOfferEchoNeverBlocks: the stream reader hands over heartbeat frames
// without waiting, the newest replacing one not yet echoed.
func TestOfferEchoNeverBlocks(t *testing.T) {
	ch := make(chan echoStamp, 1)
	for i := int64(1); i <= 3; i++ {
		offerEcho(ch, echoStamp{sent: i, recv: i})
	}
	if e := <-ch; e.sent != 3 {
		t.Fatalf("queued echo of frame %d, want the newest (3)", e.sent)
	}
}

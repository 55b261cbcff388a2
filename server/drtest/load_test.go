package drtest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load writes distinct KV secrets from several clients until stopped and
// remembers which writes were attempted and which were acknowledged (204).
type load struct {
	t         *testing.T
	mu        sync.Mutex
	attempted map[string]bool
	acked     map[string]bool
	times     map[string]writeTimes       // when each write was sent and acknowledged, and where
	target    func() (addr, token string) // where writes go; may change mid-load
	cancel    context.CancelFunc
	stopping  atomic.Bool // writers finish the request in flight, then stop
	wg        sync.WaitGroup
}

// startLoad starts writers of KV v1 secrets (secret/load/<key>) against
// target. Each writer stops after maxPerWriter writes, on Stop, or after a
// minute.
func startLoad(t *testing.T, writers, maxPerWriter int, target func() (string, string)) *load {
	return startLoadAt(t, writers, maxPerWriter, target, "")
}

// startLoadAt is startLoad writing to the KV v2 mount kv2 when it is set
// (<kv2>/data/load/<key>, acknowledged with 200): each landing of a write
// is a version there, so one that landed twice shows.
func startLoadAt(t *testing.T, writers, maxPerWriter int, target func() (string, string), kv2 string) *load {
	l := &load{t: t, attempted: map[string]bool{}, acked: map[string]bool{}, times: map[string]writeTimes{}, target: target}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	l.cancel = cancel
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; i < maxPerWriter && ctx.Err() == nil && !l.stopping.Load(); i++ {
				key := fmt.Sprintf("w%02d-i%05d", w, i)
				addr, token := l.target()
				l.mu.Lock()
				l.attempted[key] = true
				l.mu.Unlock()
				url, body, okCode := addr+"/v1/secret/load/"+key, `{"v":"`+key+`"}`, http.StatusNoContent
				if kv2 != "" {
					url, body, okCode = addr+"/v1/"+kv2+"/data/load/"+key, `{"data":{"v":"`+key+`"}}`, http.StatusOK
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
				req.Header.Set("X-Vault-Token", token)
				sent := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					// The server may be down (a fault under test): retry later.
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				_ = resp.Body.Close()
				if resp.StatusCode == okCode {
					acked := time.Now()
					l.mu.Lock()
					l.acked[key] = true
					l.times[key] = writeTimes{addr: addr, sent: sent, acked: acked}
					l.mu.Unlock()
				} else {
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}()
	}
	return l
}

func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcked waits until at least n more writes than before were acknowledged.
func (l *load) waitAcked(n int) {
	l.t.Helper()
	start := l.ackedCount()
	eventually(l.t, fmt.Sprintf("%d more acknowledged writes", n), 30*time.Second, func() (bool, string) {
		got := l.ackedCount() - start
		return got >= n, fmt.Sprintf("%d", got)
	})
}

// stop ends the load and waits for the writers. Requests in flight finish
// first: a request abandoned by its client may still commit on the server,
// after the test has moved on.
func (l *load) stop() {
	l.stopping.Store(true)
	l.wg.Wait()
	l.cancel()
}

// writeTimes is one acknowledged write: where it went, when it was sent
// and when its acknowledgement arrived.
type writeTimes struct {
	addr        string
	sent, acked time.Time
}

// timings copies the acknowledged writes' times.
func (l *load) timings() map[string]writeTimes {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]writeTimes, len(l.times))
	for k, v := range l.times {
		out[k] = v
	}
	return out
}

// snapshot copies the attempted and acknowledged sets.
func (l *load) snapshot() (attempted, acked map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	attempted, acked = map[string]bool{}, map[string]bool{}
	for k := range l.attempted {
		attempted[k] = true
	}
	for k := range l.acked {
		acked[k] = true
	}
	return attempted, acked
}

// checkKeys asserts that keys holds every acknowledged write and nothing
// that was never attempted.
func checkKeys(t *testing.T, where string, keys []string, attempted, acked map[string]bool) {
	t.Helper()
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
		if !attempted[k] {
			t.Errorf("%s: phantom key %q that no client wrote", where, k)
		}
	}
	lost := 0
	for k := range acked {
		if !have[k] {
			lost++
			if lost <= 5 {
				t.Errorf("%s: acknowledged write %q is missing", where, k)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%s: %d of %d acknowledged writes lost", where, lost, len(acked))
	}
}

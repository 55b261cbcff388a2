package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ack is one acknowledged write of the ledger.
type ack struct {
	Key    string    `json:"key"`
	Target string    `json:"target"` // cluster name that acknowledged it
	Sent   time.Time `json:"sent"`
	Acked  time.Time `json:"acked"`
}

// load writes distinct KV secrets from several writers to whichever
// cluster is the target, and keeps a ledger of every acknowledgement.
type load struct {
	mu     sync.Mutex
	ledger []ack
	target atomic.Pointer[cluster]
	acked  atomic.Int64
	failed atomic.Int64
	stopCh chan struct{}
	wg     sync.WaitGroup
}

const loadPrefix = "secret/drill/"

// startLoad starts writers; each stops after maxPerWriter writes, on stop,
// or when ctx ends.
func startLoad(ctx context.Context, writers, maxPerWriter int, first *cluster) *load {
	l := &load{stopCh: make(chan struct{})}
	l.target.Store(first)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; i < maxPerWriter; i++ {
				select {
				case <-l.stopCh:
					return
				case <-ctx.Done():
					return
				default:
				}
				c := l.target.Load()
				key := fmt.Sprintf("w%02d-%06d", w, i)
				if !l.write(ctx, client, c, key) {
					l.failed.Add(1)
					select { // the target is down: try again shortly
					case <-time.After(10 * time.Millisecond):
					case <-l.stopCh:
						return
					}
				}
			}
		}()
	}
	return l
}

func (l *load) write(ctx context.Context, client *http.Client, c *cluster, key string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.addr+"/v1/"+loadPrefix+key, strings.NewReader(`{"v":"`+key+`"}`))
	if err != nil {
		return false
	}
	req.Header.Set("X-Vault-Token", "root")
	sent := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return false
	}
	a := ack{Key: key, Target: c.name, Sent: sent, Acked: time.Now()}
	l.mu.Lock()
	l.ledger = append(l.ledger, a)
	l.mu.Unlock()
	l.acked.Add(1)
	return true
}

// stop ends the load; requests in flight finish first.
func (l *load) stop() {
	select {
	case <-l.stopCh:
	default:
		close(l.stopCh)
	}
	l.wg.Wait()
}

// acks copies the ledger.
func (l *load) acks() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.ledger...)
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// readSpec describes one read load of the keys loadKeys wrote
// (secret/boot/<c>/<i>).
type readSpec struct {
	apiAddr, token string
	keys           int // how many loadKeys wrote
	clients        int
	duration       time.Duration
	pid, peerPid   int // server processes whose CPU is measured; 0 = none
	label          string
}

// readLoad is what one read load produced.
type readLoad struct {
	elapsed            time.Duration
	latencies          []time.Duration // of 200 answers
	errors             int
	serverCPU, peerCPU time.Duration
}

// runReads has s.clients goroutines of this process GET the preloaded keys
// flat out for s.duration, each cycling through the keys of its own slice
// (loadKeys' client c wrote key i to boot/<c%clients'>/<i/clients'>).
func runReads(ctx context.Context, o options, s readSpec) (readLoad, error) {
	stats := make([]workerStats, s.clients)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var deadline time.Time // written before start is closed
	for c := range s.clients {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			r := newKVReader(s.apiAddr, s.token)
			defer r.close()
			st := &stats[c]
			if _, msg := r.get(ctx, bootKey(c%s.keys)); msg != "" {
				st.fail("warm-up: " + msg)
			}
			ready.Done()
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
			// Client c reads keys c, c+clients, ... so the clients spread
			// over the whole keyspace.
			for k := c; time.Now().Before(deadline); k += s.clients {
				lat, msg := r.get(ctx, bootKey(k%s.keys))
				if ctx.Err() != nil {
					return
				}
				if msg != "" {
					st.fail(msg)
					continue
				}
				st.latencies = append(st.latencies, lat)
			}
		}()
	}
	ready.Wait()
	var cpu, peer *cpuMeter
	if s.pid != 0 {
		cpu = startCPU(s.pid)
	}
	if s.peerPid != 0 {
		peer = startCPU(s.peerPid)
	}
	begin := time.Now()
	deadline = begin.Add(s.duration)
	close(start)
	done.Wait()
	res := readLoad{elapsed: time.Since(begin)}
	var err error
	if cpu != nil {
		if res.serverCPU, err = cpu.used(); err != nil {
			return res, err
		}
	}
	if peer != nil {
		if res.peerCPU, err = peer.used(); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	for c := range stats {
		res.latencies = append(res.latencies, stats[c].latencies...)
		res.errors += stats[c].errors
		for _, msg := range stats[c].samples {
			_, _ = fmt.Fprintf(o.stderr, "vaultrepl-bench: %s, client %d: %s\n", s.label, c, msg)
		}
	}
	return res, nil
}

// kvReader is one reading client with its own connection.
type kvReader struct {
	client *http.Client
	tr     *http.Transport
	base   string // apiAddr/v1/secret/
	token  string
}

func newKVReader(apiAddr, token string) *kvReader {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &kvReader{client: &http.Client{Transport: tr}, tr: tr, base: apiAddr + "/v1/secret/", token: token}
}

// get reads secret/<key> and returns its latency, or a failure message for
// anything but a 200 holding the value.
func (r *kvReader) get(ctx context.Context, key string) (time.Duration, string) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+key, nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("X-Vault-Token", r.token)
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	b, rErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	lat := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return 0, "status " + strconv.Itoa(resp.StatusCode) + ": " + strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	if rErr != nil {
		return 0, "read response: " + rErr.Error()
	}
	if !strings.Contains(string(b), `"value"`) {
		return 0, "200 without the value: " + string(b[:min(len(b), 200)])
	}
	return lat, ""
}

func (r *kvReader) close() { r.tr.CloseIdleConnections() }

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/config"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/node"
)

// kvWriteResult is one KV write throughput measurement.
type kvWriteResult struct {
	Sync       string  `json:"sync"`
	Clients    int     `json:"clients"`
	Writes     int     `json:"writes"`
	WritesPerS float64 `json:"writes_per_s"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	Errors     int     `json:"errors"`
	// RatioToRaw is WritesPerS over the raw single-row rate of the same sync
	// mode: above 1 means group commit beats one transaction per write.
	RatioToRaw float64 `json:"ratio_to_raw"`
}

const (
	// headlineClients and headlineTarget define the headline: 16 concurrent
	// clients on FULL sync should commit at least twice as many writes per
	// second as sequential single-row transactions can.
	headlineClients = 16
	headlineTarget  = 2.0

	// requestTimeout bounds one PUT so a stuck server cannot hang the run.
	requestTimeout = 30 * time.Second
	// shutdownTimeout bounds draining a node after a measurement.
	shutdownTimeout = 10 * time.Second
	// maxErrorSamples is how many distinct failure messages are printed per
	// measurement; the count in the table is exact.
	maxErrorSamples = 3
)

// clientCounts are the concurrency levels measured per sync mode.
func clientCounts() []int { return []int{1, headlineClients} }

// kvWriteSection measures PUT /v1/secret/... end to end: HTTP, token and ACL
// checks, the existence read and the group-committed SQLite write.
func kvWriteSection() section {
	return section{
		id:   "kvwrite",
		name: "KV write throughput over HTTP",
		run: func(ctx context.Context, o options, r *report) (int, error) {
			failures := 0
			for _, mode := range syncModes() {
				for _, clients := range clientCounts() {
					res, err := measureKVWrite(ctx, o, mode, clients)
					if err != nil {
						return failures, fmt.Errorf("sync %s, %d clients: %w", mode, clients, err)
					}
					failures += res.Errors
					r.KVWrite = append(r.KVWrite, res)
				}
			}
			addRatios(r)
			return failures, nil
		},
		table: func(w io.Writer, r *report) {
			_, _ = fmt.Fprintln(w, "sync\tclients\twrites/s\tp50 ms\tp99 ms\terrors\tx raw\t")
			for _, res := range r.KVWrite {
				_, _ = fmt.Fprintf(w, "%s\t%d\t%.0f\t%.2f\t%.2f\t%d\t%.2f\t\n",
					res.Sync, res.Clients, res.WritesPerS, res.P50MS, res.P99MS, res.Errors, res.RatioToRaw)
			}
		},
	}
}

// addRatios divides every KV row by the raw rate of its sync mode and sets
// the headline. Rows without a raw rate (raw not run) keep ratio 0 and set
// no headline, rather than a misleading 0x.
func addRatios(r *report) {
	raw := map[string]float64{}
	for _, res := range r.RawSQLite {
		raw[res.Sync] = res.RowsPerS
	}
	for i := range r.KVWrite {
		row := &r.KVWrite[i]
		if base := raw[row.Sync]; base > 0 {
			row.RatioToRaw = row.WritesPerS / base
		}
		if row.Sync == "full" && row.Clients == headlineClients && row.RatioToRaw > 0 {
			r.Headline = &headline{
				Name:   fmt.Sprintf("kv_write %d clients FULL / raw SQLite FULL single-row rate", headlineClients),
				Ratio:  row.RatioToRaw,
				Target: headlineTarget,
			}
		}
	}
}

// workerStats is one client's tally. Each worker owns its own, so the hot
// loop shares nothing; they are merged after the run.
type workerStats struct {
	latencies []time.Duration // of 204 answers only
	errors    int
	samples   []string
}

func (s *workerStats) fail(msg string) {
	s.errors++
	if len(s.samples) < maxErrorSamples && !slices.Contains(s.samples, msg) {
		s.samples = append(s.samples, msg)
	}
}

// measureKVWrite starts a fresh dev node on a fresh database and has clients
// goroutines PUT secrets for o.duration.
func measureKVWrite(ctx context.Context, o options, mode string, clients int) (kvWriteResult, error) {
	return measureKVWriteOn(ctx, o, mode, clients, nil)
}

// measureKVWriteOn is measureKVWrite on PostgreSQL when pg is set (a fresh
// database), on a SQLite file otherwise.
func measureKVWriteOn(ctx context.Context, o options, mode string, clients int, pg *config.Postgres) (res kvWriteResult, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-kv-")
	if err != nil {
		return res, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rmErr)
		}
	}()

	cfg := config.Config{
		ListenAddress:        "127.0.0.1:0",
		ClusterListenAddress: "127.0.0.1:0",
		// With port 0 the node replaces these with the real ports, but only
		// when they are derived from the listen addresses exactly like this.
		APIAddr:     "http://127.0.0.1:0",
		ClusterAddr: "https://127.0.0.1:0",
		DBPath:      filepath.Join(dir, "cluster.db"),
		Sync:        mode,
		// Dev initialises and unseals; an empty DevRootTokenID makes the node
		// generate the root token, read back from n.DevRootToken.
		Dev:               true,
		LogLevel:          slog.LevelWarn, // problems only; per-request logs would cost throughput
		LogFormat:         "text",
		HeartbeatInterval: time.Second,
	}
	if pg != nil {
		cfg.Postgres, cfg.DBPath = pg, ""
	}
	log := slog.New(slog.NewTextHandler(o.stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	n, err := node.Start(ctx, cfg, log)
	if err != nil {
		return res, fmt.Errorf("start node: %w", err)
	}
	defer func() {
		// The run's ctx may already be cancelled (interrupt); draining the
		// node must still happen, bounded by its own timeout.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if sErr := n.Shutdown(sctx); sErr != nil && err == nil {
			err = fmt.Errorf("shut down node: %w", sErr)
		}
	}()

	stats := make([]workerStats, clients)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var deadline time.Time // written before start is closed, read after
	for c := range clients {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			w := newKVWriter(n.APIAddr(), n.DevRootToken, c)
			defer w.close()
			st := &stats[c]
			// A warm-up write opens the keep-alive connection and fails fast
			// on a wrong token or route, outside the measured window.
			if _, msg := w.put(ctx, "warmup"); msg != "" {
				st.fail("warm-up: " + msg)
			}
			ready.Done()
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
			for i := 0; time.Now().Before(deadline); i++ {
				lat, msg := w.put(ctx, strconv.Itoa(i))
				if ctx.Err() != nil {
					return // interrupted: neither a write nor an error
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
	begin := time.Now()
	deadline = begin.Add(o.duration)
	close(start)
	done.Wait()
	// Throughput is over the real elapsed time, which includes the requests
	// still in flight when the deadline passed.
	elapsed := time.Since(begin)
	if err := ctx.Err(); err != nil {
		return res, err
	}

	var all []time.Duration
	res = kvWriteResult{Sync: mode, Clients: clients}
	for c := range stats {
		all = append(all, stats[c].latencies...)
		res.Errors += stats[c].errors
		for _, msg := range stats[c].samples {
			_, _ = fmt.Fprintf(o.stderr, "vaultrepl-bench: sync %s, %d clients, client %d: %s\n", mode, clients, c, msg)
		}
	}
	res.Writes = len(all)
	res.WritesPerS = float64(res.Writes) / elapsed.Seconds()
	res.P50MS = ms(percentile(all, 50))
	res.P99MS = ms(percentile(all, 99))
	return res, nil
}

// kvWriter is one client: its own connection pool, so clients do not share
// (or serialise on) one keep-alive connection.
type kvWriter struct {
	client *http.Client
	tr     *http.Transport
	prefix string // URL up to and including bench/<client>/
	token  string
	body   []byte
}

func newKVWriter(apiAddr, token string, client int) *kvWriter {
	tr := &http.Transport{
		Proxy:               nil, // loopback only; an HTTP_PROXY must not be in the path
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	// About 100 bytes of JSON, a typical small secret.
	body := []byte(`{"value":"` + strings.Repeat("x", 88) + `"}`)
	return &kvWriter{
		client: &http.Client{Transport: tr},
		tr:     tr,
		prefix: apiAddr + "/v1/secret/bench/" + strconv.Itoa(client) + "/",
		token:  token,
		body:   body,
	}
}

// put writes one secret and returns its latency, or a failure message for
// anything but 204.
func (w *kvWriter) put(ctx context.Context, key string) (time.Duration, string) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, w.prefix+key, bytes.NewReader(w.body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("X-Vault-Token", w.token)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Sprintf("no answer within %s", requestTimeout)
		}
		return 0, err.Error()
	}
	// Read the whole body so the connection is reused, and keep a little of
	// it for the error message.
	b, rErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	lat := time.Since(t0)
	if resp.StatusCode != http.StatusNoContent {
		return 0, fmt.Sprintf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	if rErr != nil {
		return 0, "read response: " + rErr.Error()
	}
	return lat, ""
}

func (w *kvWriter) close() { w.tr.CloseIdleConnections() }

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
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
	// ServerCPUS is the server process's user+system CPU time over the
	// measured window; CPUPerWriteUS is that over Writes.
	ServerCPUS    float64 `json:"server_cpu_s"`
	CPUPerWriteUS float64 `json:"server_cpu_per_write_us"`
	// PostgresCPUPerWriteUS is, on the PostgreSQL engine, the CPU time of
	// the postmaster and its backends over the window per write (not part
	// of the server's figure).
	PostgresCPUPerWriteUS float64 `json:"postgres_cpu_per_write_us,omitempty"`
}

const (
	// headlineClients is the concurrency of the targets: 16 external
	// clients on FULL sync.
	headlineClients = 16
	// valueBytes is the size of every value written.
	valueBytes = 64

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
			_, _ = fmt.Fprintln(w, "sync\tclients\twrites/s\tp50 ms\tp99 ms\terrors\tx raw\tserver CPU s\tCPU/write us\t")
			for _, res := range r.KVWrite {
				_, _ = fmt.Fprintf(w, "%s\t%d\t%.0f\t%.2f\t%.2f\t%d\t%.2f\t%.2f\t%.1f\t\n",
					res.Sync, res.Clients, res.WritesPerS, res.P50MS, res.P99MS, res.Errors, res.RatioToRaw, res.ServerCPUS, res.CPUPerWriteUS)
			}
		},
	}
}

// addRatios divides every KV row by the raw rate of its sync mode. Rows
// without a raw rate (raw not run) keep ratio 0 rather than a misleading 0x.
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

// measureKVWrite starts a fresh dev server process on a fresh database and
// has clients goroutines of this process PUT secrets for o.duration. The
// server's CPU time over the window, divided by the writes acknowledged,
// is its CPU per write.
func measureKVWrite(ctx context.Context, o options, mode string, clients int) (res kvWriteResult, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-kv-")
	if err != nil {
		return res, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rmErr)
		}
	}()
	var env []string
	if o.serverProfile != "" && mode == "full" && clients == headlineClients {
		env = append(env, profileEnv+"="+o.serverProfile)
	}
	p, err := startServer(ctx, o, "server", filepath.Join(dir, "cluster.db"), mode, time.Second, env)
	if err != nil {
		return res, err
	}
	defer func() {
		if sErr := p.stop(); sErr != nil && err == nil {
			err = sErr
		}
	}()
	l, err := runLoad(ctx, o, loadSpec{
		apiAddr: p.apiAddr, token: replRootToken, prefix: "secret/bench/",
		clients: clients, duration: o.duration, pid: p.cmd.Process.Pid,
		label: fmt.Sprintf("sync %s, %d clients", mode, clients),
	})
	if err != nil {
		return res, err
	}
	res = kvWriteResult{Sync: mode, Clients: clients, Errors: l.errors}
	res.Writes = l.writes()
	res.WritesPerS = float64(res.Writes) / l.elapsed.Seconds()
	res.P50MS = ms(percentile(l.latencies, 50))
	res.P99MS = ms(percentile(l.latencies, 99))
	res.ServerCPUS = l.serverCPU.Seconds()
	if res.Writes > 0 {
		res.CPUPerWriteUS = us(l.serverCPU) / float64(res.Writes)
	}
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

// kvBody is the JSON body of every PUT: one field holding valueBytes bytes.
func kvBody() []byte { return []byte(`{"value":"` + strings.Repeat("x", valueBytes) + `"}`) }

// newKVWriter writes under apiAddr/v1/<prefix><client>/.
func newKVWriter(apiAddr, token, prefix string, client int) *kvWriter {
	tr := &http.Transport{
		Proxy:               nil, // loopback only; an HTTP_PROXY must not be in the path
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &kvWriter{
		client: &http.Client{Transport: tr},
		tr:     tr,
		prefix: apiAddr + "/v1/" + prefix + strconv.Itoa(client) + "/",
		token:  token,
		body:   kvBody(),
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

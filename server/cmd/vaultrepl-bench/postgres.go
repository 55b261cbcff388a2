package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// pgTargetRatio is issue 11's target: 16-client FULL KV writes on
// PostgreSQL at least twice its raw single-row commit rate.
const pgTargetRatio = 2

// pgTablePrefix is the table_prefix of every measured server.
const pgTablePrefix = "vaultrepl_bench"

// pgReport is the PostgreSQL engine beside SQLite: the raw single-row
// commit rate of the same PostgreSQL (its floor), measured right before and
// right after the KV runs, and KV writes at 1 and 16 clients against a
// vaultrepl-server process on that PostgreSQL, FULL durability
// (synchronous_commit on, fsync on).
type pgReport struct {
	// RawBefore and RawAfter are the raw rates measured immediately before
	// and after the KV runs; RawCommitsPerS is their mean, the divisor of
	// every ratio, so a neighbour's load that moves the machine during the
	// run shows as a gap between the two rather than a silent bias.
	RawBefore      rawPGResult     `json:"raw_before"`
	RawAfter       rawPGResult     `json:"raw_after"`
	RawCommitsPerS float64         `json:"raw_commits_per_s"`
	KVWrite        []kvWriteResult `json:"kv_write"`
	// Ratio is the 16-client KV write rate over the raw commit rate;
	// Target is issue 11's: 16-client FULL throughput >= 2x the raw rate.
	Ratio  float64 `json:"ratio_16_to_raw"`
	Target float64 `json:"target"`
	// Lag is DR replication lag between two server processes on this
	// PostgreSQL (a database each), measured as the replication section's
	// (a): at the maximum rate, then at half of it.
	Lag []replLagResult `json:"lag"`
}

// rawPGResult is one raw single-row commit measurement.
type rawPGResult struct {
	Commits  int     `json:"commits"`
	PerS     float64 `json:"commits_per_s"`
	Finished string  `json:"finished"` // RFC 3339 time it ended
}

// postgresSection starts a throwaway PostgreSQL (fsync on) for the run.
func postgresSection() section {
	return section{
		id:   "postgres",
		name: "PostgreSQL engine: raw single-row commits, KV writes (FULL) against a server process, DR replication lag",
		run: func(ctx context.Context, o options, r *report) (failures int, err error) {
			pg, err := testserver.StartPostgres()
			if err != nil {
				return 0, fmt.Errorf("start postgresql (make postgres installs it): %w", err)
			}
			defer func() {
				if sErr := pg.Stop(); sErr != nil && err == nil {
					err = sErr
				}
			}()
			rep, err := measurePostgres(ctx, o, pg)
			if rep != nil {
				r.Postgres = rep
				for _, res := range rep.KVWrite {
					failures += res.Errors
				}
				for _, l := range rep.Lag {
					failures += l.Errors + l.Unapplied
				}
			}
			return failures, err
		},
		table: func(w io.Writer, r *report) {
			p := r.Postgres
			if p == nil {
				return
			}
			_, _ = fmt.Fprintln(w, "what\tclients\tper s\tp50 ms\tp99 ms\terrors\tx raw\tserver CPU s\tCPU/write us\tpostgres CPU/write us\t")
			_, _ = fmt.Fprintf(w, "raw commit (before)\t1\t%.0f\t\t\t\t\t\t\t\t\n", p.RawBefore.PerS)
			for _, res := range p.KVWrite {
				_, _ = fmt.Fprintf(w, "kv write\t%d\t%.0f\t%.2f\t%.2f\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t\n",
					res.Clients, res.WritesPerS, res.P50MS, res.P99MS, res.Errors, res.RatioToRaw, res.ServerCPUS, res.CPUPerWriteUS, res.PostgresCPUPerWriteUS)
			}
			_, _ = fmt.Fprintf(w, "raw commit (after)\t1\t%.0f\t\t\t\t\t\t\t\t\n", p.RawAfter.PerS)
			_, _ = fmt.Fprintf(w, "raw commit (mean)\t1\t%.0f\t\t\t\t\t\t\t\t\n", p.RawCommitsPerS)
			_, _ = fmt.Fprintf(w, "headline\t%d\t%.2f x raw\t(target >= %.0f)\t\t\t\t\t\t\t\n", headlineClients, p.Ratio, p.Target)
			_, _ = fmt.Fprintln(w, "CPU/write: the vaultrepl-server process; postgres: the postmaster and every backend, same window")
			pgLagTable(w, p.Lag)
		},
	}
}

// measurePostgres runs raw, KV at each client count, raw again, and
// divides. It returns what it measured so far along with an error.
func measurePostgres(ctx context.Context, o options, pg *testserver.Postgres) (*pgReport, error) {
	rep := &pgReport{Target: pgTargetRatio, KVWrite: []kvWriteResult{}, Lag: []replLagResult{}}
	rawURL, err := pg.CreateDatabase(ctx, "raw")
	if err != nil {
		return nil, err
	}
	// Untimed warm-up: the first commits of a fresh cluster also create its
	// WAL segments and fill its caches, which the KV rows never pay.
	if _, err := measureRawPostgres(ctx, rawURL, "bench_warmup", o.duration/4); err != nil {
		return nil, fmt.Errorf("raw commits warm-up: %w", err)
	}
	if rep.RawBefore, err = measureRawPostgres(ctx, rawURL, "bench_before", o.duration); err != nil {
		return nil, fmt.Errorf("raw commits before: %w", err)
	}
	for i, clients := range clientCounts() {
		url, err := pg.CreateDatabase(ctx, "kv"+strconv.Itoa(i))
		if err != nil {
			return rep, err
		}
		res, err := measurePostgresKVWrite(ctx, o, clients, url, pg.Pid())
		if err != nil {
			return rep, fmt.Errorf("%d clients: %w", clients, err)
		}
		rep.KVWrite = append(rep.KVWrite, res)
	}
	if rep.RawAfter, err = measureRawPostgres(ctx, rawURL, "bench_after", o.duration); err != nil {
		return rep, fmt.Errorf("raw commits after: %w", err)
	}
	rep.RawCommitsPerS = (rep.RawBefore.PerS + rep.RawAfter.PerS) / 2
	for i := range rep.KVWrite {
		res := &rep.KVWrite[i]
		res.RatioToRaw = res.WritesPerS / rep.RawCommitsPerS
		if res.Clients == headlineClients {
			rep.Ratio = res.RatioToRaw
		}
	}
	// After the raw rate's second reading, so the pairs' load stays out
	// of the window the ratio divides by.
	rep.Lag, err = measurePostgresLag(ctx, o, pg)
	return rep, err
}

// pgLagTable prints the lag rows under the throughput table.
func pgLagTable(w io.Writer, lags []replLagResult) {
	_, _ = fmt.Fprintf(w, "\nDR replication lag on PostgreSQL: primary 204 -> applied on the secondary (1 secondary, %d clients, a database each)\n", replClients)
	_, _ = fmt.Fprintln(w, "load\toffered w/s\twrites/s\twrites\terrors\tlag samples\tlag p50 ms\tlag p99 ms\tlag max ms\tcatch-up ms\tunapplied\t")
	for _, l := range lags {
		offered := "max"
		if l.TargetWritesPerS > 0 {
			offered = fmt.Sprintf("%.0f", l.TargetWritesPerS)
		}
		_, _ = fmt.Fprintf(w, "%s\t%s\t%.0f\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t\n", l.Load, offered, l.WritesPerS, l.Writes, l.Errors, l.LagSamples, l.LagP50MS, l.LagP99MS, l.LagMaxMS, l.CatchUpMS, l.Unapplied)
	}
	_, _ = fmt.Fprintln(w, "  measured as the replication section's (a), the secondary's position read with pgx (read-only) every 200us")
}

// measureRawPostgres commits one single-row INSERT per transaction
// (autocommit, synchronous_commit on) into a new table on one connection
// for d.
func measureRawPostgres(ctx context.Context, url, table string, d time.Duration) (rawPGResult, error) {
	var res rawPGResult
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return res, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	ident := pgx.Identifier{table}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE TABLE `+ident+` (k TEXT PRIMARY KEY, v BYTEA)`); err != nil {
		return res, err
	}
	value := make([]byte, 100) // the size of the KV section's bodies
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	insert := `INSERT INTO ` + ident + `(k, v) VALUES($1, $2)`
	rows := 0
	start := time.Now()
	deadline := start.Add(d)
	// The deadline is checked between transactions: cancelling one
	// mid-commit would measure a rollback.
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if _, err := conn.Exec(ctx, insert, "k"+strconv.Itoa(rows), value); err != nil {
			return res, errors.Join(errors.New("insert"), err)
		}
		rows++
	}
	end := time.Now()
	return rawPGResult{Commits: rows, PerS: float64(rows) / end.Sub(start).Seconds(), Finished: end.UTC().Format(time.RFC3339Nano)}, nil
}

// measurePostgresKVWrite starts a vaultrepl-server process on the database
// at url (storage "postgresql" in an HCL config; -dev keeps to SQLite, so
// the bench initialises and unseals it; KV v1 is at secret/ from the start) and runs the
// kv_write section's load against it, with the server's CPU and
// PostgreSQL's (the postmaster and its children) from /proc.
func measurePostgresKVWrite(ctx context.Context, o options, clients int, url string, postmaster int) (res kvWriteResult, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-pg-")
	if err != nil {
		return res, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rmErr)
		}
	}()
	p, err := startPostgresServer(ctx, o, dir, url)
	if err != nil {
		return res, err
	}
	defer func() {
		if sErr := p.stop(); sErr != nil && err == nil {
			err = sErr
		}
	}()
	token, err := initUnsealMount(ctx, p, startLimit, false)
	if err != nil {
		return res, err
	}
	l, err := runLoad(ctx, o, loadSpec{
		apiAddr: p.apiAddr, token: token, prefix: "secret/bench/",
		clients: clients, duration: o.duration, pid: p.cmd.Process.Pid, tree: postmaster,
		label: fmt.Sprintf("postgresql, %d clients", clients),
	})
	if err != nil {
		return res, err
	}
	res = kvWriteResult{Sync: "full", Clients: clients, Errors: l.errors, Writes: l.writes()}
	res.WritesPerS = float64(res.Writes) / l.elapsed.Seconds()
	res.P50MS = ms(percentile(l.latencies, 50))
	res.P99MS = ms(percentile(l.latencies, 99))
	res.ServerCPUS = l.serverCPU.Seconds()
	res.CPUPerWriteUS = cpuPerWrite(l)
	if res.Writes > 0 {
		res.PostgresCPUPerWriteUS = us(l.treeCPU) / float64(res.Writes)
	}
	return res, nil
}

// startPostgresServer writes the storage "postgresql" config into dir and
// starts o.serverBin with it on two free loopback ports; it returns once
// the server answers sys/health (sealed, not yet initialised).
func startPostgresServer(ctx context.Context, o options, dir, url string) (*serverProc, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	hcl := fmt.Sprintf("storage \"postgresql\" {\n  connection_url = %q\n  table_prefix   = %q\n}\n", url, pgTablePrefix)
	cfg := filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	api := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p := &serverProc{name: "vaultrepl-server (postgresql)", apiAddr: "http://" + api, out: &lockedBuffer{}, done: make(chan struct{})}
	// Not CommandContext: an interrupt must still stop the server with
	// SIGTERM and a bounded wait (stop), not leave it to a SIGKILL.
	p.cmd = exec.Command(o.serverBin, "-config", cfg,
		"-listen-address", api,
		"-cluster-listen-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"-log-level", "warn", // problems only; per-request logs would cost throughput
		"-heartbeat-interval", time.Second.String())
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", p.name, o.serverBin, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	if err := waitHealthy(ctx, p.apiAddr, p.done); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%s: %w\n%s", p.name, err, tail(p.out.String(), 4000))
	}
	return p, nil
}
